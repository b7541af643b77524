//! Engine.IO / Socket.IO / JSON decoders on arbitrary server frames.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchboard_shared::{engineio, json, socketio};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(engineio::EioPacket::Message(m)) = engineio::decode(text) {
        if let Ok(p) = socketio::decode(m) {
            let _ = socketio::split_leading_strings(p.data, 3);
        }
    }
    let _ = socketio::decode(text);
    let _ = json::parse(text);
    let _ = json::validate(text);
});
