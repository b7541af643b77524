//! `GET /metrics`: the counters of `/debug/metrics` (connections, bytes, emits, refusals,
//! limits, sign-in telemetry) in the Prometheus / OpenMetrics text format (the
//! `prometheus-client` crate), behind HTTP Basic auth with the admin credentials when
//! `--admin` is set.
//! Invariant: a scrape reads the counters; it changes nothing.

use super::admin::Denied;
use super::serve::Peer;
use super::State;
use axum::extract::State as AxState;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Values that go up and down (the rest are counters).
const GAUGES: [&str; 1] = ["sockets_connected"];

/// The registry for one scrape, from a `/debug/metrics` snapshot (nested objects prefix their
/// names: `auth.refreshes` → `switchboard_auth_refreshes_total`).
pub fn registry(snapshot: &Value) -> Registry {
    let mut registry = Registry::with_prefix("switchboard");
    add(&mut registry, "", snapshot);
    registry
}

fn add(registry: &mut Registry, prefix: &str, v: &Value) {
    let Some(map) = v.as_object() else { return };
    for (name, value) in map {
        let full = format!("{prefix}{name}");
        match value {
            Value::Object(_) => add(registry, &format!("{full}_"), value),
            Value::Number(n) if GAUGES.contains(&full.as_str()) => {
                registry.register(full.clone(), full.replace('_', " "), ConstGauge::new(n.as_i64().unwrap_or(0)));
            }
            Value::Number(n) => {
                // The encoder adds `_total` to counters (and refuses a name that has it).
                let name = full.strip_suffix("_total").unwrap_or(&full).to_string();
                registry.register(name.clone(), name.replace('_', " "), ConstCounter::new(n.as_u64().unwrap_or(0)));
            }
            _ => {}
        }
    }
}

/// `user:password` from an `Authorization: Basic` header.
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let b64 = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?.trim();
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = b64.bytes().filter(|c| *c != b'=').map(val).collect::<Option<_>>()?;
    let mut bytes = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, d)| n | (*d as u32) << (18 - 6 * i));
        bytes.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The admin credentials of an `Authorization: Basic` header, when `--admin` is set (without
/// it the metrics are open, as on the dev server): the answer to send instead, if any.
pub async fn guard(state: &State, peer: Peer, headers: &HeaderMap) -> Option<Response> {
    let admin = state.admin.clone()?;
    let (user, password) = basic(headers).unwrap_or_default();
    let denied = admin.verify(state, peer, &user, &password).await.err()?;
    Some(match denied {
        Denied::Wait(wait) => super::throttle::too_many(wait),
        Denied::Busy => super::throttle::busy(),
        Denied::Wrong => {
            let mut res = (StatusCode::UNAUTHORIZED, "admin credentials required\n").into_response();
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"switchboard\""));
            res
        }
    })
}

/// Every counter, as `/debug/metrics` shows them.
pub fn snapshot(state: &State) -> Value {
    let mut m = state.stats.snapshot();
    m["auth"] = state.auth.telemetry_json();
    m["auth"]["hashes"] = state.auth.gate.hashes.load(Ordering::Relaxed).into();
    m["auth"]["hashes_busy"] = state.auth.gate.busy.load(Ordering::Relaxed).into();
    m
}

/// `GET /debug/metrics`: the counters as JSON, behind the same credentials as `/metrics`.
pub async fn debug(AxState(state): AxState<Arc<State>>, peer: Peer, headers: HeaderMap) -> Response {
    if let Some(refused) = guard(&state, peer, &headers).await {
        return refused;
    }
    Json(snapshot(&state)).into_response()
}

pub async fn prometheus(AxState(state): AxState<Arc<State>>, peer: Peer, headers: HeaderMap) -> Response {
    if let Some(refused) = guard(&state, peer, &headers).await {
        return refused;
    }
    let snapshot = snapshot(&state);
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &registry(&snapshot)).is_err() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the metrics\n").into_response();
    }
    let mut res = text.into_response();
    let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counters_and_gauges_in_the_text_format() {
        let mut text = String::new();
        let snapshot =
            json!({"sockets_connected": 3, "emits_received": 7, "sockets_total": 9, "auth": {"refreshes": 2}});
        prometheus_client::encoding::text::encode(&mut text, &registry(&snapshot)).expect("encoded");
        assert!(text.contains("# TYPE switchboard_sockets_connected gauge\nswitchboard_sockets_connected 3"), "{text}");
        assert!(text.contains("switchboard_emits_received_total 7"), "{text}");
        assert!(text.contains("switchboard_auth_refreshes_total 2"), "{text}");
        assert!(text.contains("switchboard_sockets_total 9"), "a name ending in _total: {text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn basic_credentials_are_read() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic YWRtaW46YWRtaW4tcGFzc3dvcmQtMQ=="));
        assert_eq!(basic(&h), Some(("admin".into(), "admin-password-1".into())));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic(&h), None);
    }
}
