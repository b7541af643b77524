//! Several reference-backend nodes in the test's process on one real Redis: their
//! configuration, a cluster of two nodes and one alone, and the frames the tests read.

use super::redis::Redis;
use super::sio::RawSocket;
use serde_json::{json, Value};
use switchboard::server::{Config, Server};

/// The demo application's record in Redis (`sb:app:recorded`, JSON values).
pub const RECORDED: &str = "sb:app:recorded";

pub fn node(name: &str, redis: Option<&Redis>) -> Config {
    Config { node: name.into(), redis: redis.map(Redis::url), ..super::config() }
}

/// Nodes `a` and `b` on one Redis, and a node `alone` without it.
pub struct Cluster {
    pub redis: Redis,
    pub a: Server,
    pub b: Server,
    pub alone: Server,
}

impl Cluster {
    pub async fn start() -> Cluster {
        let redis = Redis::start().await;
        let a = super::server_with(node("a", Some(&redis))).await;
        let b = super::server_with(node("b", Some(&redis))).await;
        let alone = super::server_with(node("alone", None)).await;
        Cluster { redis, a, b, alone }
    }
}

/// The body of an HTTP answer, as JSON.
pub fn body(res: &str) -> Value {
    res.split("\r\n\r\n").nth(1).and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default()
}

pub fn report(scope: &str, term: u64, tabs: &[(&str, u8)]) -> String {
    let tabs: Vec<_> = tabs.iter().map(|(t, l)| json!({"tab": t, "level": l})).collect();
    format!("42{}", json!(["sb:priority", {"scope": scope, "term": term, "tabs": tabs}]))
}

pub fn lead(tab: &str, term: u64, arg: &str) -> String {
    json!(["sb:lead", {"scope": "user", "tab": tab, "term": term}, "record", arg]).to_string()
}

/// The next `sb:members` list of `room` this socket hears.
pub async fn members(s: &mut RawSocket, room: &str) -> Value {
    let prefix = format!(r#"42["sb:room","{room}","sb:members""#);
    let frame = s.until(|f| f.starts_with(&prefix)).await;
    let args: Vec<Value> = serde_json::from_str(&frame[2..]).expect("an event array");
    args[3]["members"].clone()
}
