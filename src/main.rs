//! The `switchboard` command: the dev server (default), the bundle writer and the benchmark.

use clap::{Args, Parser, Subcommand};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use switchboard::server::{Config, Server};

/// Switchboard dev server: the reference Socket.IO backend, the demo page and the bundle.
#[derive(Parser)]
#[command(version, propagate_version = true, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: serve.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the dev server (reference backend + demo page) until Ctrl-C.
    Serve(Box<ServeArgs>),
    /// Writes the deployable browser bundle into DIR.
    Bundle {
        /// Where to write the files.
        dir: PathBuf,
    },
    /// Reads a password from standard input (one line; never an argument, which other users
    /// could see) and prints its argon2id hash, as a `--users` line with --user.
    HashPassword {
        /// Print `NAME:hash`, a line for the --users file.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
    },
    /// Switchboard vs socket.io-client in headless Chromium; writes BENCHMARKS.md and
    /// benchmarks.json (only prints the table when --tabs is not the full set).
    Bench {
        /// Tab counts to measure, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,5,20")]
        tabs: Vec<usize>,
        /// Switchboard's modes to measure, comma-separated: `shared-worker` (the report's
        /// rows), `leader-tab` (SharedWorker removed, as in browsers without it).
        #[arg(long, value_delimiter = ',', default_value = "shared-worker", value_parser = ["shared-worker", "leader-tab"])]
        mode: Vec<String>,
        /// The network profile's one-way delay in ms (a delay proxy in front of the server);
        /// its rows follow the loopback ones. 0: loopback only.
        #[arg(long, default_value_t = 25, value_name = "MS")]
        latency: u64,
        /// Runs of each configuration, the clients taking turns; the report shows the median
        /// and the spread (the reports are rewritten only with 5 or more).
        #[arg(long, default_value_t = 5, value_name = "N")]
        runs: usize,
        /// Instead: the soak run — 20 tabs receiving 1,000 events/s for this many seconds (no
        /// loss; hub and page heap at the start and the end).
        #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "60")]
        soak: Option<u64>,
        /// Instead: the cold start — the first tab of N fresh browsers per client, connect()
        /// to connected (median and slowest), at loopback and with `--latency`.
        #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "20")]
        cold: Option<usize>,
        /// With --cold: also a page that starts its client as it loads, without and with its
        /// HTML giving the browser that client's preload hints, timed from the navigation.
        #[arg(long)]
        hints: bool,
        /// Instead: N reference-backend nodes on one Redis (`redis-server`), tabs spread over
        /// them; prints fan-out latency, throughput and Redis commands per broadcast.
        #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "3")]
        nodes: Option<usize>,
        /// Instead: the server (this binary, `serve`) under N clients sending wrong passwords
        /// and 264 short `/admin` connects, while real users sign in; prints the server's RSS,
        /// the real sign-ins' times and what the flood was answered.
        #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "64")]
        flood: Option<usize>,
    },
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// TCP port.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Engine.IO ping interval in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 25_000)]
    ping_interval: u64,
    /// Engine.IO ping timeout in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 20_000)]
    ping_timeout: u64,
    /// Another origin allowed to open a socket and sign in (repeatable; the server's own origin
    /// is always allowed).
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
    /// A file of `name:argon2-hash` lines (make them with `switchboard hash-password`; plain
    /// passwords are refused). Default: the demo users alice and bob.
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,
    /// Access token lifetime in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    access_ttl: u64,
    /// Refresh token lifetime in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 7 * 24 * 3600)]
    refresh_ttl: u64,
    /// Refuse sockets without a valid access token.
    #[arg(long)]
    require_auth: bool,
    /// Where the server keeps what a restart must not lose (DIR/state.sqlite3 and the dedup
    /// window): accounts and sessions, shared state, the replay log of numbered events, the
    /// ids of delivered emits. Default: memory only, and a restart forgets all of it,
    /// sessions included.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Numbered events (`sb:seq`) kept for hubs that come back (`sb:resume`).
    #[arg(long, value_name = "EVENTS", default_value_t = switchboard::server::replay::KEEP)]
    replay_keep: usize,
    /// How long numbered events are kept for replay, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = switchboard::server::replay::KEEP_FOR.as_secs())]
    replay_age: u64,
    /// A leader's lease in ms: unrenewed (a frozen or sleeping device), another tab leads.
    #[arg(long, value_name = "MS", default_value_t = switchboard_shared::contract::LEASE_MS)]
    leader_lease: u64,
    /// How long a tab must outrank the leader before it takes over, in ms.
    #[arg(long, value_name = "MS", default_value_t = switchboard_shared::hub::election::HYSTERESIS_MS)]
    leader_hysteresis: u64,
    /// A sign-in from a device the user has not verified gets a limited session until the
    /// 6-digit code printed here (the reference backend's "mail") is confirmed.
    #[arg(long)]
    verify_new_devices: bool,
    /// Largest message a socket may send, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = switchboard_shared::contract::MAX_MESSAGE)]
    max_message: usize,
    /// Messages per second a socket may send (sustained).
    #[arg(long, value_name = "N", default_value_t = switchboard_shared::contract::RATE)]
    rate: u32,
    /// Messages a socket may send at once above the rate.
    #[arg(long, value_name = "N", default_value_t = switchboard_shared::contract::BURST)]
    burst: u32,
    /// Serve the Socket.IO Admin UI's `/admin` namespace to this user (the password is kept
    /// only as a hash). The UI itself is at /admin-ui/ when npm's @socket.io/admin-ui is in tools/.
    #[arg(long, value_name = "USER:PASSWORD")]
    admin: Option<String>,
    /// The admin may look but not act (no emit, join, leave or disconnect).
    #[arg(long)]
    admin_readonly: bool,
    /// `development` lists sockets, rooms and events; `production` only aggregated stats.
    #[arg(long, value_name = "MODE", default_value = "development", value_parser = ["development", "production"])]
    admin_mode: String,
    /// Run as one of several nodes: the Socket.IO adapter over this Redis 7 (RESP3), so
    /// broadcasts, rooms and acks reach the sockets of every node (README, "Several nodes").
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// This node's name, different on every node (the shared state's version vectors count
    /// writes per node). Default: `n1`, or `n<port>` with --redis.
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// With --redis: how long (ms) a node's claim on a durable emit holds while it handles it;
    /// if the node dies meanwhile, another node delivers the emit after this.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    dedup_lease: u64,
    /// Most connections open at once (more are closed at accept).
    #[arg(long, value_name = "N", default_value_t = switchboard::server::MAX_CONNECTIONS)]
    max_connections: usize,
    /// Most connections open at once from one address.
    #[arg(long, value_name = "N", default_value_t = switchboard::server::PER_ADDRESS)]
    max_connections_per_address: usize,
    /// A request's headers must arrive within this many seconds (slow clients are closed;
    /// so is a keep-alive connection idle this long between requests).
    #[arg(long, value_name = "SECONDS", default_value_t = switchboard::server::HEADER_TIMEOUT.as_secs())]
    header_timeout: u64,
    /// A connection that moves no byte for this many seconds is closed (never less than the
    /// ping interval plus the ping timeout).
    #[arg(long, value_name = "SECONDS", default_value_t = switchboard::server::IDLE_TIMEOUT.as_secs())]
    idle_timeout: u64,
    /// Password hashes (argon2, ~19 MiB each) running at once: sign-ins, password changes,
    /// admin checks.
    #[arg(long, value_name = "N", default_value_t = switchboard::auth::gate::PERMITS)]
    max_hashes: usize,
    /// Checks waiting for a hash; more are answered 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = switchboard::auth::gate::QUEUE)]
    hash_queue: usize,
    /// Failed sign-ins, verification codes or admin checks in a row per address, account or
    /// device before each further one waits twice as long (429 with Retry-After).
    #[arg(long, value_name = "N", default_value_t = switchboard::server::ATTEMPTS)]
    attempts: u32,
    /// Most rooms one socket may be in (`sb:join` beyond it is refused).
    #[arg(long, value_name = "N", default_value_t = switchboard_shared::contract::MAX_ROOMS)]
    max_rooms: usize,
    /// The demo application's test hooks: `record` (kept in memory, capped) and `announce`
    /// without signing in. For tests only.
    #[arg(long)]
    test_hooks: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Bundle { dir }) => bundle(&dir),
        Some(Command::Bench { tabs, mode, latency, runs, soak, cold, hints, nodes, flood }) => {
            tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}")).and_then(|rt| {
                match (soak, cold, nodes) {
                    _ if flood.is_some() => rt.block_on(switchboard::bench_flood::run(flood.unwrap_or(64), 8)),
                    (Some(secs), _, _) => rt.block_on(switchboard::bench::soak(&switchboard::bench::root(), secs)),
                    (None, Some(n), _) => rt.block_on(switchboard::bench::cold(n, latency, hints)),
                    (None, None, Some(n)) => {
                        rt.block_on(switchboard::bench_nodes::run(&switchboard::bench::root(), n, &tabs))
                    }
                    (None, None, None) => rt.block_on(switchboard::bench::run(
                        &switchboard::bench::root(),
                        &tabs,
                        &mode,
                        latency,
                        runs.max(1),
                    )),
                }
            })
        }
        Some(Command::Serve(args)) => serve(*args),
        Some(Command::HashPassword { user }) => hash_password(user.as_deref()),
        None => serve(cli.serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bundle(dir: &std::path::Path) -> Result<(), String> {
    let sizes = switchboard::write_bundle(dir).map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
    for (name, raw, gz) in sizes {
        println!("{name:32} {raw:>8} B  {gz:>7} B gzip");
    }
    Ok(())
}

fn hash_password(user: Option<&str>) -> Result<(), String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read the password: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err("no password on standard input".into());
    }
    let hash = switchboard::auth::hash_password(password)?;
    match user {
        Some(name) => println!("{name}:{hash}"),
        None => println!("{hash}"),
    }
    Ok(())
}

