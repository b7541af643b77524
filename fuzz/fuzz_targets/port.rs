//! The page <-> hub decoders on arbitrary bytes, including stored records.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchboard_shared::port::{self, FromHub, StoredEmit, ToHub};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = port::decode::<ToHub>(data) {
        // What decodes must encode to bytes that decode and encode to the same bytes
        // (bytes, not values: a NaN float is not equal to itself).
        let once = port::encode(&m);
        let again = port::decode::<ToHub>(&once).map(|m2| port::encode(&m2));
        assert_eq!(again.as_deref(), Ok(&once[..]));
    }
    let _ = port::decode::<FromHub>(data);
    let _ = port::decode::<StoredEmit>(data);
});
