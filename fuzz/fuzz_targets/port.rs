//! The page <-> hub decoders on arbitrary bytes, including stored records.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchboard_shared::port::{self, FromHub, StoredEmit, ToHub};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = port::decode::<ToHub>(data) {
        // What decodes must encode back to something that decodes to the same.
        assert_eq!(port::decode::<ToHub>(&port::encode(&m)).ok(), Some(m));
    }
    let _ = port::decode::<FromHub>(data);
    let _ = port::decode::<StoredEmit>(data);
});
