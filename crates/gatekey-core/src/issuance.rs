//! Issuance records: one per credential Gatekey mints, from `pending` (decided, recorded, Kong not
//! yet touched) to `active`, `failed` or `revoked`. The record is the source of truth that Kong's
//! side is reconciled against, so its state machine lives here, as pure functions, and every
//! adapter (the store's conditional updates, the reaper, the HTTP views) follows the same rules.
//!
//! The key itself never appears here: only its [`key_fingerprint`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, SubsecRound as _, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use ulid::Ulid;
use utoipa::ToSchema;

/// A text that is not a ULID (26 Crockford base32 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id: {0}")]
pub struct ParseIdError(#[from] ulid::DecodeError);

/// The id of an issuance: a ULID, so ids sort by creation time and carry 80 random bits (not
/// guessable). Shown and stored as its 26-character text.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, example = "01JC2M4ZK7Q6V4D8W3X5Y9T0AB")]
pub struct IssuanceId(Ulid);

impl IssuanceId {
    /// A fresh id from the system clock and the thread's random source.
    #[expect(
        clippy::new_without_default,
        reason = "a fresh random id is not a default value"
    )]
    pub fn new() -> Self {
        Self(Ulid::new())
    }

    /// The id's 128 bits; the Kong side of a mint derives its entity ids from them.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }
}

impl fmt::Display for IssuanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for IssuanceId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(Ulid::from_string(s)?))
    }
}

/// The stored lifecycle state of an issuance. Expiry is not a stored state: see
/// [`Issuance::effective_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssuanceState {
    /// Decided and recorded; the Kong side is being created.
    Pending,
    /// The credential exists in Kong and was handed out.
    Active,
    /// Creating the Kong side failed; nothing was handed out.
    Failed,
    /// Deleted from Kong before its expiry.
    Revoked,
}

impl IssuanceState {
    /// Every state, for code that reasons over the state machine as a whole.
    pub const ALL: [Self; 4] = [Self::Pending, Self::Active, Self::Failed, Self::Revoked];

    /// Whether a record in this state may move to `next`: `pending -> active | failed` and
    /// `active -> revoked`. A pending record is never revoked (there is nothing to revoke yet; it
    /// ends `failed`), and `failed`/`revoked` are final.
    pub fn can_transition_to(self, next: Self) -> bool {
        matches!(
            (self, next),
            (Self::Pending, Self::Active | Self::Failed) | (Self::Active, Self::Revoked)
        )
    }

    /// The serialized name (`"pending"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Failed => "failed",
            Self::Revoked => "revoked",
        }
    }
}

impl fmt::Display for IssuanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state shown to people: the stored state, except that an active credential past its
/// expiry is reported as `expired` (Kong no longer accepts its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EffectiveState {
    Pending,
    Active,
    Expired,
    Failed,
    Revoked,
}

impl EffectiveState {
    /// The serialized name (`"expired"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Failed => "failed",
            Self::Revoked => "revoked",
        }
    }
}

impl fmt::Display for EffectiveState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a mint failed, as recorded and shown to callers: a stable code with a fixed sentence.
///
/// The underlying error is never stored or shown: Kong's and MongoDB's errors name internal hosts,
/// ports and URLs, and a Rust error chain tells an attacker which component broke and how. The raw
/// error goes to the log, with the request id, only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// The Kong Admin API could not be reached (connection refused, reset, timed out).
    KongUnavailable,
    /// The Kong Admin API answered with an error.
    KongRefused,
    /// MongoDB failed while the mint was under way.
    StorageUnavailable,
    /// The mint did not finish within the request timeout and rolled itself back.
    Timeout,
    /// The caller disconnected before the credential was ready; the mint rolled itself back.
    ClientGone,
    /// The mint never finished (a crash, a lost connection to MongoDB); the reconciler failed the
    /// record and removed whatever Kong held.
    Abandoned,
    /// An unexpected error inside Gatekey.
    Internal,
    /// A record failed before failure codes were recorded (it holds a free-text reason, which is
    /// not shown).
    Unspecified,
}

impl FailureCode {
    /// Every code, for code that reasons over all of them.
    pub const ALL: [Self; 8] = [
        Self::KongUnavailable,
        Self::KongRefused,
        Self::StorageUnavailable,
        Self::Timeout,
        Self::ClientGone,
        Self::Abandoned,
        Self::Internal,
        Self::Unspecified,
    ];

