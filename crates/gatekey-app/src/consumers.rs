//! How Gatekey names and tags what it creates in Kong, and how it marks a credential it withdrew:
//! shared by the mint, revoke, idempotency and the reconciler, which must agree on them (a leaf
//! module, so none of them imports another for a name).

use gatekey_core::issuance::IssuanceId;

/// Tag of every consumer Gatekey creates; the reconciler sweeps consumers by it.
pub const MANAGED_TAG: &str = "gatekey";
/// Prefix of the tag naming a consumer's issuance.
pub const ISSUANCE_TAG_PREFIX: &str = "gatekey-issuance:";
/// `revoked_by` of a credential withdrawn because its caller left before the key was delivered.
pub const WITHDRAWN_BY: &str = "gatekey:undelivered";

/// Kong tags that tie a consumer to its issuance; the reconciler finds orphans by them.
pub fn consumer_tags(api_id: &str, id: &IssuanceId) -> Vec<String> {
    vec![
        MANAGED_TAG.to_owned(),
        format!("gatekey-api:{api_id}"),
        format!("{ISSUANCE_TAG_PREFIX}{id}"),
    ]
}

/// Kong consumer username of an issuance: unique, and derivable without a Kong round trip.
pub fn consumer_username(id: &IssuanceId) -> String {
    format!("gatekey-{id}")
}
