//! One error type for every way a Kong Admin API call can end badly. Kong's structured error
//! bodies (`kong/db/errors.lua`: `{"code", "name", "message", "fields"}`) and its plain
//! `{"message": ...}` answers are decoded here, once, so callers match on what happened (a
//! duplicate, an invalid entity, a missing parent) instead of parsing strings.
//!
//! Kong echoes offending values in its messages, and for key-auth the offending value is the
//! key itself; decoded errors carry those values redacted, so an error can be logged as is.

use serde_json::{Map, Value};

/// Everything a Kong Admin API call can end in.
#[derive(Debug, thiserror::Error)]
pub enum KongError {
    /// Code 5, HTTP 409: a unique field (username, custom_id, key), an ACL group already held by
    /// the consumer, or a plugin already configured for the same scope. `fields` holds the
    /// conflicting key (`{"username": "x"}`, `{"consumer": {"id": ..}, "group": "g"}`), with
    /// credential secrets (`key`, `secret`) replaced by `[redacted]`.
    #[error("Kong unique constraint violation: {message}")]
    UniqueViolation {
        message: String,
        fields: Map<String, Value>,
    },
    /// Code 2, HTTP 400: the entity is invalid. `fields` maps field -> reason; entity-level
    /// checks (such as "username or custom_id required") are under `"@entity"`.
    #[error("Kong schema violation: {message}")]
    SchemaViolation {
        message: String,
        fields: Map<String, Value>,
    },
    /// Code 3, HTTP 400: an entity with this primary key (`id`) already exists.
    #[error("Kong primary key violation: {message}")]
    PrimaryKeyViolation {
        message: String,
        fields: Map<String, Value>,
    },
    /// Code 4, HTTP 400: a referenced parent (consumer, service, route) does not exist.
    #[error("Kong foreign key violation: {message}")]
    ForeignKeyViolation {
        message: String,
        fields: Map<String, Value>,
    },
    /// HTTP 404 (or code 6): the entity, its parent, or the endpoint does not exist. Lookups
    /// (`get_*`) turn this into `Ok(None)` and deletes into `Ok(())`; other calls return it.
    #[error("Kong: {message}")]
    NotFound { message: String },
    /// Code 7, HTTP 400: the `offset` of a list query is not one Kong issued.
    #[error("Kong refused the list offset: {message}")]
    InvalidOffset { message: String },
    /// Code 9, HTTP 400: the `size` of a list query is not between 1 and 1000.
    #[error("Kong refused the page size: {message}")]
    InvalidSize { message: String },
    /// Code 11, HTTP 400: a query or call option is invalid (a `tags` filter, a `ttl` out of
    /// 0..=100000000). `options` maps option -> reason when Kong says.
    #[error("Kong refused the options: {message}")]
    InvalidOptions {
        message: String,
        options: Map<String, Value>,
    },
    /// Any other answer: 5xx (database errors), 401/403 from whatever protects the Admin API,
    /// 405 (a DB-less node or data plane refuses writes, code 12), 415, and so on.
    #[error("Kong Admin API answered {status}: {message}")]
    Api {
        status: u16,
        code: Option<i64>,
        message: String,
    },
    /// No complete answer within `request_timeout` (or no connection within `connect_timeout`).
    #[error("Kong Admin API call timed out")]
    Timeout,
    /// The Admin API could not be reached or the connection broke (DNS, refused, TLS, reset):
    /// the call (its method, the Admin API's address, and its path with credentials redacted)
    /// and every cause, for operators.
    #[error("Kong Admin API unreachable: {0}")]
    Transport(String),
    /// A success answer whose body is not the entity or page expected.
    #[error("unexpected Kong Admin API response to {call}: {source}")]
    Decode {
        /// The call, e.g. `GET /consumers/{consumer}` (never holds values).
        call: String,
        #[source]
        source: serde_json::Error,
    },
    /// The [`KongConfig`](crate::KongConfig) cannot be used: bad header, CA or client PEM.
    #[error("invalid Kong client configuration: {0}")]
    Config(String),
    /// An argument that cannot be sent as given: an empty or dot-only path segment (which
    /// would address another endpoint) or a tag filter Kong would read differently.
    #[error("invalid Kong Admin API argument: {0}")]
    InvalidArgument(String),
}

/// Fields whose values are credentials and must not reach logs.
const SECRET_FIELDS: [&str; 2] = ["key", "secret"];
const REDACTED: &str = "[redacted]";

impl KongError {
    /// Whether repeating the same idempotent call may succeed: timeouts, connection failures
    /// and 5xx answers. The client already retries GET, PUT and DELETE `max_retries` times.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout | Self::Transport(_) => true,
            Self::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The HTTP status Kong answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::UniqueViolation { .. } => Some(409),
            Self::SchemaViolation { .. }
            | Self::PrimaryKeyViolation { .. }
            | Self::ForeignKeyViolation { .. }
            | Self::InvalidOffset { .. }
            | Self::InvalidSize { .. }
            | Self::InvalidOptions { .. } => Some(400),
            Self::NotFound { .. } => Some(404),
            Self::Api { status, .. } => Some(*status),
            Self::Timeout
            | Self::Transport(_)
            | Self::Decode { .. }
            | Self::Config(_)
            | Self::InvalidArgument(_) => None,
        }
    }

    /// Decodes a non-2xx answer. Structured bodies are recognised by their `code` (the HTTP
    /// status then only matters for plain bodies); anything unparsable becomes [`Self::Api`]
    /// with the status' reason phrase, never the raw body, which could echo request headers.
    pub(crate) fn from_response(status: u16, body: &[u8]) -> Self {
        let parsed: Map<String, Value> = serde_json::from_slice(body).unwrap_or_default();
        let code = parsed.get("code").and_then(Value::as_i64);
        let mut message = parsed
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| reason(status), str::to_owned);
        let mut object = |name: &str| {
            let mut map = parsed
                .get(name)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            redact_secrets(&mut map, &mut message);
            map
        };
        let fields = object("fields");
        let options = object("options");
        match (code, status) {
            (Some(5), _) | (None, 409) => Self::UniqueViolation { message, fields },
            (Some(2), _) => Self::SchemaViolation { message, fields },
            (Some(3), _) => Self::PrimaryKeyViolation { message, fields },
            (Some(4), _) => Self::ForeignKeyViolation { message, fields },
            (Some(6), _) | (None, 404) => Self::NotFound { message },
            (Some(7), _) => Self::InvalidOffset { message },
            (Some(9), _) => Self::InvalidSize { message },
            (Some(11), _) => Self::InvalidOptions { message, options },
            _ => Self::Api {
                status,
                code,
                message,
            },
        }
    }
}

