//! Socket.IO's own connection state recovery, as socket.io-client does it: the session id
//! (`pid`) from a namespace's CONNECT reply and the offset of the last event (its last
//! argument, when a string) go with the next CONNECT; the reply says whether the server
//! restored the session. Invariant: recovery is asked only with both a pid and an offset.

use crate::json::{self, Value};
use alloc::format;
use alloc::string::String;

#[derive(Debug, Default)]
pub struct Recovery {
    pid: Option<String>,
    offset: Option<String>,
    /// The pid the pending CONNECT asked to recover.
    asked: Option<String>,
}

impl Recovery {
    /// The CONNECT payload: `auth` (a JSON object, or empty) with `pid` and `offset` when
    /// there is a session to recover (fields of `auth` win, as in socket.io-client's
    /// `Object.assign({pid, offset}, auth)`).
    pub fn connect_payload(&mut self, auth: String) -> String {
        self.asked = self.pid.clone().filter(|_| self.offset.is_some());
        let (Some(pid), Some(offset)) = (&self.asked, &self.offset) else { return auth };
        let mut fields = String::from("{\"pid\":");
        json::write_string(&mut fields, pid);
        fields.push_str(",\"offset\":");
        json::write_string(&mut fields, offset);
        match auth.trim().strip_prefix('{') {
            Some(rest) if !rest.trim_start().starts_with('}') => format!("{fields},{rest}"),
            _ => format!("{fields}}}"),
        }
    }

    /// An event's arguments (of an event without an ack id).
    pub fn note_event(&mut self, args: &str) {
        if self.pid.is_some() {
            if let Some(offset) = json::last_string(args) {
                self.offset = Some(offset);
            }
        }
    }

    /// The CONNECT reply's `pid` field (`Err` when it is not a string: no recovery). Returns
    /// whether a recovery asked for succeeded (None when none was asked).
    pub fn connected(&mut self, pid: Option<&Value>) -> Result<Option<bool>, &'static str> {
        let (pid, bad) = match pid {
            None => (None, false),
            Some(Value::String(pid)) => (Some(pid.clone()), false),
            // (Not printed: a JSON number would bring float formatting into the wasm.)
            Some(_) => (None, true),
        };
        let recovered = self.asked.take().map(|asked| pid.as_deref() == Some(asked.as_str()));
        if pid != self.pid {
            self.offset = None;
        }
        self.pid = pid;
        match bad {
            true => Err("CONNECT reply with a pid that is not a string; no recovery"),
            false => Ok(recovered),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_asks_with_pid_and_offset_and_auth_fields_win() {
        let mut r = Recovery::default();
        assert_eq!(r.connect_payload(r#"{"a":1}"#.into()), r#"{"a":1}"#);
        assert_eq!(r.connected(Some(&Value::String("P".into()))), Ok(None));
        assert_eq!(r.connect_payload(String::new()), "", "a pid but no offset yet");
        r.note_event(r#"[1,"o1"]"#);
        assert_eq!(r.connect_payload(r#"{"a":1}"#.into()), r#"{"pid":"P","offset":"o1","a":1}"#);
        assert_eq!(r.connected(Some(&Value::String("P".into()))), Ok(Some(true)));
        assert_eq!(r.connect_payload("{}".into()), r#"{"pid":"P","offset":"o1"}"#);
        assert_eq!(
            r.connected(Some(&Value::Number(3.0))),
            Err("CONNECT reply with a pid that is not a string; no recovery")
        );
        assert_eq!(r.connect_payload(String::new()), "", "a bad pid ends recovery");
    }
}