fn config(args: ServeArgs) -> Result<Config, String> {
    let users = match &args.users {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| format!("--users {}: {e}", file.display()))?;
            switchboard::auth::parse_users(&text).map_err(|e| format!("--users {}: {e}", file.display()))?;
            text
        }
        None => String::new(),
    };
    let admin = args
        .admin
        .as_deref()
        .map(|spec| {
            switchboard::server::AdminConfig::parse(spec, args.admin_readonly, args.admin_mode == "development")
        })
        .transpose()?;
    Ok(Config {
        bind: SocketAddr::new(args.bind, args.port),
        ping_interval: Duration::from_millis(args.ping_interval),
        ping_timeout: Duration::from_millis(args.ping_timeout),
        allowed_origins: args.allow_origin,
        data_dir: args.data_dir,
        replay: switchboard::server::replay::Bounds {
            keep: args.replay_keep.max(1),
            keep_for: Duration::from_secs(args.replay_age.max(1)),
        },
        users,
        access_ttl: Duration::from_secs(args.access_ttl),
        refresh_ttl: Duration::from_secs(args.refresh_ttl),
        require_auth: args.require_auth,
        leader_lease: Duration::from_millis(args.leader_lease.max(1_000)),
        leader_hysteresis: Duration::from_millis(args.leader_hysteresis),
        verify_new_devices: args.verify_new_devices,
        max_message: args.max_message.max(1024),
        rate: args.rate.max(1),
        burst: args.burst.max(1),
        admin_ui: admin.as_ref().map(|_| switchboard::admin_ui_dir()).filter(|d| d.is_dir()),
        admin,
        node: args.node.unwrap_or_else(|| if args.redis.is_some() { format!("n{}", args.port) } else { "n1".into() }),
        redis: args.redis,
        dedup_lease: Duration::from_millis(args.dedup_lease),
        transport: switchboard::server::TransportLimits {
            max_connections: args.max_connections.max(1),
            per_address: args.max_connections_per_address.max(1),
            header_timeout: Duration::from_secs(args.header_timeout.max(1)),
            idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        },
        max_hashes: args.max_hashes.max(1),
        hash_queue: args.hash_queue,
        attempts: args.attempts.max(1),
        max_rooms: args.max_rooms.max(1),
        test_hooks: args.test_hooks,
        ..Config::default()
    })
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let config = config(args)?;
    let demo_users = config.users.trim().is_empty();
    let data = match &config.data_dir {
        Some(dir) => format!(
            "data in {}: a restart keeps accounts, sessions, shared state and the replay log",
            dir.join("state.sqlite3").display()
        ),
        None => "data in memory only: a restart forgets accounts, sessions (tabs are signed out), shared state and the replay log (--data-dir DIR keeps them)".into(),
    };
    let admin_ui = config.admin_ui.is_some();
    // Colours only on a terminal: a log written to a file or a pipe gets plain text.
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,socketioxide=warn,engineioxide=warn".into()),
        )
        .init();
    let rt = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async {
        let server = Server::start(config).await.map_err(|e| format!("cannot listen: {e}"))?;
        println!("Switchboard dev server on {} (demo page: {}/)", server.url(), server.url());
        println!("{data}");
        if demo_users {
            println!("demo users: alice / alice-password, bob / bob-password");
        } else {
            println!("users from --users: {}", server.auth.user_names().await.join(", "));
        }
        if admin_ui {
            println!("Socket.IO Admin UI: {}/admin-ui/ (server URL {}, WebSocket only)", server.url(), server.url());
        }
        let _ = tokio::signal::ctrl_c().await;
        server.stop().await;
        Ok(())
    })
}
