//! Security, the hub's side. [`Repeats`] (one per namespace) drops a `SECURITY_*` event seen
//! before (each carries a unique id). [`Security`] (one per hub) is the security state every
//! tab sees (`client.security`): signed out → signed in → verification required → verifying
//! → signed in, and from any state → revoked, final for that session. It also makes the
//! tabs' security requests (`sb:security`: the sessions list, revoking, a password change, a
//! verification code) over HTTP through sign-in, which orders them with the other auth calls
//! and sends the session's credentials.
//! Invariants: the window of remembered ids is bounded; a revoked session never becomes
//! signed in again (only a new sign-in, a different session, leaves `revoked`); each tab
//! request is answered exactly once (its HTTP answer, or an error at once).

use super::TabKey;
use crate::contract;
use crate::json::{self, Value};
use crate::port::FromHub;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Ids remembered to drop repeats.
const SEEN: usize = 256;

/// The first argument's `id`, if the args are `[{"id": ..., ...}, ...]`.
fn event_id(args: &str) -> Option<String> {
    json::raw_items(args, b'[')
        .ok()
        .and_then(|items| items.into_iter().next())
        .and_then(|(_, first)| json::raw_items(first, b'{').ok())
        .and_then(|fields| fields.into_iter().find(|(n, _)| n == "id"))
        .and_then(|(_, raw)| json::Scanner::new(raw).string().ok())
}

#[derive(Debug, Default)]
pub struct Repeats {
    seen: VecDeque<String>,
}

impl Repeats {
    /// Whether a `SECURITY_*` event with these args is new (events without an id pass).
    pub fn fresh(&mut self, event: &str, args: &str) -> bool {
        if !event.starts_with(contract::SECURITY_PREFIX) {
            return true;
        }
        let Some(id) = event_id(args) else { return true };
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

/// The security state (`contract::SECURITY_STATES`, in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    SignedOut,
    SignedIn,
    VerificationRequired,
    Verifying,
    Revoked,
}

impl Phase {
    pub fn name(self) -> &'static str {
        contract::SECURITY_STATES[self as usize]
    }
}

/// What security asks of the hub.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Tell the tabs that subscribed to `sb:security` the state.
    Publish,
    /// The session was revoked: drop what it queued and cached, sign every tab out, forget
    /// its cookies.
    Revoked,
    /// Make this call (`/auth/<path>`) through sign-in; answer with `handle_http(call, ..)`.
    Http {
        call: u32,
        post: bool,
        path: &'static str,
        body: Option<String>,
    },
    Post(TabKey, FromHub),
}

#[derive(Debug)]
struct Pending {
    call: u32,
    tab: TabKey,
    ack: u32,
    verify: bool,
}

#[derive(Debug)]
pub struct Security {
    phase: Phase,
    /// The last security event as a JSON object (`{"event": name, ...its fields}`).
    last: Option<String>,
    /// The session the phase is about (a revoked one stays revoked).
    session: Option<String>,
    pending: Vec<Pending>,
    next_call: u32,
    actions: VecDeque<Action>,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            phase: Phase::SignedOut,
            last: None,
            session: None,
            pending: Vec::new(),
            next_call: 0,
            actions: VecDeque::new(),
        }
    }
}

impl Security {
    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// `[state, lastEvent]`, the `sb:security` event's args.
    pub fn snapshot(&self) -> String {
        let mut s = String::from("[");
        json::write_string(&mut s, self.phase.name());
        s.push(',');
        s.push_str(self.last.as_deref().unwrap_or("null"));
        s.push(']');
        s
    }

    fn set(&mut self, phase: Phase) {
        if self.phase != phase {
            self.phase = phase;
            self.actions.push_back(Action::Publish);
        }
    }

    /// Sign-in's state changed: who is signed in, in which session.
    pub fn on_auth(&mut self, user: Option<&str>, session: Option<&str>) {
        match (user, self.phase) {
            (None, Phase::Revoked) => {}
            (None, _) => self.set(Phase::SignedOut),
            (Some(_), Phase::Revoked) if session.is_some() && session != self.session.as_deref() => {
                self.session = session.map(String::from);
                self.set(Phase::SignedIn);
            }
            (Some(_), Phase::SignedOut) => {
                self.session = session.map(String::from);
                self.set(Phase::SignedIn);
            }
            _ => {}
        }
    }

