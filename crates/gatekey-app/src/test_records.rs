//! Issuance records for the unit tests of the application layer, so that each test module does
//! not spell out every field of a grant it does not care about.

use chrono::{DateTime, Utc};
use gatekey_core::issuance::{Issuance, NewIssuance};

/// jane's `pending` record of `orders` (`read`, 600 s), granted through her team, at `issued_at`.
pub(crate) fn pending_record(issued_at: DateTime<Utc>) -> Issuance {
    Issuance::new_pending(
        NewIssuance {
            subject: "user:default/jane".to_owned(),
            issuer: "https://idp.example".to_owned(),
            api_id: "orders".to_owned(),
            scopes: vec!["read".to_owned()],
            acl_groups: vec!["orders-read".to_owned()],
            caller_groups: vec!["group:default/orders-team".to_owned()],
            granting_groups: vec!["group:default/orders-team".to_owned()],
            purpose: None,
            ttl_seconds: 600,
            request_id: None,
            policy_revision: None,
        },
        issued_at,
    )
}
