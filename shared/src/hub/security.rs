//! Security events, the hub's side (so far): the server's `SECURITY_*` events carry a unique
//! id; a repeat (the same event on a resumed or second path) is dropped before it reaches
//! the tabs. The security state machine of issue 13 (verification, revocation) grows here.
//! Invariant: the window of remembered ids is bounded.

use crate::contract;
use crate::json;
use alloc::collections::VecDeque;
use alloc::string::String;

/// Ids remembered to drop repeats.
const SEEN: usize = 256;

#[derive(Debug, Default)]
pub struct Security {
    seen: VecDeque<String>,
}

impl Security {
    /// Whether a `SECURITY_*` event with these args is new (events without an id pass).
    pub fn fresh(&mut self, event: &str, args: &str) -> bool {
        if !event.starts_with(contract::SECURITY_PREFIX) {
            return true;
        }
        let id = json::raw_items(args, b'[')
            .ok()
            .and_then(|items| items.into_iter().next())
            .and_then(|(_, first)| json::raw_items(first, b'{').ok())
            .and_then(|fields| fields.into_iter().find(|(n, _)| n == "id"))
            .and_then(|(_, raw)| json::Scanner::new(raw).string().ok());
        let Some(id) = id else { return true };
        if self.seen.contains(&id) {
            return false;
        }
        if self.seen.len() >= SEEN {
            self.seen.pop_front();
        }
        self.seen.push_back(id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_security_event_is_dropped() {
        let mut s = Security::default();
        let e = r#"[{"id":"e1","kind":"failed-logins"}]"#;
        assert!(s.fresh(contract::SECURITY_SUSPICIOUS_ACTIVITY, e));
        assert!(!s.fresh(contract::SECURITY_SUSPICIOUS_ACTIVITY, e));
        assert!(s.fresh(contract::SECURITY_SUSPICIOUS_ACTIVITY, r#"[{"id":"e2"}]"#));
        assert!(s.fresh("news", e), "other events pass");
        assert!(s.fresh(contract::SECURITY_SUSPICIOUS_ACTIVITY, "[1]"), "no id: passes");
        for i in 0..SEEN + 1 {
            s.fresh(contract::SECURITY_SUSPICIOUS_ACTIVITY, &alloc::format!(r#"[{{"id":"x{i}"}}]"#));
        }
        assert_eq!(s.seen.len(), SEEN);
    }
}
