//! Ids Gatekey chooses for the Kong entities of one credential, so that every write of a mint is
//! a `PUT` to a known id and can be repeated safely: a retried or re-run mint lands on the same
//! consumer, groups, key and plugin instead of creating doubles.
//!
//! The consumer's id is the 128-bit seed itself (Gatekey passes its issuance id, a ULID, whose
//! bytes make a UUID-shaped id that maps back to the issuance without a lookup). The entities
//! under it get name-based UUIDv8s (RFC 9562 §5.8, the SHA-256 construction of its Appendix B.2):
//! the first 16 bytes of SHA-256 over the consumer id and the entity's name, with the version
//! and variant bits set. Kong accepts any UUID-shaped id (`kong/tools/uuid.lua`), and its ids
//! are unique per entity table, so the derivations only have to differ within one table.

use sha2::{Digest as _, Sha256};
use uuid::{Builder, Uuid};

/// The ids of one credential's Kong entities, all derived from one 128-bit seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityIds {
    consumer: Uuid,
}

impl EntityIds {
    /// Ids derived from `seed` (Gatekey: the issuance ULID's bytes).
    pub fn from_seed(seed: [u8; 16]) -> Self {
        Self {
            consumer: Uuid::from_bytes(seed),
        }
    }

    /// The consumer's id: the seed's bytes.
    pub fn consumer(&self) -> Uuid {
        self.consumer
    }

    /// The key-auth credential's id.
    pub fn key_auth(&self) -> Uuid {
        self.derive(b"key-auth")
    }

    /// The consumer-scoped `rate-limiting` plugin's id.
    pub fn rate_limiting(&self) -> Uuid {
        self.derive(b"rate-limiting")
    }

    /// The id of the consumer's membership of `group`.
    pub fn acl(&self, group: &str) -> Uuid {
        self.derive(format!("acl:{group}").as_bytes())
    }

    fn derive(&self, name: &[u8]) -> Uuid {
        let digest = Sha256::new()
            .chain_update(self.consumer.as_bytes())
            .chain_update(name)
            .finalize();
        let mut bytes = [0_u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Builder::from_custom_bytes(bytes).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; 16] = *b"0123456789abcdef";

    #[test]
    fn the_consumer_id_is_the_seed_and_every_id_is_stable() {
        let ids = EntityIds::from_seed(SEED);
        assert_eq!(ids.consumer().as_bytes(), &SEED);
        assert_eq!(ids, EntityIds::from_seed(SEED));
        assert_eq!(ids.key_auth(), EntityIds::from_seed(SEED).key_auth());
        assert_eq!(ids.acl("g1"), EntityIds::from_seed(SEED).acl("g1"));
    }

    #[test]
    fn derived_ids_are_version_8_and_differ_by_entity_group_and_seed() {
        let ids = EntityIds::from_seed(SEED);
        let other = EntityIds::from_seed(*b"0123456789abcdeg");
        let derived = [
            ids.key_auth(),
            ids.rate_limiting(),
            ids.acl("g1"),
            ids.acl("g2"),
            other.key_auth(),
            other.acl("g1"),
        ];
        for (i, a) in derived.iter().enumerate() {
            assert_eq!(a.get_version_num(), 8);
            assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
            for b in &derived[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
