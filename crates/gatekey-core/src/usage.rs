//! What a minted credential was used for, as the gateway reports it: one [`UsageEntry`] per call
//! made with the key, and a [`UsageSummary`] per credential (calls by status class, first and
//! last use). Gatekey keeps only what the audit needs: no header, no query string, no body, so a
//! key that the gateway's log carries (in a header or the query) never reaches the store.
//!
//! The shapes and bounds live here, without I/O, so the ingest (which builds entries), the store
//! (which counts them) and the HTTP views agree on them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;

use crate::issuance::IssuanceId;

/// Longest kept request path, in bytes; a longer one is cut at a character boundary.
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest kept route or service name, in bytes (Kong names are far shorter).
pub const MAX_NAME_BYTES: usize = 128;
/// Longest kept method name, in bytes.
pub const MAX_METHOD_BYTES: usize = 16;

/// The class of an HTTP status, as the per-credential counters split calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusClass {
    /// 1xx and 2xx: the call went through.
    Success,
    /// 3xx.
    Redirect,
    /// 4xx: refused (by the gateway's ACL or rate limit, or by the API).
    ClientError,
    /// 5xx, and anything outside 100..=599.
    ServerError,
}

impl StatusClass {
    /// Every class, in the order views list them.
    pub const ALL: [Self; 4] = [
        Self::Success,
        Self::Redirect,
        Self::ClientError,
        Self::ServerError,
    ];

    /// The class of `status`.
    pub fn of(status: u16) -> Self {
        match status {
            100..=299 => Self::Success,
            300..=399 => Self::Redirect,
            400..=499 => Self::ClientError,
            _ => Self::ServerError,
        }
    }

    /// The serialized name, also the counter's field name in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Redirect => "redirect",
            Self::ClientError => "client_error",
            Self::ServerError => "server_error",
        }
    }
}

/// Latencies of one call in whole milliseconds, as the gateway measured them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Latencies {
    /// From the first byte received from the client to the last byte sent to it.
    pub request_ms: u32,
    /// Waiting for the upstream; absent when the gateway answered itself (a refusal).
    pub upstream_ms: Option<u32>,
    /// Spent in the gateway's own plugins.
    pub gateway_ms: u32,
}

/// One call made with a minted key. Holds no header value and no query string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageEntry {
    /// Derived from what identifies the call in the gateway's log ([`entry_id`]): the same log
    /// entry posted twice has the same id and is counted once.
    pub id: String,
    pub issuance_id: IssuanceId,
    /// When the gateway received the call.
    pub at: DateTime<Utc>,
    pub method: String,
    pub route: Option<String>,
    pub service: Option<String>,
    /// The request path without its query string, at most [`MAX_PATH_BYTES`].
    pub path: String,
    pub status: u16,
    pub latencies: Latencies,
    pub client_ip: Option<String>,
}

/// A credential's calls, kept up to date as entries arrive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageSummary {
    /// Every call counted, whatever its status.
    pub calls: u64,
    pub success: u64,
    pub redirect: u64,
    pub client_error: u64,
    pub server_error: u64,
    pub first_used_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl UsageSummary {
    /// Calls that did not go through: 4xx and 5xx.
    pub fn errors(&self) -> u64 {
        self.client_error + self.server_error
    }

    /// The summary of `entries` alone (what the store adds to a credential's counters).
    pub fn of<'a>(entries: impl IntoIterator<Item = &'a UsageEntry>) -> Self {
        let mut summary = Self::default();
        for entry in entries {
            summary.calls += 1;
            match StatusClass::of(entry.status) {
                StatusClass::Success => summary.success += 1,
                StatusClass::Redirect => summary.redirect += 1,
                StatusClass::ClientError => summary.client_error += 1,
                StatusClass::ServerError => summary.server_error += 1,
            }
            summary.first_used_at = Some(
                summary
                    .first_used_at
                    .map_or(entry.at, |first| first.min(entry.at)),
            );
            summary.last_used_at = Some(
                summary
                    .last_used_at
                    .map_or(entry.at, |last| last.max(entry.at)),
            );
        }
        summary
    }

    /// The count of one status class.
    pub fn count(&self, class: StatusClass) -> u64 {
        match class {
            StatusClass::Success => self.success,
            StatusClass::Redirect => self.redirect,
            StatusClass::ClientError => self.client_error,
            StatusClass::ServerError => self.server_error,
        }
    }
}