    /// The serialized name (`"kong_unavailable"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KongUnavailable => "kong_unavailable",
            Self::KongRefused => "kong_refused",
            Self::StorageUnavailable => "storage_unavailable",
            Self::Timeout => "timeout",
            Self::ClientGone => "client_gone",
            Self::Abandoned => "abandoned",
            Self::Internal => "internal",
            Self::Unspecified => "unspecified",
        }
    }

    /// The code of a serialized name; `None` for a name this version does not know.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == name)
    }

    /// A sentence for people: what happened and that no key exists.
    pub fn message(self) -> &'static str {
        match self {
            Self::KongUnavailable => "The gateway could not be reached; nothing was issued.",
            Self::KongRefused => {
                "The gateway refused to create the credential; nothing was issued."
            }
            Self::StorageUnavailable => "The credential store was unavailable; nothing was issued.",
            Self::Timeout => "Issuing took too long and was rolled back; nothing was issued.",
            Self::ClientGone => {
                "The request was abandoned before the credential was ready; it was rolled back \
                 and nothing was issued."
            }
            Self::Abandoned => {
                "Issuing did not finish and was cleaned up afterwards; nothing was issued."
            }
            Self::Internal => "An internal error stopped issuing; nothing was issued.",
            Self::Unspecified => "Issuing failed; nothing was issued.",
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an issuance lives in Kong: the ephemeral consumer and its key-auth credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KongRef {
    pub consumer_id: String,
    pub consumer_username: String,
    pub credential_id: String,
}

/// What a caller was granted, before a record exists: the inputs of [`Issuance::new_pending`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIssuance {
    pub subject: String,
    pub issuer: String,
    pub api_id: String,
    pub scopes: Vec<String>,
    pub acl_groups: Vec<String>,
    pub caller_groups: Vec<String>,
    pub granting_groups: Vec<String>,
    pub purpose: Option<String>,
    pub ttl_seconds: u32,
    pub request_id: Option<String>,
    /// The digest of the policy that granted it.
    pub policy_revision: Option<String>,
}

/// One credential's record. Holds no secret: the key is known only by its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issuance {
    pub id: IssuanceId,
    /// Who the credential was issued to (the token's mapped subject).
    pub subject: String,
    /// The issuer that vouched for `subject`.
    pub issuer: String,
    pub api_id: String,
    pub scopes: Vec<String>,
    /// Kong ACL groups attached to the consumer, one per granted scope.
    pub acl_groups: Vec<String>,
    /// Every group the caller held when the credential was minted (qualified names), so "who
    /// was this, and as what?" is answered from the record alone.
    pub caller_groups: Vec<String>,
    /// Those of `caller_groups` that allowed a requested scope: the groups the grant came from.
    pub granting_groups: Vec<String>,
    pub purpose: Option<String>,
    pub ttl_seconds: u32,
    pub state: IssuanceState,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set once the Kong side exists (`active`).
    pub kong: Option<KongRef>,
    /// `sha256:<hex>` of the key, set with `active`.
    pub key_fingerprint: Option<String>,
    /// Why the mint failed (`failed` only).
    pub failure: Option<FailureCode>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Subject that revoked the credential.
    pub revoked_by: Option<String>,
    /// Request id of the mint, to join the record with logs and audit events.
    pub request_id: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// The digest (`sha256:…`) of the policy that granted it; `None` in records written before
    /// policies had revisions. The `policy_load` audit events map a digest to its source.
    pub policy_revision: Option<String>,
}

impl Issuance {
    /// A fresh `pending` record with a new id, issued `now` and expiring `ttl_seconds` later.
    ///
    /// `now` is truncated to whole milliseconds, the precision MongoDB stores dates with, so the
    /// record handed back equals the record read back later.
    pub fn new_pending(grant: NewIssuance, now: DateTime<Utc>) -> Self {
        let now = now.trunc_subsecs(3);
        Self {
            id: IssuanceId::new(),
            subject: grant.subject,
            issuer: grant.issuer,
            api_id: grant.api_id,
            scopes: grant.scopes,
            acl_groups: grant.acl_groups,
            caller_groups: grant.caller_groups,
            granting_groups: grant.granting_groups,
            purpose: grant.purpose,
            ttl_seconds: grant.ttl_seconds,
            state: IssuanceState::Pending,
            issued_at: now,
            expires_at: now + Duration::seconds(i64::from(grant.ttl_seconds)),
            kong: None,
            key_fingerprint: None,
            failure: None,
            revoked_at: None,
            revoked_by: None,
            request_id: grant.request_id,
            updated_at: now,
            policy_revision: grant.policy_revision,
        }
    }

    /// Whether the credential's lifetime is over at `now` (Kong rejects the key from
    /// `expires_at` on), whatever its state.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }

    /// The state to show at `now`: `expired` for an active credential past its expiry.
    pub fn effective_state(&self, now: DateTime<Utc>) -> EffectiveState {
        match self.state {
            IssuanceState::Active if self.is_expired(now) => EffectiveState::Expired,
            IssuanceState::Active => EffectiveState::Active,
            IssuanceState::Pending => EffectiveState::Pending,
            IssuanceState::Failed => EffectiveState::Failed,
            IssuanceState::Revoked => EffectiveState::Revoked,
        }
    }
}

