//! Debugging end to end, in headless Chromium against the reference backend: debug mode
//! forwards the hub's log lines to a tab's console; the event log shows an emit and its ack
//! with the time to ack and one trace id, which the server's log line for that event names
//! too; the inspector reports the tabs, rooms and queue after a known sequence.

mod common;

use common::{exclusive, open_tabs, Browser, LogSink};
use serde_json::{json, Value};
use std::time::Duration;

fn capture_logs() -> LogSink {
    let sink = LogSink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("switchboard=debug,socketioxide=warn,engineioxide=warn"))
        .with_writer(move || writer.clone())
        .without_time()
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber per test binary");
    sink
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debug_log_traces_an_emit_to_the_servers_log_and_the_inspector_shows_the_hub() {
    let _one = exclusive().await;
    let logs = capture_logs();
    let srv = common::server().await;
    let b = Browser::launch().await;
    let start = "sb.start().then(() => sb.until(() => sb.client.status === 'connected', 10000, 'connected'))";
    let t = open_tabs(&b, &srv.url(), 2, start).await;
    b.js(&t[0], "sb.withDebug({ debug: true })").await;
    // The hub's own line about debug mode reached this tab's console.
    b.js(&t[0], "sb.until(() => sb.consoleLines.some(([, l]) => l.includes('debug mode on')), 10000, 'console line')")
        .await;
    b.js(&t[1], "sb.client.join('team:1')").await;
    b.js(&t[1], "sb.client.emit('record', { n: 1 })").await;
    assert_eq!(b.js(&t[1], "sb.client.emitWithAck('echo', 'x')").await, json!("x"));
    assert_eq!(srv.recorded_at_least(1, Duration::from_secs(10)).await, vec![json!({"n": 1})]);
    let until_delivered = "sb.until(() => sb.debugEntries.some((e) => e.event === 'record' && e.outcome === 'delivered'), 10000, 'the receipt')";
    b.js(&t[0], until_delivered).await;
    let log = b.js(&t[0], "sb.client.debugLog()").await;
    let entries = log.as_array().expect("entries");
    let find = |event: &str, outcome: &str| -> Value {
        entries
            .iter()
            .find(|e| e["event"] == event && e["outcome"] == outcome)
            .cloned()
            .unwrap_or_else(|| panic!("{event} {outcome} in {log}"))
    };
    let (sent, delivered) = (find("record", "sent"), find("record", "delivered"));
    assert_eq!(sent["dir"], "tab→server");
    assert_eq!(sent["trace"], delivered["trace"], "one trace id from emit to receipt");
    assert!(delivered["ackMs"].as_u64().is_some(), "time to the receipt: {delivered}");
    let (join, joined) = (find("sb:join", "sent"), find("sb:join", "joined"));
    assert_eq!((join["room"].clone(), join["trace"].clone()), (json!("team:1"), joined["trace"].clone()));
    let (echo, echoed) = (find("echo", "sent"), find("echo", "acked"));
    assert_eq!(echo["trace"], echoed["trace"]);
    assert!(echoed["ackMs"].as_u64().is_some());
    let trace = sent["trace"].as_str().expect("a traceparent").to_string();
    let server_log = logs.text();
    let line = server_log.lines().find(|l| l.contains("durable emit") && l.contains("record")).unwrap_or_default();
    assert!(line.contains(&trace), "the server's line for the event names trace {trace}:\n{line}");
    assert!(line.contains("traced{"), "handled in the trace's span:\n{line}");
    // The acked emit's trace was announced before it (`sb:trace`): the server's line names it.
    let echo_trace = echo["trace"].as_str().expect("the echo's trace");
    let line = server_log.lines().find(|l| l.contains("traced event") && l.contains("echo")).unwrap_or_default();
    assert!(line.contains(echo_trace), "the server's line for the echo names trace {echo_trace}:\n{server_log}");
    // The join's trace travelled with it (debug mode, a server that reads it).
    let join_trace = join["trace"].as_str().expect("the join's trace");
    let line = server_log.lines().find(|l| l.contains(": join") && l.contains("room=team:1")).unwrap_or_default();
    assert!(line.contains(join_trace), "the server's join line names trace {join_trace}:\n{line}");
    assert!(line.contains("traced{"), "in the trace's span:\n{line}");
    // A sign-in call in debug mode: its traceparent header is in the server's log line.
    b.js(&t[0], "sb.client.refresh().catch(() => null)").await;
    let until_answer = "sb.until(() => sb.debugEntries.some((e) => e.event.startsWith('auth/refresh (HTTP')), 10000, 'the refresh answer').then(() => sb.debugEntries.find((e) => e.event.startsWith('auth/refresh (HTTP')))";
    let refresh = b.js(&t[0], until_answer).await;
    let refresh_trace = refresh["trace"].as_str().expect("the refresh's trace").to_string();
    assert!(refresh["ackMs"].as_u64().is_some(), "{refresh}");
    let server_log = logs.text();
    let line =
        server_log.lines().find(|l| l.contains("auth request") && l.contains("/auth/refresh")).unwrap_or_default();
    assert!(line.contains(&refresh_trace), "the server's line for the refresh names trace {refresh_trace}:\n{line}");
    // The inspector after the sequence: two tabs, one in team:1, nothing queued.
    let view = b.js(&t[0], "sb.client.inspect()").await;
    let nsp = &view["namespaces"][0];
    let (id0, id1) = (b.js(&t[0], "sb.client.id").await, b.js(&t[1], "sb.client.id").await);
    let tabs = nsp["tabs"].as_array().expect("tabs");
    let mut ids: Vec<String> = tabs.iter().map(|x| x["id"].to_string()).collect();
    let mut expected = vec![id0.to_string(), id1.to_string()];
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected, "{view}");
    let in_team: Vec<&Value> = tabs.iter().filter(|x| x["rooms"] == json!(["team:1"])).map(|x| &x["id"]).collect();
    assert_eq!(in_team, vec![&id1], "{view}");
    assert_eq!(
        (nsp["queue"]["count"].clone(), nsp["inFlight"].clone(), nsp["contract"].clone()),
        (json!(0), json!(0), json!(true))
    );
    assert_eq!((view["status"].clone(), view["debug"]["on"].clone()), (json!("connected"), json!(true)));
    // Off: the log stops growing.
    b.js(&t[0], "sb.client.debug(false)").await;
    let before = b.js(&t[0], "sb.client.debugLog().then((l) => l.length)").await;
    assert_eq!(b.js(&t[1], "sb.client.emitWithAck('echo', 'y')").await, json!("y"));
    assert_eq!(b.js(&t[0], "sb.client.debugLog().then((l) => l.length)").await, before);
    b.shutdown().await;
    srv.stop().await;
}