fn reason(status: u16) -> String {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("no message")
        .to_owned()
}

/// Replaces credential values in `fields` and everywhere they appear in `message` (Kong's unique
/// violation message renders the key: `UNIQUE violation detected on '{key="..."}'`).
fn redact_secrets(fields: &mut Map<String, Value>, message: &mut String) {
    for name in SECRET_FIELDS {
        if let Some(value) = fields.get_mut(name) {
            if let Some(secret) = value.as_str().filter(|s| !s.is_empty()) {
                *message = message.replace(secret, REDACTED);
            }
            *value = Value::String(REDACTED.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn decode(status: u16, body: &Value) -> KongError {
        KongError::from_response(status, body.to_string().as_bytes())
    }

    #[test]
    fn unique_violation_keeps_fields_and_message() {
        let err = decode(
            409,
            &json!({"code": 5, "name": "unique constraint violation",
                "message": "UNIQUE violation detected on '{username=\"alice\"}'",
                "fields": {"username": "alice"}}),
        );
        let KongError::UniqueViolation { message, fields } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(fields["username"], "alice");
        assert!(message.contains("alice"));
        assert_eq!(err.status(), Some(409));
        assert!(!err.is_retryable());
    }

    #[test]
    fn unique_violation_on_a_key_never_carries_the_key() {
        let err = decode(
            409,
            &json!({"code": 5, "name": "unique constraint violation",
                "message": "UNIQUE violation detected on '{key=\"s3cr3t-key\"}'",
                "fields": {"key": "s3cr3t-key"}}),
        );
        assert!(
            matches!(&err, KongError::UniqueViolation { fields, .. } if fields["key"] == REDACTED)
        );
        assert!(!format!("{err} {err:?}").contains("s3cr3t-key"));
    }

    #[test]
    fn schema_violation_maps_fields() {
        let err = decode(
            400,
            &json!({"code": 2, "name": "schema violation",
                "message": "schema violation (at least one of these fields must be non-empty: 'custom_id', 'username')",
                "fields": {"@entity": ["at least one of these fields must be non-empty: 'custom_id', 'username'"]}}),
        );
        assert!(
            matches!(&err, KongError::SchemaViolation { fields, .. } if fields.contains_key("@entity"))
        );
        assert_eq!(err.status(), Some(400));
    }

    #[test]
    fn every_dao_code_has_its_variant() {
        let body = |code: i64| json!({"code": code, "message": "m", "fields": {}});
        assert!(matches!(
            decode(400, &body(3)),
            KongError::PrimaryKeyViolation { .. }
        ));
        assert!(matches!(
            decode(400, &body(4)),
            KongError::ForeignKeyViolation { .. }
        ));
        assert!(matches!(decode(404, &body(6)), KongError::NotFound { .. }));
        assert!(matches!(
            decode(400, &body(7)),
            KongError::InvalidOffset { .. }
        ));
        assert!(matches!(
            decode(400, &body(9)),
            KongError::InvalidSize { .. }
        ));
        let err = decode(
            400,
            &json!({"code": 11, "name": "invalid options",
                "message": "invalid option (ttl: must be an integer between 0 and 100000000)",
                "options": {"ttl": "must be an integer between 0 and 100000000"}}),
        );
        assert!(
            matches!(&err, KongError::InvalidOptions { options, .. } if options.contains_key("ttl"))
        );
    }

    #[test]
    fn plain_bodies_follow_the_status() {
        let err = decode(404, &json!({"message": "Not found"}));
        assert!(matches!(&err, KongError::NotFound { message } if message == "Not found"));
        let err = decode(500, &json!({"message": "An unexpected error occurred"}));
        assert!(matches!(
            err,
            KongError::Api {
                status: 500,
                code: None,
                ..
            }
        ));
        assert!(err.is_retryable());
        let err = decode(405, &json!({"message": "Method not allowed"}));
        assert!(matches!(err, KongError::Api { status: 405, .. }));
        assert!(!err.is_retryable());
    }

    #[test]
    fn db_less_write_refusal_is_an_api_error_with_its_code() {
        let err = decode(
            405,
            &json!({"code": 12, "name": "operation unsupported",
                "message": "cannot create 'consumers' entities when not using a database"}),
        );
        assert!(matches!(
            err,
            KongError::Api {
                status: 405,
                code: Some(12),
                ..
            }
        ));
    }

    #[test]
    fn unparsable_bodies_are_not_echoed() {
        let err = KongError::from_response(502, b"<html>Kong-Admin-Token: t0ken</html>");
        assert!(
            matches!(&err, KongError::Api { status: 502, message, .. } if message == "Bad Gateway")
        );
        assert!(!err.to_string().contains("t0ken"));
        let err = KongError::from_response(415, b"");
        assert_eq!(err.status(), Some(415));
    }
}
