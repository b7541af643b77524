//! The npm package in real bundler apps (tests/apps/, installed by scripts/setup from their
//! lockfiles): packed as `npm publish` would, installed from the tarball, built.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn apps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps")
}

/// Runs `program args` in `dir` with `env`; its output (stdout and stderr), or a panic with it.
pub fn run(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e} (scripts/setup installs Node.js)"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{program} {args:?} in {} failed:\n{text}", dir.display());
    text
}

/// The package, packed as `npm publish` would: the tarball's path.
pub fn pack(tmp: &Path) -> PathBuf {
    let pkg = tmp.join("package");
    switchboard::write_bundle(&pkg).expect("the bundle");
    let name = run(tmp, "npm", &["pack", pkg.to_str().expect("UTF-8"), "--loglevel=error"], &[]);
    tmp.join(name.trim().lines().last().expect("npm pack names the tarball"))
}

/// Packs the package and installs the tarball into `tests/apps/{app}` (not saved): its folder.
pub fn install(app: &str, tmp: &Path) -> PathBuf {
    let tarball = pack(tmp);
    let dir = apps().join(app);
    assert!(dir.join("node_modules").is_dir(), "{app}: run scripts/setup (npm ci in tests/apps/{app})");
    let tarball = tarball.to_str().expect("UTF-8");
    let args = ["install", "--no-save", "--offline", "--no-audit", "--no-fund", "--loglevel=error", tarball];
    run(&dir, "npm", &args, &[]);
    dir
}
