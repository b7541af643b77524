//! What the hub-level fuzz targets share: a hub with one tab attached (its `extra` messages
//! sent after Hello), connected to a server that speaks the contract (`hello`, its
//! `sb:hello` arguments).
use switchboard_shared::hub::{HubConfig, Switchboard};
use switchboard_shared::port::{self, Endpoint, Options, ToHub, PROTOCOL_VERSION};

pub fn connected_hub(seed: u64, extra: &[ToHub], hello: &str) -> Switchboard {
    let mut sb = Switchboard::new(HubConfig::default(), seed);
    let endpoint = Endpoint { url: "http://h:1".into(), path: "/socket.io".into(), namespace: "/".into(), query: String::new() };
    let hi = ToHub::Hello { version: PROTOCOL_VERSION, tab: "t".into(), endpoint, auth: None, options: Options::default() };
    sb.handle_port_message(1, &port::encode(&hi), 0);
    for msg in extra {
        sb.handle_port_message(1, &port::encode(msg), 0);
    }
    sb.handle_socket_text(1, 1, r#"0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#, 0);
    sb.handle_socket_text(1, 1, r#"40{"sid":"s"}"#, 0);
    sb.handle_socket_text(1, 1, &format!(r#"42["sb:hello",{hello}]"#), 0);
    sb
}
