//! Host credentials: secrets made once and shown once, stored only as slow salted hashes
//! (Argon2id), checked in constant time; and a limit on failed logins per source prefix
//! (counted in the lock table, remembered per container), so that guessing costs the
//! guesser, not us.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version, ARGON2ID_IDENT};
use base64::Engine as _;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::hosts::{SourceCount, SourcePrefix};

/// Argon2id with OWASP's minimum (19 MiB, two passes, one lane): tens of milliseconds per
/// check in a small Lambda, which is what makes a stolen hash slow to guess from.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn random(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    getrandom::getrandom(&mut buf).map_err(|e| Error::Unexpected {
        service: "random",
        message: e.to_string(),
    })?;
    Ok(buf)
}

/// A new secret: 32 random bytes, URL-safe base64 (43 characters), shown once.
pub fn new_secret() -> Result<String> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random(32)?))
}

/// The PHC string of a password: what is stored.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&random(16)?).map_err(|e| Error::Unexpected {
        service: "argon2",
        message: e.to_string(),
    })?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Unexpected {
            service: "argon2",
            message: e.to_string(),
        })
}

/// The working memory of password checks, kept for the container's life. Argon2 needs
/// 19 MiB per check; allocated afresh for each, a warm container's heap grew by about that
/// much per update (measured with `make bench`: 12 MB to over 300 MB in 50 updates), since
/// glibc keeps freed blocks of that size in the heap. One buffer, reused, bounds it. The
/// endpoint handles one request at a time, so the lock is never contended.
static MEMORY: Mutex<Vec<Block>> = Mutex::new(Vec::new());

/// The most memory a stored hash may ask for (64 MiB, in 1 KiB blocks): ours ask for 19 MiB.
const MAX_BLOCKS: usize = 64 * 1024;

/// Whether `password` matches the stored hash (a comparison in constant time).
pub fn verify_password(stored: &str, password: &str) -> bool {
    check(stored, password).unwrap_or(false)
}

/// `None` when the stored text is not an Argon2id hash this release can check.
fn check(stored: &str, password: &str) -> Option<bool> {
    let hash = PasswordHash::new(stored).ok()?;
    if hash.algorithm != ARGON2ID_IDENT {
        return None;
    }
    let version = match hash.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&hash).ok()?;
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return None;
    }
    let expected = hash.hash?;
    let mut salt = [0u8; 64];
    let salt = hash.salt?.decode_b64(&mut salt).ok()?;
    let mut out = vec![0u8; expected.len()];
    let mut memory = MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    Argon2::new(Algorithm::Argon2id, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .ok()?;
    Some(out.ct_eq(expected.as_bytes()).into())
}

/// Checks a password for a user that does not exist, at the cost of a real check, so that
/// answers take as long whether the user exists or not.
pub fn verify_nobody(password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash_password("no such user").unwrap_or_default());
    let _ = verify_password(stored, password);
    false
}

/// What this container knows of the failed logins per source prefix (an IPv4 address, an
/// IPv6 /64): at most [`LIMIT_ADDRESSES`] prefixes are remembered (the oldest forgotten
/// first), so the state stays bounded whatever a caller sends. The counts themselves are
/// kept in the lock table, shared by every container ([`crate::ports::Locks`]); this is
/// what the container last learnt of them, so that a prefix it knows to be over the limit
/// is refused without even a read.
pub struct Limiter {
    seen: Mutex<HashMap<SourcePrefix, SourceCount>>,
}

pub const LIMIT_ADDRESSES: usize = 4096;
/// Failed logins from one source prefix within [`SOURCE_WINDOW`] seconds before it is
/// refused (`abuse`) without any check.
pub const SOURCE_FAILURES: u32 = 20;
pub const SOURCE_WINDOW: i64 = 600;

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            seen: Mutex::new(HashMap::new()),
        }
    }
}

/// Whether a count is over the per-source limit at `now`.
pub fn over_limit(count: SourceCount, now: i64) -> bool {
    count.failures >= SOURCE_FAILURES && now - count.since < SOURCE_WINDOW
}

