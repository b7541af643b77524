//! The contract's limits on what a stranger sends a server (issue 26): `sb:tabs` lists
//! (`check_tabs`), room names (`joinable`) and the redaction of secret events
//! (`redact_event`), on fuzzed input. Nothing may panic; a list that passes is within the
//! limits; a redacted secret event keeps nothing of its payload.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchboard_shared::contract;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let tabs: Vec<&str> = text.split(',').collect();
    if contract::check_tabs(tabs.iter().copied()).is_ok() {
        assert!(tabs.len() <= contract::MAX_REPORTED_TABS);
        assert!(tabs.iter().all(|t| !t.is_empty() && t.len() <= contract::MAX_TAB_ID));
    }
    if contract::joinable(&text).is_ok() {
        assert!(!contract::HIERARCHY_ROOMS.iter().any(|p| text.starts_with(p)));
    }
    let shown = contract::redact_event(&text);
    if contract::secret_event(&text).is_some() {
        assert_eq!(shown, "[\"sb:auth\",\"[redacted]\"]");
    }
    let framed = format!("[\"sb:auth\",{text}]");
    assert_eq!(contract::redact_event(&framed), "[\"sb:auth\",\"[redacted]\"]");
});
