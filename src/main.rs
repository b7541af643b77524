//! `switchboard [serve] [--port N] [--bind ADDR] [--ping-interval MS] [--ping-timeout MS]
//! [--allow-origin ORIGIN]...` runs the dev server; `switchboard bundle DIR` writes the bundle.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use switchboard::server::{Config, Server};

const USAGE: &str = "usage:
  switchboard [serve] [--port N] [--bind ADDR] [--ping-interval MS] [--ping-timeout MS] [--allow-origin ORIGIN]...
              [--users FILE] [--access-ttl SECONDS] [--refresh-ttl SECONDS] [--require-auth] [--data-dir DIR]
  switchboard bundle DIR
  switchboard bench [--tabs 1,5,20]
                             (Switchboard vs socket.io-client in headless Chromium; writes BENCHMARKS.md,
                              or only prints the table when --tabs is not the full set)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bundle") => bundle(&args[1..]),
        Some("bench") => tokio::runtime::Runtime::new()
            .map_err(|e| format!("cannot start the runtime: {e}"))
            .and_then(|rt| rt.block_on(switchboard::bench::run(&switchboard::bench::root(), &bench_tabs(&args[1..])?))),
        Some("serve") => serve(&args[1..]),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => serve(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn bench_tabs(args: &[String]) -> Result<Vec<usize>, String> {
    match args {
        [] => Ok(vec![1, 5, 20]),
        [flag, list] if flag == "--tabs" => {
            list.split(',').map(|n| n.parse().map_err(|_| format!("--tabs: bad number {n:?}"))).collect()
        }
        _ => Err(format!("bench: unexpected arguments {args:?}")),
    }
}

fn bundle(args: &[String]) -> Result<(), String> {
    let [dir] = args else {
        return Err("bundle takes one directory".into());
    };
    let sizes = switchboard::write_bundle(&PathBuf::from(dir)).map_err(|e| format!("cannot write {dir}: {e}"))?;
    for (name, raw, gz) in sizes {
        println!("{name:32} {raw:>8} B  {gz:>7} B gzip");
    }
    Ok(())
}

fn serve(args: &[String]) -> Result<(), String> {
    let mut config = Config::default();
    let mut port = 8080u16;
    let mut ip: IpAddr = [127, 0, 0, 1].into();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--bind" => ip = value()?.parse().map_err(|e| format!("--bind: {e}"))?,
            "--ping-interval" => {
                config.ping_interval =
                    Duration::from_millis(value()?.parse().map_err(|e| format!("--ping-interval: {e}"))?)
            }
            "--ping-timeout" => {
                config.ping_timeout =
                    Duration::from_millis(value()?.parse().map_err(|e| format!("--ping-timeout: {e}"))?)
            }
            "--allow-origin" => config.allowed_origins.push(value()?.clone()),
            "--users" => {
                let file = value()?;
                config.users = std::fs::read_to_string(file).map_err(|e| format!("--users {file}: {e}"))?;
            }
            "--access-ttl" => {
                config.access_ttl = Duration::from_secs(value()?.parse().map_err(|e| format!("--access-ttl: {e}"))?)
            }
            "--refresh-ttl" => {
                config.refresh_ttl = Duration::from_secs(value()?.parse().map_err(|e| format!("--refresh-ttl: {e}"))?)
            }
            "--require-auth" => config.require_auth = true,
            "--data-dir" => config.data_dir = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    config.bind = SocketAddr::new(ip, port);
    let config_users_empty = config.users.trim().is_empty();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,socketioxide=warn,engineioxide=warn".into()),
        )
        .init();
    let rt = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async {
        let server = Server::start(config).await.map_err(|e| format!("cannot listen: {e}"))?;
        println!("Switchboard dev server on {} (demo page: {}/)", server.url(), server.url());
        if config_users_empty {
            println!("demo users: alice / alice-password, bob / bob-password");
        } else {
            println!("users from --users: {}", server.auth.user_names().join(", "));
        }
        let _ = tokio::signal::ctrl_c().await;
        server.stop().await;
        Ok(())
    })
}
