//! The account store's secrets: random tokens from the OS, argon2id password hashes (and the
//! `--users` file of them), verification codes and their constant-time comparison.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) fn random(buf: &mut [u8]) {
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(buf)).is_ok();
    if !ok {
        // Never expected on Linux; fall back to std's randomly keyed hasher.
        use std::hash::{BuildHasher, Hasher};
        for chunk in buf.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
            let bytes = h.finish().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// 32 random bytes from the OS, hex-encoded.
pub fn token() -> String {
    let mut buf = [0u8; 32];
    random(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// An argon2id hash (PHC string, random salt, the crate's defaults: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    random(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| format!("salt: {e}"))?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| format!("hash: {e}"))
}

/// Whether `password` matches the argon2 PHC `hash` (slow by design).
pub fn verify_hash(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// The `--users` file: `name:hash` lines (`#` comments and blank lines skipped). A line
/// whose password is not an argon2 PHC hash is refused (the error never quotes it).
pub fn parse_users(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut users = Vec::new();
    for (n, line) in text.lines().enumerate().map(|(n, l)| (n + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':').map(|(u, h)| (u.trim(), h.trim())) else {
            return Err(format!("line {n}: expected `name:argon2-hash`"));
        };
        if user.is_empty() {
            return Err(format!("line {n}: no user name"));
        }
        if !hash.starts_with("$argon2") || PasswordHash::new(hash).is_err() {
            return Err(format!(
                "line {n}: the password of {user:?} is not an argon2 hash (plain passwords are refused); \
                 make one with `switchboard hash-password`"
            ));
        }
        users.push((user.to_string(), hash.to_string()));
    }
    Ok(users)
}

/// A code of [`CODE_DIGITS`] digits.
pub(super) fn challenge_code() -> String {
    let mut b = [0u8; 8];
    random(&mut b);
    format!("{:06}", u64::from_le_bytes(b) % 1_000_000)
}

/// Equal strings, compared in time that does not depend on where they differ.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