impl Limiter {
    fn guard(&self) -> std::sync::MutexGuard<'_, HashMap<SourcePrefix, SourceCount>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `source` is known to have failed too often lately.
    pub fn blocked(&self, source: SourcePrefix, now: i64) -> bool {
        self.guard()
            .get(&source)
            .is_some_and(|count| over_limit(*count, now))
    }

    /// Remembers the shared count of `source` as the table gave it (a source that never
    /// failed takes no room).
    pub fn learn(&self, source: SourcePrefix, count: SourceCount) {
        if count.failures == 0 {
            return;
        }
        let mut seen = self.guard();
        if seen.len() >= LIMIT_ADDRESSES && !seen.contains_key(&source) {
            if let Some(oldest) = seen.iter().min_by_key(|(_, c)| c.since).map(|(a, _)| *a) {
                seen.remove(&oldest);
            }
        }
        let entry = seen.entry(source).or_default();
        if (count.since, count.failures) > (entry.since, entry.failures) {
            *entry = count;
        }
    }

    /// Counts one failure here only (when the table could not count it).
    pub fn failed(&self, source: SourcePrefix, now: i64) {
        let known = self.guard().get(&source).copied().unwrap_or_default();
        self.learn(source, known.after_failure(now, SOURCE_WINDOW));
    }

    pub fn len(&self) -> usize {
        self.guard().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_stored_only_as_a_salted_hash_and_checked() {
        let secret = new_secret().unwrap();
        assert_eq!(secret.len(), 43);
        let stored = hash_password(&secret).unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(!stored.contains(&secret));
        assert!(verify_password(&stored, &secret));
        assert!(!verify_password(&stored, "guess"));
        assert!(!verify_password("not a hash", &secret));
        assert_ne!(
            hash_password(&secret).unwrap(),
            stored,
            "a fresh salt each time"
        );
        assert!(!verify_nobody(&secret));
    }

    #[test]
    fn checks_reuse_one_working_memory_and_refuse_hashes_they_cannot_check() {
        let stored = hash_password("pw").unwrap();
        assert!(verify_password(&stored, "pw"));
        let buffer = MEMORY.lock().unwrap().as_ptr();
        for _ in 0..3 {
            assert!(verify_password(&stored, "pw"));
            assert!(!verify_password(&stored, "wrong"));
        }
        assert_eq!(MEMORY.lock().unwrap().as_ptr(), buffer, "no new allocation");
        // Other parameters of Argon2id still check (a hash from a release with other costs).
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let other = cheap.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(verify_password(&other, "pw") && !verify_password(&other, "px"));
        // Another algorithm, or more memory than any release asks for: refused unchecked.
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default());
        let i = argon2i.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(!verify_password(&i, "pw"));
        let greedy = other.replace("m=8192", "m=1048576");
        assert!(greedy.contains("m=1048576"));
        assert!(!verify_password(&greedy, "pw"));
    }

    #[test]
    fn the_source_limit_is_bounded_and_forgets() {
        use std::net::IpAddr;
        let l = Limiter::default();
        let a = SourcePrefix::of("203.0.113.9".parse().unwrap());
        for _ in 0..SOURCE_FAILURES {
            assert!(!l.blocked(a, 100));
            l.failed(a, 100);
        }
        assert!(l.blocked(a, 100));
        assert!(!l.blocked(a, 100 + SOURCE_WINDOW), "the window passes");
        for i in 0..(LIMIT_ADDRESSES as u32 + 10) {
            l.failed(
                SourcePrefix::of(IpAddr::from(i.to_be_bytes())),
                200 + i64::from(i),
            );
        }
        assert_eq!(l.len(), LIMIT_ADDRESSES);
        // What the table counted, from every container, counts here too.
        let b = SourcePrefix::of("2001:db8::1".parse().unwrap());
        l.learn(
            b,
            SourceCount {
                failures: SOURCE_FAILURES,
                since: 5_000,
            },
        );
        assert!(l.blocked(SourcePrefix::of("2001:db8::ffff".parse().unwrap()), 5_001));
    }
}