/// What identifies one call in the gateway's log, hashed into an entry id: Kong's request id
/// (empty in Kong before 3.5), the start time, the consumer, and the request line and client, so
/// that two calls never share an id even without a request id.
#[derive(Debug, Clone, Copy)]
pub struct CallIdentity<'a> {
    pub request_id: &'a str,
    pub started_at_ms: i64,
    pub consumer_id: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub client_ip: &'a str,
}

/// The id of the entry of `call`: hex SHA-256 of its parts, each length-prefixed so that no two
/// different calls hash the same text. The uri is hashed, never stored.
pub fn entry_id(call: &CallIdentity<'_>) -> String {
    let mut hasher = Sha256::new();
    for part in [
        call.request_id,
        &call.started_at_ms.to_string(),
        call.consumer_id,
        call.method,
        call.uri,
        call.client_ip,
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// `uri` without its query string (and fragment), cut to [`MAX_PATH_BYTES`].
pub fn path_without_query(uri: &str) -> String {
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    truncated(path, MAX_PATH_BYTES)
}

/// `text` cut to at most `max` bytes at a character boundary.
pub fn truncated(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn entry(status: u16, secs: i64) -> UsageEntry {
        UsageEntry {
            id: format!("{status}-{secs}"),
            issuance_id: IssuanceId::new(),
            at: Utc
                .timestamp_opt(1_700_000_000 + secs, 0)
                .single()
                .expect("valid time"),
            method: "GET".to_owned(),
            route: None,
            service: None,
            path: "/".to_owned(),
            status,
            latencies: Latencies {
                request_ms: 1,
                upstream_ms: None,
                gateway_ms: 0,
            },
            client_ip: None,
        }
    }

    #[test]
    fn statuses_fall_into_their_classes() {
        assert_eq!(StatusClass::of(200), StatusClass::Success);
        assert_eq!(StatusClass::of(101), StatusClass::Success);
        assert_eq!(StatusClass::of(302), StatusClass::Redirect);
        assert_eq!(StatusClass::of(403), StatusClass::ClientError);
        assert_eq!(StatusClass::of(429), StatusClass::ClientError);
        assert_eq!(StatusClass::of(503), StatusClass::ServerError);
        assert_eq!(StatusClass::of(0), StatusClass::ServerError);
        assert_eq!(StatusClass::of(999), StatusClass::ServerError);
    }

    #[test]
    fn a_summary_counts_classes_and_spans_first_to_last_use() {
        let entries = [entry(200, 5), entry(403, 1), entry(500, 9), entry(201, 3)];
        let summary = UsageSummary::of(&entries);
        assert_eq!(summary.calls, 4);
        assert_eq!(
            StatusClass::ALL.map(|class| summary.count(class)),
            [2, 0, 1, 1]
        );
        assert_eq!(summary.errors(), 2);
        assert_eq!(summary.first_used_at, Some(entries[1].at));
        assert_eq!(summary.last_used_at, Some(entries[2].at));
        assert_eq!(UsageSummary::of(&[]), UsageSummary::default());
    }

    #[test]
    fn the_query_string_is_dropped_and_long_paths_are_cut_on_a_character() {
        assert_eq!(path_without_query("/orders/42?apikey=secret"), "/orders/42");
        assert_eq!(path_without_query("/a#frag?x"), "/a");
        assert_eq!(path_without_query("?apikey=secret"), "");
        let long = format!("/{}", "é".repeat(MAX_PATH_BYTES));
        let cut = path_without_query(&long);
        assert!(cut.len() <= MAX_PATH_BYTES && cut.len() >= MAX_PATH_BYTES - 1);
        assert!(long.starts_with(&cut));
    }

    #[test]
    fn entry_ids_differ_by_any_part_and_repeat_for_the_same_call() {
        let call = CallIdentity {
            request_id: "abc",
            started_at_ms: 1_700_000_000_000,
            consumer_id: "c1",
            method: "GET",
            uri: "/orders?apikey=k",
            client_ip: "10.0.0.1",
        };
        assert_eq!(entry_id(&call), entry_id(&call));
        assert_eq!(entry_id(&call).len(), 64);
        assert!(!entry_id(&call).contains("apikey"));
        let moved = CallIdentity {
            request_id: "ab",
            consumer_id: "cc1",
            ..call
        };
        assert_ne!(entry_id(&call), entry_id(&moved));
        let later = CallIdentity {
            started_at_ms: call.started_at_ms + 1,
            ..call
        };
        assert_ne!(entry_id(&call), entry_id(&later));
    }
}
