//! Micro-benchmarks of the core codecs against serde_json equivalents:
//! `cargo bench --bench codec` prints ns per operation. Under `cargo test` (no `--bench`
//! argument) it runs each case once, as a smoke test.

use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::time::Instant;
use switchboard_shared::port::{self, FromHub, ToHub};
use switchboard_shared::{engineio, socketio, wire};

/// The same message as `FromHub::Event`, for the serde_json comparison.
#[derive(Serialize, Deserialize)]
struct JsonEvent {
    event: String,
    room: Option<String>,
    args: String,
    reply: Option<u32>,
}

fn bench(name: &str, iterations: u32, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let t0 = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let ns = t0.elapsed().as_nanos() as f64 / iterations as f64;
    println!("{name:66} {ns:>10.1} ns/op");
    ns
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 200_000 } else { 1 };
    let small = r#"{"room":"lobby","text":"hello there","from":"a1b2c3","n":42}"#;
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(16 * 1024));
    for (label, payload) in [("100 B", small.to_string()), ("16 KB", big)] {
        let frame = format!(r#"42["chat",{payload}]"#);
        bench(&format!("Socket.IO decode + split event name ({label})"), n, || {
            let eio = engineio::decode(black_box(&frame)).expect("frame");
            if let engineio::EioPacket::Message(m) = eio {
                let p = socketio::decode(m).expect("packet");
                black_box(socketio::split_leading_strings(p.data, 1).expect("event"));
            }
        });
        let args = format!("[{payload}]");
        bench(&format!("Socket.IO encode event ({label})"), n, || {
            black_box(engineio::message(&socketio::encode_event("/", 0, Some(7), &["chat"], black_box(&args))));
        });
        let msg = FromHub::Event {
            event: "chat".into(),
            room: Some("lobby".into()),
            args: args.clone(),
            bins: vec![],
            reply: None,
        };
        let bytes = port::encode(&msg);
        bench(&format!("port FromHub::Event encode, postcard ({label})"), n, || {
            black_box(port::encode(black_box(&msg)));
        });
        bench(&format!("port FromHub::Event decode, postcard ({label})"), n, || {
            black_box(port::decode::<FromHub>(black_box(&bytes)).expect("decode"));
        });
        bench(&format!("port FromHub::Event encode, generated wire codec ({label})"), n, || {
            black_box(wire::encode_from_hub(black_box(&msg)));
        });
        bench(&format!("port FromHub::Event decode, generated wire codec ({label})"), n, || {
            black_box(wire::decode_from_hub(black_box(&bytes)).expect("decode"));
        });
        let json = JsonEvent { event: "chat".into(), room: Some("lobby".into()), args: args.clone(), reply: None };
        let text = serde_json::to_string(&json).expect("json");
        bench(&format!("same message encode, serde_json ({label})"), n, || {
            black_box(serde_json::to_string(black_box(&json)).expect("json"));
        });
        bench(&format!("same message decode, serde_json ({label})"), n, || {
            black_box(serde_json::from_str::<JsonEvent>(black_box(&text)).expect("json"));
        });
        println!("  sizes: postcard {} B, serde_json {} B", bytes.len(), text.len());
        let emit =
            ToHub::Emit { seq: 1, event: "chat".into(), args: args.clone(), bins: vec![], ack: None, volatile: false };
        let emit_bytes = port::encode(&emit);
        bench(&format!("port ToHub::Emit decode, postcard ({label})"), n, || {
            black_box(port::decode::<ToHub>(black_box(&emit_bytes)).expect("decode"));
        });
        bench(&format!("port ToHub::Emit encode, page's wire codec ({label})"), n, || {
            black_box(wire::encode_to_hub(black_box(&emit)));
        });
    }
}
