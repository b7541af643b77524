//! Writes real port messages as seeds for the `port` fuzz target:
//! `cargo run -p switchboard-shared --example fuzz_seeds -- fuzz/seeds/port`.

use switchboard_shared::port::{self, AckRequest, Bytes, Endpoint, FromHub, Options, Status, StoredEmit, ToHub};

fn main() -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/seeds/port".into()));
    std::fs::create_dir_all(&dir)?;
    let endpoint = Endpoint {
        url: "http://127.0.0.1:8080".into(),
        path: "/socket.io".into(),
        namespace: "/".into(),
        query: String::new(),
    };
    let to_hub = [
        ToHub::Hello {
            version: port::PROTOCOL_VERSION,
            tab: "0a1b2c".into(),
            endpoint: endpoint.clone(),
            auth: Some(r#"{"token":"t"}"#.into()),
            options: Options::default(),
        },
        ToHub::Subscribe { event: "news".into() },
        ToHub::Emit {
            seq: 7,
            event: "chat".into(),
            args: r#"[{"room":"lobby","text":"hi"}]"#.into(),
            bins: vec![],
            ack: None,
            volatile: false,
        },
        ToHub::Emit {
            seq: 8,
            event: "up".into(),
            args: r#"[{"_placeholder":true,"num":0}]"#.into(),
            bins: vec![Bytes(vec![1, 2, 3])],
            ack: Some(AckRequest { id: 3, timeout_ms: 5000 }),
            volatile: false,
        },
        ToHub::Join { req: 1, room: "lobby".into() },
        ToHub::Bye,
    ];
    let from_hub = [
        FromHub::Status(Status::Reconnecting { attempt: 2, delay_ms: 1800, reason: "transport close".into() }),
        FromHub::Event {
            event: "news".into(),
            room: Some("r".into()),
            args: "[1]".into(),
            bins: vec![],
            reply: Some(4),
        },
        FromHub::Stored { seq: 7 },
    ];
    let stored = StoredEmit {
        version: port::STORE_VERSION,
        endpoint,
        auth: None,
        id: "0a1b2c-7".into(),
        event: "chat".into(),
        args: "[1]".into(),
        bins: vec![],
        created_ms: 1_700_000_000_000,
    };
    let mut all: Vec<Vec<u8>> = to_hub.iter().map(port::encode).collect();
    all.extend(from_hub.iter().map(port::encode));
    all.push(port::encode(&stored));
    for (i, bytes) in all.iter().enumerate() {
        std::fs::write(dir.join(format!("seed{i:02}")), bytes)?;
    }
    println!("wrote {} seeds to {}", all.len(), dir.display());
    Ok(())
}
