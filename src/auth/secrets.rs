//! The account store's secrets: random tokens from the OS, argon2id password hashes (and the
//! `--users` file of them), verification codes and their constant-time comparison.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
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

thread_local! {
    /// Argon2's working memory, kept by the thread that checks (the hash gate's few threads):
    /// allocated once (19 MiB for the defaults), not per check, so a flood of checks does not
    /// leave the allocator holding a fresh block per check.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether `password` matches the argon2 PHC `hash` (slow by design), in this thread's
/// reused working memory; the comparison takes the same time wherever the outputs differ.
pub fn verify_hash(hash: &str, password: &str) -> bool {
    let check = || -> Option<bool> {
        let h = PasswordHash::new(hash).ok()?;
        let params = argon2::Params::try_from(&h).ok()?;
        let algorithm = argon2::Algorithm::try_from(h.algorithm).ok()?;
        let version = h.version.map(argon2::Version::try_from).transpose().ok()?.unwrap_or_default();
        let (salt, expected) = (h.salt?, h.hash?);
        let mut salt_buf = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_buf).ok()?;
        let mut out = vec![0u8; expected.len()];
        let count = params.block_count();
        let argon = Argon2::new(algorithm, version, params);
        BLOCKS.with(|blocks| {
            let mut blocks = blocks.try_borrow_mut().ok()?;
            if blocks.len() < count {
                blocks.resize(count, argon2::Block::default());
            }
            argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut blocks[..count]).ok()
        })?;
        let diff = out.iter().zip(expected.as_bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        Some(out.len() == expected.len() && diff == 0)
    };
    check().unwrap_or(false)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_whatever_its_parameters() {
        let hash = hash_password("right-password").expect("hashed");
        assert!(verify_hash(&hash, "right-password"));
        assert!(!verify_hash(&hash, "wrong-password"));
        assert!(!verify_hash("not a hash", "right-password"));
        assert!(!verify_hash(&hash.replace("$argon2id$", "$argon2x$"), "right-password"));
        // A smaller hash (other m, t) checked after the default one: the memory is reused.
        let params = argon2::Params::new(64, 1, 1, None).expect("params");
        let small = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(b"small", &SaltString::encode_b64(&[7u8; 16]).expect("salt"))
            .expect("hashed")
            .to_string();
        assert!(verify_hash(&small, "small") && !verify_hash(&small, "Small"));
        assert!(verify_hash(&hash, "right-password"), "and the big one again");
    }
}
