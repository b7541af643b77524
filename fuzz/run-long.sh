#!/bin/sh
# Runs every fuzz target to RUNS executions (default 10 million) and prints how many each
# made: the long runs the notes report. Not part of the test command (it takes a while).
# Needs cargo-fuzz (`cargo install cargo-fuzz`); libFuzzer needs nightly features, which
# RUSTC_BOOTSTRAP enables on the stable toolchain. Built without a sanitizer (`-s none`):
# the code is safe Rust and what a run looks for is a panic; AddressSanitizer only slows it.
set -eu
cd "$(dirname "$0")"
RUNS="${RUNS:-10000000}"
for target in ${TARGETS:-frames port hub coordination security limits}; do
    mkdir -p "corpus/$target"
    seeds=""
    [ -d "seeds/$target" ] && seeds="seeds/$target"
    RUSTC_BOOTSTRAP=1 cargo fuzz run -s none "$target" "corpus/$target" $seeds -- -runs="$RUNS" -print_final_stats=1 2>&1 \
        | grep -E "stat::number_of_executed_units|Done [0-9]+ runs|ERROR|panicked" | sed "s/^/$target: /"
done