/// The fingerprint recorded instead of a key: `"sha256:"` and the lowercase hex SHA-256 of the
/// key's UTF-8 bytes. Lets someone holding a key find its record, without the store holding it.
pub fn key_fingerprint(key: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0)
            .single()
            .expect("valid time")
    }

    fn grant() -> NewIssuance {
        NewIssuance {
            subject: "user:default/ada".to_owned(),
            issuer: "https://backstage.example".to_owned(),
            api_id: "orders".to_owned(),
            scopes: vec!["orders:read".to_owned()],
            acl_groups: vec!["orders-read".to_owned()],
            caller_groups: vec!["group:default/orders-team".to_owned()],
            granting_groups: vec!["group:default/orders-team".to_owned()],
            purpose: Some("try it".to_owned()),
            ttl_seconds: 600,
            request_id: Some("req-1".to_owned()),
            policy_revision: Some(format!("sha256:{}", "0".repeat(64))),
        }
    }

    #[test]
    fn only_pending_to_active_or_failed_and_active_to_revoked_are_allowed() {
        use IssuanceState::{Active, Failed, Pending, Revoked};
        let allowed = [(Pending, Active), (Pending, Failed), (Active, Revoked)];
        for from in IssuanceState::ALL {
            for to in IssuanceState::ALL {
                assert_eq!(
                    from.can_transition_to(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        assert!(!Pending.can_transition_to(Revoked));
    }

    #[test]
    fn new_pending_starts_pending_and_expires_after_its_ttl() {
        let now = at(0) + Duration::nanoseconds(123_456_789);
        let issuance = Issuance::new_pending(grant(), now);
        assert_eq!(issuance.state, IssuanceState::Pending);
        assert_eq!(issuance.issued_at, at(0) + Duration::milliseconds(123));
        assert_eq!(issuance.updated_at, issuance.issued_at);
        assert_eq!(
            issuance.expires_at,
            issuance.issued_at + Duration::seconds(600)
        );
        assert!(issuance.kong.is_none() && issuance.key_fingerprint.is_none());
        assert_ne!(Issuance::new_pending(grant(), now).id, issuance.id);
    }

    #[test]
    fn an_active_credential_past_its_expiry_shows_as_expired() {
        let mut issuance = Issuance::new_pending(grant(), at(0));
        issuance.state = IssuanceState::Active;
        assert!(!issuance.is_expired(at(599)));
        assert_eq!(issuance.effective_state(at(599)), EffectiveState::Active);
        assert!(issuance.is_expired(at(600)));
        assert_eq!(issuance.effective_state(at(600)), EffectiveState::Expired);

        issuance.state = IssuanceState::Revoked;
        assert_eq!(issuance.effective_state(at(900)), EffectiveState::Revoked);
        issuance.state = IssuanceState::Failed;
        assert_eq!(issuance.effective_state(at(900)), EffectiveState::Failed);
        issuance.state = IssuanceState::Pending;
        assert_eq!(issuance.effective_state(at(900)), EffectiveState::Pending);
    }

    #[test]
    fn ids_round_trip_through_text_and_serde_as_strings() {
        let id = IssuanceId::new();
        let text = id.to_string();
        assert_eq!(text.len(), 26);
        assert_eq!(text.parse::<IssuanceId>().expect("parses"), id);
        assert_eq!(
            serde_json::to_value(id).expect("serializes"),
            serde_json::Value::String(text.clone())
        );
        assert_eq!(
            serde_json::from_value::<IssuanceId>(serde_json::Value::String(text))
                .expect("deserializes"),
            id
        );
        assert!("not-a-ulid".parse::<IssuanceId>().is_err());
    }

    #[test]
    fn states_serialize_as_their_lowercase_names() {
        for state in IssuanceState::ALL {
            assert_eq!(
                serde_json::to_value(state).expect("serializes"),
                serde_json::Value::String(state.as_str().to_owned())
            );
        }
        assert_eq!(
            serde_json::to_value(EffectiveState::Expired).expect("serializes"),
            "expired"
        );
    }

    #[test]
    fn failure_codes_round_trip_through_their_names_and_serde() {
        for code in FailureCode::ALL {
            assert_eq!(FailureCode::parse(code.as_str()), Some(code));
            assert_eq!(
                serde_json::to_value(code).expect("serializes"),
                serde_json::Value::String(code.as_str().to_owned())
            );
            assert!(code.message().ends_with("nothing was issued."), "{code}");
        }
        assert_eq!(FailureCode::parse("Kong Admin API failed: refused"), None);
    }

    #[test]
    fn fingerprint_is_prefixed_lowercase_sha256_hex() {
        assert_eq!(
            key_fingerprint("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(!key_fingerprint("gk_secret").contains("gk_secret"));
    }
}
