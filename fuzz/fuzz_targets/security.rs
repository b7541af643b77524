//! The security messages with fuzzed payloads: the server's `SECURITY_*`, token and limit
//! events, `sb:hello` with fuzzed limits, a tab's `sb:security` and `sb:debug` requests with
//! fuzzed args,
//! and fuzzed HTTP answers (status and body) to the calls the hub makes for them, in any
//! order, against a hub that speaks the contract. Nothing may panic, whatever arrives.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchboard_shared::hub::Output;
use switchboard_shared::port::{self, AckRequest, ToHub};

mod common;

const EVENTS: [&str; 10] = [
    "SECURITY_SESSION_REVOKED",
    "SECURITY_SUSPICIOUS_ACTIVITY",
    "SECURITY_CREDENTIAL_CHANGED",
    "SECURITY_DEVICE_VERIFICATION_REQUIRED",
    "SECURITY_DEVICE_VERIFIED",
    "TOKEN_INVALIDATED",
    "TOKEN_EXPIRING",
    "TOKEN_UPDATED",
    "sb:limit",
    "sb:hello",
];

fuzz_target!(|data: &[u8]| {
    let extra = [ToHub::Subscribe { event: "sb:security".into() }];
    let mut sb = common::connected_hub(11, &extra, r#"{"v":1,"limits":{"size":1000,"rate":5,"burst":2}}"#);
    let mut calls: Vec<(u32, u32)> = Vec::new();
    let mut now = 0u64;
    for chunk in data.split(|b| *b == 0xff) {
        let Some((&kind, rest)) = chunk.split_first() else { continue };
        now += 50;
        let text = String::from_utf8_lossy(rest);
        match kind % 4 {
            0 | 1 => {
                let frame = format!(r#"42["{}",{text}]"#, EVENTS[kind as usize % EVENTS.len()]);
                sb.handle_socket_text(1, 1, &frame, now);
            }
            2 => {
                let emit = ToHub::Emit {
                    seq: kind as u32,
                    event: match kind & 48 {
                        0 => "sb:security".into(),
                        16 => "sb:debug".into(),
                        _ => "app".into(),
                    },
                    args: text.into_owned(),
                    bins: Vec::new(),
                    ack: (kind & 32 == 0).then_some(AckRequest { id: kind as u32, timeout_ms: 0 }),
                    volatile: kind & 64 != 0,
                };
                sb.handle_port_message(1, &port::encode(&emit), now);
            }
            // An answer to one of the calls made so far (or to none), fuzzed.
            _ => {
                let status = u16::from_le_bytes([rest.first().copied().unwrap_or(0), kind & 3]);
                let body = String::from_utf8_lossy(rest.get(1..).unwrap_or_default());
                let (hub, id) = match calls.is_empty() {
                    true => (1, kind as u32),
                    false => calls.swap_remove(kind as usize % calls.len()),
                };
                sb.handle_http(hub, id, status, &body, now);
            }
        }
        sb.handle_timeout(now);
        while let Some(o) = sb.poll_output() {
            if let Output::Http { hub, id, .. } = o {
                calls.push((hub, id));
            }
        }
    }
});
