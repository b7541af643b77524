//! The page <-> hub decoders on arbitrary bytes, including stored records.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchboard_shared::port::{self, FromHub, StoredEmit, ToHub};
use switchboard_shared::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = port::decode::<ToHub>(data) {
        // What decodes must encode to bytes that decode and encode to the same bytes
        // (bytes, not values: a NaN float is not equal to itself).
        let once = port::encode(&m);
        let again = port::decode::<ToHub>(&once).map(|m2| port::encode(&m2));
        assert_eq!(again.as_deref(), Ok(&once[..]));
        // The page's hand-written encoder writes the same bytes.
        assert_eq!(wire::encode_to_hub(&m), once);
    }
    // The page's hand-written decoder accepts exactly what postcard accepts, with the same
    // value, and reads a batch (messages back to back) message by message.
    let postcard = port::decode::<FromHub>(data);
    assert_eq!(wire::decode_from_hub(data).ok(), postcard.clone().ok());
    let mut rest = data;
    while let Ok((msg, tail)) = wire::take_from_hub(rest) {
        assert!(tail.len() < rest.len());
        let _ = msg.to_owned();
        rest = tail;
        if rest.is_empty() {
            break;
        }
    }
    let _ = port::decode::<StoredEmit>(data);
});
