//! Verified tokens, remembered by the SHA-256 of the token, so a caller sending the same bearer
//! token on every request pays for parsing and signature verification once.
//!
//! An entry is used only while the token is unexpired (before `exp`; from there on, a fresh
//! verification applies the clock skew) and only while its issuer still holds the very key set
//! it was verified with, fresh (younger than `jwks_max_age`). So a JWKS refresh (a rotation, an
//! unknown `kid`, the periodic re-fetch) sends every token of that issuer through full
//! verification again, and a token whose key left the JWKS is refused as before. Only successes
//! are stored; the token itself is not kept, only its hash.
//!
//! The store is a `moka` cache: bounded (beyond [`CAPACITY`] it evicts the entries least likely
//! to be used again, by TinyLFU, so a flood of one-off tokens does not push out the callers who
//! reuse theirs) and with each entry dropped at its token's `exp`. The userinfo groups cache
//! ([`crate::userinfo`]) is built the same way, by [`until_expiry`].

use std::hash::Hash;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::VerifiedIdentity;

/// Most tokens remembered at once.
pub(crate) const CAPACITY: u64 = 4096;

/// SHA-256 of a bearer token: how the caches of this crate key a token without keeping it.
pub(crate) type TokenHash = [u8; 32];

pub(crate) fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// A cached value and the instant by which the cache must have dropped it.
#[derive(Debug, Clone)]
pub(crate) struct Expiring<V> {
    pub(crate) value: V,
    pub(crate) until: Instant,
}

impl<V> Expiring<V> {
    /// `value`, to be dropped at `expires_at` (now, when that has passed).
    pub(crate) fn until(value: V, expires_at: DateTime<Utc>) -> Self {
        let left = (expires_at - Utc::now()).to_std().unwrap_or_default();
        Self {
            value,
            until: Instant::now() + left,
        }
    }
}

/// Each entry lives until its own [`Expiring::until`].
struct UntilDeadline;

impl<K, V> moka::Expiry<K, Expiring<V>> for UntilDeadline {
    fn expire_after_create(
        &self,
        _key: &K,
        value: &Expiring<V>,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(value.until.saturating_duration_since(created_at))
    }
}

/// A cache of at most `capacity` entries, each dropped at its [`Expiring::until`].
pub(crate) fn until_expiry<K, V>(capacity: u64) -> moka::sync::Cache<K, Expiring<V>>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::sync::Cache::builder()
        .max_capacity(capacity)
        .expire_after(UntilDeadline)
        .build()
}

/// A successful verification and what it depended on.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) identity: VerifiedIdentity,
    /// Index of the issuer that verified it.
    pub(crate) issuer: usize,
    /// Generation of that issuer's key set used for the signature check.
    pub(crate) key_generation: u64,
}

#[derive(Debug)]
pub(crate) struct VerifiedCache {
    entries: moka::sync::Cache<TokenHash, Expiring<Entry>>,
}

impl VerifiedCache {
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            entries: until_expiry(capacity),
        }
    }

    /// The entry for `token`, if its token is unexpired at `now`. The caller checks that the
    /// issuer's key generation is unchanged.
    pub(crate) fn get(&self, token: &TokenHash, now: DateTime<Utc>) -> Option<Entry> {
        self.entries
            .get(token)
            .map(|cached| cached.value)
            .filter(|entry| now < entry.identity.expires_at)
    }

    /// Remembers a verification until its token's `exp`.
    pub(crate) fn insert(&self, token: TokenHash, entry: Entry) {
        let expires_at = entry.identity.expires_at;
        self.entries
            .insert(token, Expiring::until(entry, expires_at));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(expires_at: DateTime<Utc>) -> Entry {
        Entry {
            identity: VerifiedIdentity {
                subject: "jane".to_owned(),
                issuer: "https://idp.example".to_owned(),
                issuer_name: "idp".to_owned(),
                groups: vec!["payments-team".to_owned()],
                expires_at,
                claims: serde_json::Map::new(),
            },
            issuer: 0,
            key_generation: 1,
        }
    }

    #[test]
    fn an_entry_is_served_until_its_token_expires() {
        let cache = VerifiedCache::new(8);
        let now = Utc::now();
        let exp = now + chrono::Duration::seconds(10);
        cache.insert(hash("token"), entry(exp));
        assert_eq!(
            cache.get(&hash("token"), now).map(|e| e.identity.subject),
            Some("jane".to_owned())
        );
        assert!(cache.get(&hash("other token"), now).is_none());
        assert!(cache.get(&hash("token"), exp).is_none(), "expired at exp");
    }

    #[test]
    fn the_cache_drops_an_entry_at_its_tokens_expiry() {
        let cache = VerifiedCache::new(8);
        let exp = Utc::now() + chrono::Duration::milliseconds(200);
        cache.insert(hash("short-lived"), entry(exp));
        cache.insert(
            hash("long-lived"),
            entry(Utc::now() + chrono::Duration::hours(1)),
        );
        std::thread::sleep(Duration::from_millis(300));
        // moka's own view, not `get`'s `exp` filter: the entry has expired in the store itself.
        assert!(!cache.entries.contains_key(&hash("short-lived")));
        assert!(cache.entries.contains_key(&hash("long-lived")));
    }

    #[test]
    fn a_full_cache_stays_bounded_and_keeps_serving_the_tokens_in_use() {
        let cache = VerifiedCache::new(16);
        let later = Utc::now() + chrono::Duration::minutes(5);
        let now = Utc::now();
        cache.insert(hash("reused"), entry(later));
        for _ in 0..10 {
            assert!(cache.get(&hash("reused"), now).is_some());
        }
        for i in 0..500 {
            cache.insert(hash(&format!("one-off {i}")), entry(later));
            cache.entries.run_pending_tasks();
        }
        cache.entries.run_pending_tasks();
        assert!(cache.entries.entry_count() <= 16);
        assert!(
            cache.get(&hash("reused"), now).is_some(),
            "the token in use survives a flood of one-off tokens"
        );
        cache.insert(hash("newest"), entry(later));
        cache.entries.run_pending_tasks();
        assert!(
            cache.entries.entry_count() <= 16,
            "still bounded after more inserts"
        );
    }
}