    /// A fresh `SECURITY_*` event from the server (`args`: its JSON args array).
    pub fn on_event(&mut self, event: &str, args: &str) {
        if !event.starts_with(contract::SECURITY_PREFIX) {
            return;
        }
        let fields = json::raw_items(args, b'[').ok().and_then(|items| items.into_iter().next()).map(|(_, f)| f);
        let mut last = String::from("{\"event\":");
        json::write_string(&mut last, event);
        if let Some(inner) = fields.map(str::trim).and_then(|f| f.strip_prefix('{')).map(str::trim_start) {
            if !inner.starts_with('}') {
                last.push(',');
            }
            last.push_str(inner);
        } else {
            last.push('}');
        }
        self.last = Some(last);
        self.actions.push_back(Action::Publish);
        match event {
            contract::SECURITY_SESSION_REVOKED if self.phase != Phase::Revoked => {
                self.set(Phase::Revoked);
                self.actions.push_back(Action::Revoked);
            }
            contract::SECURITY_DEVICE_VERIFICATION_REQUIRED if self.phase != Phase::Revoked => {
                self.set(Phase::VerificationRequired)
            }
            contract::SECURITY_DEVICE_VERIFIED if self.phase != Phase::Revoked => self.set(Phase::SignedIn),
            _ => {}
        }
    }

    /// A tab's `emitWithAck('sb:security', op, ...args)` (`args`: the JSON array after the
    /// event name), answered with ack `ack`.
    pub fn request(&mut self, tab: TabKey, ack: u32, args: &str) {
        let (path, post, body, verify) = match parse_request(args) {
            Ok(r) => r,
            Err(reason) => return self.actions.push_back(Action::Post(tab, FromHub::AckFailed { id: ack, reason })),
        };
        let call = self.next_call;
        self.next_call = self.next_call.wrapping_add(1);
        if verify && self.phase == Phase::VerificationRequired {
            self.set(Phase::Verifying);
        }
        self.pending.push(Pending { call, tab, ack, verify });
        self.actions.push_back(Action::Http { call, post, path, body });
    }

    /// The HTTP answer to call `call` (status 0: no answer).
    pub fn handle_http(&mut self, call: u32, status: u16, body: &str) {
        let Some(i) = self.pending.iter().position(|p| p.call == call) else { return };
        let p = self.pending.swap_remove(i);
        let ok = status == 200;
        if p.verify && self.phase == Phase::Verifying {
            self.set(if ok { Phase::SignedIn } else { Phase::VerificationRequired });
        }
        let msg = match ok {
            true if json::validate(body).is_ok() => {
                FromHub::Ack { id: p.ack, args: alloc::format!("[{body}]"), bins: Vec::new() }
            }
            true => FromHub::Ack { id: p.ack, args: "[null]".into(), bins: Vec::new() },
            false => FromHub::AckFailed { id: p.ack, reason: error_text(body, status) },
        };
        self.actions.push_back(Action::Post(p.tab, msg));
    }

    /// A tab left: its requests' answers have nowhere to go.
    pub fn detach(&mut self, tab: TabKey) {
        self.pending.retain(|p| p.tab != tab);
    }
}

/// `[op, ...args]` → the call: path, POST, body, whether it is a verification.
fn parse_request(args: &str) -> Result<(&'static str, bool, Option<String>, bool), String> {
    let Ok(Value::Array(items)) = json::parse(args) else {
        return Err(alloc::format!("{} needs [op, ...args]", contract::SECURITY));
    };
    let text = |i: usize| items.get(i).and_then(Value::as_str);
    let object = |fields: &[(&str, &str)]| {
        let mut body = String::from("{");
        for (i, (name, value)) in fields.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            json::write_string(&mut body, name);
            body.push(':');
            json::write_string(&mut body, value);
        }
        body.push('}');
        Some(body)
    };
    match (text(0), text(1), text(2)) {
        (Some("sessions"), _, _) => Ok(("sessions", false, None, false)),
        (Some("revoke"), Some(target), _) if !target.is_empty() => {
            Ok(("sessions/revoke", true, object(&[("target", target)]), false))
        }
        (Some("password"), Some(current), Some(new)) => {
            Ok(("password", true, object(&[("current", current), ("new", new)]), false))
        }
        (Some("verify"), Some(code), _) => Ok(("verify", true, object(&[("code", code)]), true)),
        (op, _, _) => Err(alloc::format!(
            "unknown or incomplete security request {}: sessions, revoke <id|others|all>, password <current> <new>, verify <code>",
            crate::json::Quoted(op.unwrap_or(""))
        )),
    }
}

