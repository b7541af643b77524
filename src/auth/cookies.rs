//! What the account store puts in HTTP: the cookie names, `Set-Cookie` values for a session
//! and a device, reading a `Cookie` header, and what a client learns of a session.

use super::{now_ms, token, Session};
use serde_json::{json, Value};

pub const ACCESS_COOKIE: &str = "sb_access";
pub const REFRESH_COOKIE: &str = "sb_refresh";
/// A long-lived id for this browser (the `device:<id>` room).
pub const DEVICE_COOKIE: &str = "sb_device";
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

/// A new device id.
pub fn device_id() -> String {
    token()[..16].to_string()
}

/// `Set-Cookie` for device id `id` (a year, HttpOnly).
pub fn device_cookie(id: &str) -> String {
    format!("{DEVICE_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=31536000")
}
