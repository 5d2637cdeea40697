//! Bulk revocation: the domain of "revoke every credential of a person, a pipeline, an API or a
//! policy change in one audited operation". A [`RevocationFilter`] says which credentials a job
//! revokes; a [`RevocationJob`] is recorded before any of them is touched and carries where its
//! walk over the matching records stands, so that any replica can resume it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;
use utoipa::ToSchema;

use crate::issuance::{IssuanceId, ParseIdError};

/// Longest accepted text in a filter field or a job's reason.
pub const MAX_FILTER_CHARS: usize = 512;
/// Longest accepted `reason` of a job.
pub const MAX_REASON_CHARS: usize = 500;

/// The id of a revocation job: a ULID, so jobs sort by creation time.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, example = "01JC2M4ZK7Q6V4D8W3X5Y9T0AB")]
pub struct RevocationJobId(Ulid);

impl RevocationJobId {
    /// A fresh id from the system clock and the thread's random source.
    #[expect(
        clippy::new_without_default,
        reason = "a fresh random id is not a default value"
    )]
    pub fn new() -> Self {
        Self(Ulid::new())
    }
}

impl fmt::Display for RevocationJobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for RevocationJobId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(Ulid::from_string(s)?))
    }
}

/// Which credentials a job revokes: the `active` records matching every field that is set. A
/// caller is (issuer, subject): a subject alone matches that string at every issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationFilter {
    /// The credentials' issuer URL (a credential's `issuer`).
    #[schema(min_length = 1, max_length = 512, example = "https://idp.example.com")]
    pub issuer: Option<String>,
    /// The credentials' subject (a credential's `subject`).
    #[schema(min_length = 1, max_length = 512, example = "user:default/jane")]
    pub subject: Option<String>,
    /// Credentials for this API.
    #[schema(min_length = 1, max_length = 512, example = "orders")]
    pub api_id: Option<String>,
    /// Credentials granting this scope.
    #[schema(min_length = 1, max_length = 512, example = "write")]
    pub scope: Option<String>,
    /// Credentials issued strictly before this instant (RFC 3339).
    pub issued_before: Option<DateTime<Utc>>,
    /// Credentials issued at or after this instant (RFC 3339).
    pub issued_after: Option<DateTime<Utc>>,
    /// Credentials one of whose granting groups (the caller's groups that granted the scopes)
    /// is this group.
    #[schema(min_length = 1, max_length = 512, example = "payments-team")]
    pub granting_group: Option<String>,
    /// Credentials minted under this policy revision.
    #[schema(min_length = 1, max_length = 512)]
    pub policy_revision: Option<String>,
}

/// Why a filter cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// No field is set and `all` was not given: the job would revoke every credential.
    #[error(
        "the filter is empty: it would revoke every live credential; set a field, or send \
         \"all\": true to mean it"
    )]
    Empty,
    /// `all` was given with a non-empty filter: one of the two is a mistake.
    #[error("\"all\": true revokes every credential and cannot be combined with filter fields")]
    AllWithFields,
    #[error("filter field {field} is empty or longer than {MAX_FILTER_CHARS} characters")]
    FieldLength { field: &'static str },
    #[error("issued_after must be before issued_before")]
    EmptyRange,
}

impl RevocationFilter {
    /// Whether no field is set (the filter matches every credential).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the filter before a job is recorded: an empty one only with `all`, bounded texts,
    /// a non-empty time range.
    pub fn validate(&self, all: bool) -> Result<(), FilterError> {
        match (self.is_empty(), all) {
            (true, false) => return Err(FilterError::Empty),
            (false, true) => return Err(FilterError::AllWithFields),
            _ => {}
        }
        let texts = [
            ("issuer", &self.issuer),
            ("subject", &self.subject),
            ("api_id", &self.api_id),
            ("scope", &self.scope),
            ("granting_group", &self.granting_group),
            ("policy_revision", &self.policy_revision),
        ];
        for (field, value) in texts {
            if value
                .as_ref()
                .is_some_and(|text| text.is_empty() || text.chars().count() > MAX_FILTER_CHARS)
            {
                return Err(FilterError::FieldLength { field });
            }
        }
        if let (Some(after), Some(before)) = (self.issued_after, self.issued_before)
            && after >= before
        {
            return Err(FilterError::EmptyRange);
        }
        Ok(())
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Recorded; a replica works (or will resume) through the matching credentials.
    Running,
    /// Every matching credential was revoked or reported as failed.
    Done,
}

impl JobState {
    /// The serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
        }
    }
}

