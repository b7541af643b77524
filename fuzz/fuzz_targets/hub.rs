//! The whole hub on an arbitrary mix of page messages, server frames, storage records and
//! time: it must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchboard_shared::hub::{HubConfig, Switchboard};
use switchboard_shared::port::{self, Endpoint, Options, ToHub, PROTOCOL_VERSION};

fuzz_target!(|data: &[u8]| {
    let mut sb = Switchboard::new(HubConfig::default(), 7);
    let endpoint = Endpoint { url: "http://h:1".into(), path: "/socket.io".into(), namespace: "/".into(), query: String::new() };
    let hello = ToHub::Hello { version: PROTOCOL_VERSION, tab: "t".into(), endpoint, auth: None, options: Options::default() };
    sb.handle_port_message(1, &port::encode(&hello), 0);
    sb.handle_socket_text(1, 1, r#"0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#, 0);
    sb.handle_socket_text(1, 1, "40", 0);
    let mut now = 0u64;
    // Each chunk: a kind byte, then a payload up to the next 0xff.
    for chunk in data.split(|b| *b == 0xff) {
        let Some((&kind, rest)) = chunk.split_first() else { continue };
        now += 50;
        match kind % 6 {
            0 => sb.handle_port_message(1 + (kind as u32 % 3), rest, now),
            1 => sb.handle_socket_text(1, 1, &String::from_utf8_lossy(rest), now),
            2 => sb.handle_socket_binary(1, 1, rest, now),
            3 => sb.handle_restore(vec![(kind as u64, rest.to_vec())], now),
            4 => sb.handle_persisted(&[kind as u64]),
            _ => sb.handle_timeout(now + rest.len() as u64 * 1000),
        }
        while sb.poll_output().is_some() {}
    }
});
