//! Basic-auth users: bcrypt hashes, checked at most two at once, with a
//! cache of accepted credentials.

use std::collections::HashSet;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How many accepted (user, password) pairs the cache keeps; full, it
/// starts over.
const AUTH_CACHE_ENTRIES: usize = 1024;

/// Basic-auth users with their bcrypt hashes, and a cache of accepted
/// credentials.
///
/// The cache is keyed by SHA-256 of a per-process random salt, the user and
/// the password, so it holds no password, and a scrape pays bcrypt only on
/// its first request with a given password. Refusals are not cached: a
/// client guessing passwords cannot evict Prometheus's entry, and pays
/// bcrypt (at most two at once, server-wide) for every guess.
pub struct Users {
    pub(super) users: Vec<(String, String)>,
    salt: [u8; 16],
    cache: Mutex<HashSet<[u8; 32]>>,
    /// Hash checked for an unknown user, so its answer takes as long.
    dummy: String,
}

impl Users {
    pub(super) fn new(users: Vec<(String, String)>) -> Users {
        // The standard library seeds RandomState from the operating
        // system's random source: two of them key the salt.
        use std::hash::BuildHasher;
        let (a, b) = (
            std::collections::hash_map::RandomState::new(),
            std::collections::hash_map::RandomState::new(),
        );
        let digest = Sha256::digest(format!(
            "{}/{}/{:?}",
            a.hash_one(1u8),
            b.hash_one(2u8),
            std::time::SystemTime::now()
        ));
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&digest[..16]);
        // An unknown user's password is checked against a real hash, at the
        // users' cost, so the answer takes as long.
        let dummy = users.first().map(|(_, h)| h.clone()).unwrap_or_default();
        Users {
            users,
            salt,
            cache: Mutex::new(HashSet::new()),
            dummy,
        }
    }

    fn key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update((user.len() as u64).to_le_bytes());
        h.update(user.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// Whether these credentials were accepted before (no bcrypt needed).
    pub fn cached(&self, user: &str, password: &str) -> bool {
        let key = self.key(user, password);
        self.cache.lock().is_ok_and(|c| c.contains(&key))
    }

    /// Checks the credentials with bcrypt (slow: call off the async
    /// threads), remembering them when accepted.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        // Every user name is compared, in constant time, so the time taken
        // does not tell which names exist.
        let mut hash: Option<&str> = None;
        for (u, h) in &self.users {
            if bool::from(u.as_bytes().ct_eq(user.as_bytes())) {
                hash = Some(h);
            }
        }
        let ok = match hash {
            Some(h) => bcrypt::verify(password, h).unwrap_or(false),
            None => {
                // Same work as for a known user; the verdict is no.
                let _ = bcrypt::verify(password, &self.dummy);
                false
            }
        };
        if ok {
            if let Ok(mut c) = self.cache.lock() {
                if c.len() >= AUTH_CACHE_ENTRIES {
                    c.clear();
                }
                c.insert(self.key(user, password));
            }
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_verify_and_cache() {
        // bcrypt("s3cret") at cost 4, made with `htpasswd -nbB -C 4`.
        let hash = bcrypt::hash_with_salt("s3cret", 4, [7u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        let u = Users::new(vec![("alice".into(), hash)]);
        assert!(!u.cached("alice", "s3cret"));
        assert!(u.verify("alice", "s3cret"));
        assert!(u.cached("alice", "s3cret"));
        assert!(!u.verify("alice", "wrong"));
        assert!(!u.cached("alice", "wrong"));
        assert!(!u.verify("bob", "s3cret"));
        assert!(!u.cached("bob", "s3cret"));
        // The key binds user and password apart: ("ab","c") is not ("a","bc").
        assert_ne!(u.key("ab", "c"), u.key("a", "bc"));
    }
}

#[cfg(test)]
mod doc_example {
    /// The example user of docs/operations.md ("TLS and authentication").
    #[test]
    fn the_documented_hash_is_change_me() {
        let doc = include_str!("../../docs/operations.md");
        let hash = doc
            .lines()
            .find_map(|l| l.trim().strip_prefix("prometheus: $2b$"))
            .map(|rest| format!("$2b${rest}"))
            .expect("the example user in docs/operations.md");
        assert!(bcrypt::verify("change-me", &hash).unwrap());
        assert!(!bcrypt::verify("change-you", &hash).unwrap());
    }
}
