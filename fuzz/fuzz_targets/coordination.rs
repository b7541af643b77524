//! The coordination and security messages (leader election, presence, assigned rooms,
//! shared state, security events) with fuzzed payloads, against a hub that speaks the
//! contract, and the server's election rule (`Arbiter`) with fuzzed reports and claims:
//! neither may panic, whatever arrives.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchboard_shared::arbiter::Arbiter;
use switchboard_shared::contract::{Candidate, LeaderClaim, PriorityReport};
use switchboard_shared::port::{self, ToHub};

mod common;

const EVENTS: [&str; 10] = [
    "LEADER_ELECTED",
    "LEADER_HEARTBEAT",
    "ELECTION_REQUEST",
    "STATE_UPDATE",
    "sb:rooms",
    "SECURITY_SESSION_REVOKED",
    "SECURITY_SUSPICIOUS_ACTIVITY",
    "SECURITY_CREDENTIAL_CHANGED",
    "TOKEN_INVALIDATED",
    "sb:hello",
];

fuzz_target!(|data: &[u8]| {
    let extra = [ToHub::Priority { level: 3, scope: 0, term: 0 }, ToHub::Subscribe { event: "sb:state".into() }];
    let mut sb = common::connected_hub(7, &extra, r#"{"v":1}"#);
    let mut arbiter = Arbiter::<u8>::new("user", 9_000);
    let mut now = 0u64;
    for chunk in data.split(|b| *b == 0xff) {
        let Some((&kind, rest)) = chunk.split_first() else { continue };
        now += 100;
        let text = String::from_utf8_lossy(rest);
        match kind % 4 {
            // A contract event with a fuzzed payload, or a room/members envelope.
            0 | 1 => {
                let frame = match kind % 8 {
                    7 => format!(r#"42["sb:room","r","sb:members",{text}]"#),
                    _ => format!(r#"42["{}",{text}]"#, EVENTS[kind as usize % EVENTS.len()]),
                };
                sb.handle_socket_text(1, 1, &frame, now);
            }
            // A tab's leader command, state write or priority with fuzzed args.
            2 => {
                let event = if kind & 16 == 0 { "sb:lead" } else { "sb:set" };
                let emit = ToHub::Emit {
                    seq: kind as u32,
                    event: event.into(),
                    args: text.into_owned(),
                    bins: Vec::new(),
                    ack: Some(port::AckRequest { id: kind as u32, timeout_ms: 0 }),
                    volatile: false,
                };
                sb.handle_port_message(1, &port::encode(&emit), now);
                let level = rest.first().copied().unwrap_or(0);
                sb.handle_port_message(1, &port::encode(&ToHub::Priority { level, scope: kind & 1, term: rest.len() as u64 }), now);
            }
            // The server's rule with fuzzed reports, claims and time.
            _ => {
                let tabs = rest.chunks(3).map(|c| Candidate { tab: format!("t{}", c[0] % 8), level: c.get(1).copied().unwrap_or(0) % 4 }).collect();
                let term = rest.iter().map(|b| *b as u64).sum::<u64>() << (kind % 40);
                let report = PriorityReport { scope: if kind & 32 == 0 { "user".into() } else { "nope".into() }, term, tabs };
                let sock = rest.first().copied().unwrap_or(0) % 3;
                let _ = arbiter.report(sock, &report, now);
                let claim = LeaderClaim { scope: "user".into(), tab: format!("t{}", kind % 8), term: term % 7 };
                let _ = arbiter.renew(sock, &claim, now);
                let _ = arbiter.lead(&sock, &claim);
                if kind & 64 != 0 {
                    let _ = arbiter.resign(sock, &claim, now);
                    let _ = arbiter.leave(&sock, now);
                }
                let _ = arbiter.handle_timeout(now + rest.len() as u64 * 1000);
            }
        }
        sb.handle_timeout(now);
        while sb.poll_output().is_some() {}
    }
});