/// The `error` field of a JSON error body, or the status.
fn error_text(body: &str, status: u16) -> String {
    json::parse(body)
        .ok()
        .and_then(|v| v.get(contract::ERROR_FIELD).and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| match status {
            0 => "the server could not be reached".to_string(),
            s => alloc::format!("the server refused (HTTP {s})"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(s: &mut Security) -> Vec<Action> {
        core::iter::from_fn(|| s.poll_action()).collect()
    }

    #[test]
    fn a_repeated_security_event_is_dropped() {
        let mut s = Repeats::default();
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

    #[test]
    fn verification_then_revocation_which_is_final_for_the_session() {
        let mut s = Security::default();
        s.on_auth(Some("alice"), Some("s1"));
        assert_eq!(s.phase(), Phase::SignedIn);
        s.on_event(
            contract::SECURITY_DEVICE_VERIFICATION_REQUIRED,
            r#"[{"id":"c1","challenge":"c1","method":"email"}]"#,
        );
        assert_eq!(s.phase(), Phase::VerificationRequired);
        assert_eq!(
            s.snapshot(),
            r#"["verification-required",{"event":"SECURITY_DEVICE_VERIFICATION_REQUIRED","id":"c1","challenge":"c1","method":"email"}]"#
        );
        actions(&mut s);
        s.request(7, 1, r#"["verify","123456"]"#);
        assert_eq!(s.phase(), Phase::Verifying);
        let acts = actions(&mut s);
        let call = match &acts[..] {
            [Action::Publish, Action::Http { call, post: true, path: "verify", body: Some(b) }] => {
                assert_eq!(b, r#"{"code":"123456"}"#);
                *call
            }
            other => panic!("{other:?}"),
        };
        s.handle_http(call, 400, r#"{"error":"wrong code; 4 tries left"}"#);
        assert_eq!(s.phase(), Phase::VerificationRequired, "a wrong code: asked again");
        let acts = actions(&mut s);
        assert!(
            acts.contains(&Action::Post(7, FromHub::AckFailed { id: 1, reason: "wrong code; 4 tries left".into() }))
        );
        s.on_event(contract::SECURITY_DEVICE_VERIFIED, r#"[{"id":"v1"}]"#);
        assert_eq!(s.phase(), Phase::SignedIn);
        s.on_event(contract::SECURITY_SESSION_REVOKED, r#"[{"id":"r1","scope":"all"}]"#);
        assert_eq!(s.phase(), Phase::Revoked);
        assert!(actions(&mut s).contains(&Action::Revoked));
        s.on_event(contract::SECURITY_DEVICE_VERIFIED, r#"[{"id":"v2"}]"#);
        s.on_auth(None, None);
        s.on_auth(Some("alice"), Some("s1"));
        assert_eq!(s.phase(), Phase::Revoked, "nothing brings the revoked session back");
        s.on_auth(Some("alice"), Some("s2"));
        assert_eq!(s.phase(), Phase::SignedIn, "a new sign-in is a new session");
    }

    #[test]
    fn bad_requests_are_answered_at_once() {
        let mut s = Security::default();
        for bad in ["", "{}", "[]", r#"["revoke"]"#, r#"["password","only-one"]"#, r#"["format-disk"]"#] {
            s.request(1, 9, bad);
            match actions(&mut s).as_slice() {
                [Action::Post(1, FromHub::AckFailed { id: 9, .. })] => {}
                other => panic!("{bad}: {other:?}"),
            }
        }
        s.request(1, 10, r#"["sessions"]"#);
        let [Action::Http { call, post: false, path: "sessions", body: None }] = actions(&mut s)[..] else { panic!() };
        s.detach(1);
        s.handle_http(call, 200, "{}");
        assert!(actions(&mut s).is_empty(), "the tab left");
    }
}
