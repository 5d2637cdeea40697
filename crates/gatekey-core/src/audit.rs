//! Audit events: the append-only answer to "who asked for what, and what did Gatekey decide?".
//! Every authorization decision (allow or deny, with a machine-readable reason) and every
//! lifecycle step of a credential becomes one event. Events are first-class data, shown to admins
//! through the API, so they carry no secret: no key, no token; only ids, names and reasons.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use ulid::Ulid;
use utoipa::ToSchema;

use crate::issuance::{IssuanceId, ParseIdError};

/// The id of an audit event: a ULID, so events sort by the time they were created.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, example = "01JC2M4ZK7Q6V4D8W3X5Y9T0AB")]
pub struct AuditEventId(Ulid);

impl AuditEventId {
    /// A fresh id from the system clock and the thread's random source.
    #[expect(
        clippy::new_without_default,
        reason = "a fresh random id is not a default value"
    )]
    pub fn new() -> Self {
        Self(Ulid::new())
    }

    /// The same id for the same `at` and `parts`, wherever it is computed: the time part is `at`
    /// (so it sorts like any event of that instant), the random part is taken from the SHA-256
    /// of the parts. Replicas that count into one summary event agree on its id this way.
    pub fn derived(at: DateTime<Utc>, parts: &[&str]) -> Self {
        let mut hash = Sha256::new();
        for part in parts {
            // Length-prefixed, so no two different lists of parts hash alike.
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        let digest = hash.finalize();
        let mut random = [0_u8; 16];
        random[6..].copy_from_slice(&digest[..10]);
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or_default();
        Self(Ulid::from_parts(millis, u128::from_be_bytes(random)))
    }
}

impl fmt::Display for AuditEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for AuditEventId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(Ulid::from_string(s)?))
    }
}

/// What Gatekey decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    /// The serialized name (`"allow"` or `"deny"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was attempted or what happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A credential was asked for (and issued, or refused, or failed).
    Mint,
    /// A credential was revoked, or someone tried to.
    Revoke,
    /// An expired credential's Kong side was removed by the reaper.
    Expire,
    /// The reconciler resolved a mismatch between Kong and the records.
    Reconcile,
    ReadCredential,
    ListCredentials,
    ReadAudit,
    /// The effective policy was read (`GET /v1/policy`), or someone tried to.
    ReadPolicy,
    /// A bearer token was verified or rejected.
    Authenticate,
    /// A bulk revocation job ended: its operator, filter, reason and totals (each credential it
    /// revoked has its own `revoke` event with the same `job_id`).
    BulkRevoke,
    /// A new effective policy took effect (startup, a changed file, SIGHUP, a catalog refresh
    /// that changed the rules): `detail` names the previous revision and what changed.
    PolicyLoad,
}

impl AuditAction {
    /// Every action, for code that handles them all.
    pub const ALL: [Self; 11] = [
        Self::Mint,
        Self::Revoke,
        Self::Expire,
        Self::Reconcile,
        Self::ReadCredential,
        Self::ListCredentials,
        Self::ReadAudit,
        Self::ReadPolicy,
        Self::Authenticate,
        Self::BulkRevoke,
        Self::PolicyLoad,
    ];

    /// The serialized name (`"read_credential"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mint => "mint",
            Self::Revoke => "revoke",
            Self::Expire => "expire",
            Self::Reconcile => "reconcile",
            Self::ReadCredential => "read_credential",
            Self::ListCredentials => "list_credentials",
            Self::ReadAudit => "read_audit",
            Self::ReadPolicy => "read_policy",
            Self::Authenticate => "authenticate",
            Self::BulkRevoke => "bulk_revoke",
            Self::PolicyLoad => "policy_load",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One decision or lifecycle step. Never holds a key or a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub id: AuditEventId,
    /// When it happened.
    pub at: DateTime<Utc>,
    pub action: AuditAction,
    pub decision: Decision,
    /// Machine-readable reason, e.g. `granted`, `scope_not_allowed`, `ttl_above_max`.
    pub reason: String,
    /// Human-readable detail.
    pub detail: Option<String>,
    /// The caller's subject, when the caller was identified.
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub api_id: Option<String>,
    /// The credential concerned, if any.
    pub issuance_id: Option<IssuanceId>,
    /// Scopes asked for or granted.
    pub scopes: Vec<String>,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    /// How many decisions the event stands for: 1; for a summary of denials beyond the audit
    /// budget of a time window (`at` is the window's start), how many it counts; for a
    /// `bulk_revoke` event, how many credentials the job revoked (0 when it revoked none).
    #[serde(default = "one")]
    #[schema(minimum = 0, default = 1)]
    pub count: u64,
    /// The bulk revocation job the event belongs to: its `bulk_revoke` event and the `revoke`
    /// event of each credential it revoked.
    #[serde(default)]
    pub job_id: Option<String>,
    /// Whose credential the event concerns when the caller acted on someone else's (a revoked
    /// credential's owner, the identity a bulk revocation named), so that "who revoked jane's
    /// keys, and why?" is one query on `owner_subject`.
    #[serde(default)]
    pub owner_issuer: Option<String>,
    #[serde(default)]
    pub owner_subject: Option<String>,
    /// The digest (`sha256:…`) of the policy in force: the one that made the decision, for a
    /// mint the one that granted or refused it. `None` in events written before policies had
    /// revisions. For a `policy_load` event, the revision loaded.
    #[serde(default)]
    pub policy_revision: Option<String>,
}

