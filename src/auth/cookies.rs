//! What the account store puts in HTTP: the cookie names, `Set-Cookie` values for a session
//! and a device, reading a `Cookie` header, and what a client learns of a session.
//! The device cookie is a secret (256 random bits, HttpOnly); the server's device id is a
//! one-way hash of it, so publishing the id (presence, sessions, security events) hands out
//! nothing that opens a door: only the secret is accepted, and only a well-formed one.

use super::{now_ms, token, Session};
use serde_json::{json, Value};

pub const ACCESS_COOKIE: &str = "sb_access";
pub const REFRESH_COOKIE: &str = "sb_refresh";
/// A long-lived secret of this browser; its [`device_of`] is the `device:<id>` room.
pub const DEVICE_COOKIE: &str = "sb_device";
/// A device secret: 64 lowercase hex digits (anything else, an old 16-digit id included, is
/// ignored and replaced).
pub const DEVICE_SECRET_LEN: usize = 64;
/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// `Set-Cookie` values for a signed-in session (or, with None, clearing both).
pub fn set_cookies(s: Option<&Session>, secure: bool) -> [String; 2] {
    let sec = if secure { "; Secure" } else { "" };
    match s {
        Some(s) => {
            let now = now_ms();
            let access_age = s.access_expires_ms.saturating_sub(now) / 1000;
            let refresh_age = s.refresh_expires_ms.saturating_sub(now) / 1000;
            [
                format!(
                    "{ACCESS_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{sec}",
                    s.access,
                    access_age.max(1)
                ),
                format!(
                    "{REFRESH_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/auth; Max-Age={}{sec}",
                    s.refresh,
                    refresh_age.max(1)
                ),
            ]
        }
        None => [
            format!("{ACCESS_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{sec}"),
            format!("{REFRESH_COOKIE}=; HttpOnly; SameSite=Strict; Path=/auth; Max-Age=0{sec}"),
        ],
    }
}

/// What the client learns about a session (never a token).
pub fn session_json(s: &Session) -> Value {
    json!({"user": s.user, "session": s.id, "expires_at": s.access_expires_ms, "refresh_expires_at": s.refresh_expires_ms})
}

/// A new device secret (what the cookie holds; never published).
pub fn device_secret() -> String {
    token()
}

/// The public device id of a device secret (32 hex digits), or None for a value that is not
/// a secret this server could have issued.
pub fn device_of(secret: &str) -> Option<String> {
    let well_formed =
        secret.len() == DEVICE_SECRET_LEN && secret.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    well_formed.then(|| digest16(&["switchboard device", secret]))
}

/// What other people in `room` learn of a device: a pseudonym of its id, stable in that room
/// and unlinkable across rooms.
pub fn pseudonym(device: &str, room: &str) -> String {
    digest16(&["switchboard pseudonym", device, room])[..16].to_string()
}

/// BLAKE2s of the parts (each NUL-terminated), the first 16 bytes in hex.
fn digest16(parts: &[&str]) -> String {
    use blake2::Digest;
    let mut h = blake2::Blake2s256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `Set-Cookie` for a device secret (a year, HttpOnly).
pub fn device_cookie(secret: &str) -> String {
    format!("{DEVICE_COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age=31536000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_secret_names_a_device_and_its_id_does_not_open_it() {
        let secret = device_secret();
        let id = device_of(&secret).expect("a fresh secret is well formed");
        assert_eq!(id.len(), 32);
        assert_ne!(id, secret);
        assert_eq!(device_of(&secret), Some(id.clone()), "stable");
        assert_eq!(device_of(&id), None, "the published id is not accepted as a secret");
        assert_eq!(device_of(&secret[..16]), None, "an old 16-digit id is not a secret");
        assert_eq!(device_of(&secret.to_uppercase()), None);
        assert_eq!(device_of(&format!("{}g", &secret[..63])), None);
        assert_eq!(device_of(""), None);
        let (p1, p2) = (pseudonym(&id, "team:1"), pseudonym(&id, "team:2"));
        assert!(p1 != p2 && !id.contains(&p1) && p1.len() == 16, "unlinkable across rooms");
    }
}
