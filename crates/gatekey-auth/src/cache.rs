//! Verified tokens, remembered by the SHA-256 of the token, so a caller sending the same bearer
//! token on every request pays for parsing and signature verification once.
//!
//! An entry is used only while the token would still verify: until `exp` plus the clock skew
//! (where a fresh verification would start refusing it), and only while its issuer still holds
//! the very key set it was verified with, fresh (younger than `jwks_max_age`). So a JWKS refresh
//! (a rotation, an unknown `kid`, the periodic re-fetch) sends every token of that issuer through
//! full verification again, and a token whose key left the JWKS is refused as before. Only
//! successes are stored; the token itself is not kept, only its hash.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::VerifiedIdentity;

/// Most tokens remembered at once. When full, expired entries are dropped first, then all.
pub(crate) const CAPACITY: usize = 4096;

/// SHA-256 of a bearer token.
pub(crate) type TokenHash = [u8; 32];

pub(crate) fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// A successful verification and what it depended on.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub identity: VerifiedIdentity,
    /// Index of the issuer that verified it.
    pub issuer: usize,
    /// Generation of that issuer's key set used for the signature check.
    pub key_generation: u64,
    /// `exp` + clock skew: from then on a fresh verification would refuse the token.
    pub valid_until: DateTime<Utc>,
}

#[derive(Debug)]
pub(crate) struct VerifiedCache {
    entries: RwLock<HashMap<TokenHash, Entry>>,
    capacity: usize,
}

impl VerifiedCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    /// The entry for `token`, if it is still within its validity at `now`. The caller checks
    /// that the issuer's key generation is unchanged.
    pub fn get(&self, token: &TokenHash, now: DateTime<Utc>) -> Option<Entry> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(token)
            .filter(|entry| now < entry.valid_until)
            .cloned()
    }

    /// Remembers a verification, making room first when full.
    pub fn insert(&self, token: TokenHash, entry: Entry, now: DateTime<Utc>) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&token) {
            entries.retain(|_, kept| now < kept.valid_until);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(token, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(valid_until: DateTime<Utc>) -> Entry {
        Entry {
            identity: VerifiedIdentity {
                subject: "jane".to_owned(),
                issuer: "https://idp.example".to_owned(),
                issuer_name: "idp".to_owned(),
                groups: vec!["payments-team".to_owned()],
                expires_at: valid_until,
                claims: serde_json::Map::new(),
            },
            issuer: 0,
            key_generation: 1,
            valid_until,
        }
    }

    #[test]
    fn an_entry_is_served_until_its_validity_ends() {
        let cache = VerifiedCache::new(8);
        let now = Utc::now();
        let end = now + chrono::Duration::seconds(10);
        cache.insert(hash("token"), entry(end), now);
        assert_eq!(
            cache.get(&hash("token"), now).map(|e| e.identity.subject),
            Some("jane".to_owned())
        );
        assert!(cache.get(&hash("other token"), now).is_none());
        assert!(
            cache.get(&hash("token"), end).is_none(),
            "expired at valid_until"
        );
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first_then_everything() {
        let cache = VerifiedCache::new(2);
        let now = Utc::now();
        let later = now + chrono::Duration::seconds(60);
        cache.insert(hash("expired"), entry(now), now);
        cache.insert(hash("live"), entry(later), now);
        cache.insert(hash("new"), entry(later), now);
        assert!(cache.get(&hash("live"), now).is_some(), "live entry kept");
        assert!(cache.get(&hash("new"), now).is_some());

        cache.insert(hash("third"), entry(later), now);
        assert!(cache.get(&hash("third"), now).is_some());
        assert!(
            cache.get(&hash("live"), now).is_none() && cache.get(&hash("new"), now).is_none(),
            "no expired entry to drop: the cache starts over"
        );
    }
}