impl AuditEvent {
    /// An event with a fresh id that stands for one decision and says nothing else: the places
    /// that write events fill in what they know with struct update syntax
    /// (`AuditEvent { subject, ..AuditEvent::new(…) }`), so a field added later changes only
    /// the places it concerns.
    pub fn new(
        action: AuditAction,
        decision: Decision,
        reason: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: AuditEventId::new(),
            at,
            action,
            decision,
            reason: reason.into(),
            detail: None,
            subject: None,
            issuer: None,
            api_id: None,
            issuance_id: None,
            scopes: Vec::new(),
            request_id: None,
            client_addr: None,
            count: 1,
            job_id: None,
            owner_issuer: None,
            owner_subject: None,
            policy_revision: None,
        }
    }
}

fn one() -> u64 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_decisions_serialize_as_their_names() {
        for action in AuditAction::ALL {
            assert_eq!(
                serde_json::to_value(action).expect("serializes"),
                serde_json::Value::String(action.as_str().to_owned())
            );
        }
        for decision in [Decision::Allow, Decision::Deny] {
            assert_eq!(
                serde_json::to_value(decision).expect("serializes"),
                serde_json::Value::String(decision.as_str().to_owned())
            );
        }
    }

    #[test]
    fn events_round_trip_through_json_with_string_ids() {
        let event = AuditEvent {
            id: AuditEventId::new(),
            at: Utc::now(),
            action: AuditAction::ReadCredential,
            decision: Decision::Deny,
            reason: "not_owner".to_owned(),
            detail: Some("someone else's credential".to_owned()),
            subject: Some("user:default/ada".to_owned()),
            issuer: Some("https://backstage.example".to_owned()),
            api_id: Some("orders".to_owned()),
            issuance_id: Some(IssuanceId::new()),
            scopes: vec!["orders:read".to_owned()],
            request_id: Some("req-1".to_owned()),
            client_addr: Some("10.0.0.1".to_owned()),
            count: 1,
            job_id: None,
            owner_issuer: None,
            owner_subject: None,
            policy_revision: Some(format!("sha256:{}", "0".repeat(64))),
        };
        let json = serde_json::to_value(&event).expect("serializes");
        assert_eq!(json["id"], event.id.to_string());
        assert_eq!(json["action"], "read_credential");
        assert_eq!(
            serde_json::from_value::<AuditEvent>(json).expect("deserializes"),
            event
        );
        assert!("01JC2M4ZK7Q6V4D8W3X5Y9T0AB".parse::<AuditEventId>().is_ok());
        assert!("nope".parse::<AuditEventId>().is_err());
    }

    #[test]
    fn derived_ids_depend_on_every_part_and_sort_at_their_instant() {
        let at = Utc::now();
        let id = AuditEventId::derived(at, &["deny", "issuer", "subject"]);
        assert_eq!(
            id,
            AuditEventId::derived(at, &["deny", "issuer", "subject"])
        );
        for other in [
            AuditEventId::derived(at, &["deny", "issuer", "subjec", "t"]),
            AuditEventId::derived(at, &["deny", "issuersubject"]),
            AuditEventId::derived(
                at + chrono::Duration::seconds(1),
                &["deny", "issuer", "subject"],
            ),
        ] {
            assert_ne!(id, other);
        }
        assert_eq!(
            id.0.timestamp_ms(),
            u64::try_from(at.timestamp_millis()).expect("after 1970")
        );
    }
}