/// Who started a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Operator {
    pub issuer: String,
    pub subject: String,
}

/// A bulk revocation job as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationJob {
    pub id: RevocationJobId,
    pub filter: RevocationFilter,
    /// Why, in the operator's words (shown in the audit trail).
    pub reason: String,
    pub operator: Operator,
    pub state: JobState,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The last matching record the walk has handled (records are walked in id order, which is
    /// creation order, so credentials minted while the job runs come last); `None` before the
    /// first batch.
    pub cursor: Option<IssuanceId>,
    /// The request that started the job.
    pub request_id: Option<String>,
}

impl RevocationJob {
    /// A new job, `running`, its walk not begun.
    pub fn start(
        filter: RevocationFilter,
        reason: String,
        operator: Operator,
        at: DateTime<Utc>,
        request_id: Option<String>,
    ) -> Self {
        Self {
            id: RevocationJobId::new(),
            filter,
            reason,
            operator,
            state: JobState::Running,
            created_at: at,
            ended_at: None,
            cursor: None,
            request_id,
        }
    }
}

/// A credential a job could not revoke, and why (after its retries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevocationFailure {
    pub credential_id: IssuanceId,
    /// What failed, safe to show (no internal host names).
    #[schema(example = "the Kong Admin API failed: 500 Internal Server Error")]
    pub reason: String,
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("valid instant")
    }

    #[test]
    fn an_empty_filter_needs_all_and_all_needs_an_empty_filter() {
        let empty = RevocationFilter::default();
        assert_eq!(empty.validate(false), Err(FilterError::Empty));
        assert_eq!(empty.validate(true), Ok(()));
        let jane = RevocationFilter {
            subject: Some("user:default/jane".to_owned()),
            ..RevocationFilter::default()
        };
        assert_eq!(jane.validate(false), Ok(()));
        assert_eq!(jane.validate(true), Err(FilterError::AllWithFields));
    }

    #[test]
    fn texts_are_bounded_and_ranges_not_empty() {
        let blank = RevocationFilter {
            api_id: Some(String::new()),
            ..RevocationFilter::default()
        };
        assert_eq!(
            blank.validate(false),
            Err(FilterError::FieldLength { field: "api_id" })
        );
        let long = RevocationFilter {
            scope: Some("s".repeat(MAX_FILTER_CHARS + 1)),
            ..RevocationFilter::default()
        };
        assert_eq!(
            long.validate(false),
            Err(FilterError::FieldLength { field: "scope" })
        );
        let backwards = RevocationFilter {
            issued_after: Some(at("2026-11-30T12:00:00Z")),
            issued_before: Some(at("2026-11-30T11:00:00Z")),
            ..RevocationFilter::default()
        };
        assert_eq!(backwards.validate(false), Err(FilterError::EmptyRange));
    }

    #[test]
    fn unknown_filter_fields_are_refused() {
        let err = serde_json::from_str::<RevocationFilter>(r#"{"subjet":"jane"}"#)
            .expect_err("unknown field");
        assert!(err.to_string().contains("subjet"), "{err}");
        let job_id = RevocationJobId::new();
        assert_eq!(
            job_id
                .to_string()
                .parse::<RevocationJobId>()
                .expect("parses"),
            job_id
        );
    }
}
