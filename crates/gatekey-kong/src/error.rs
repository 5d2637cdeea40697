//! Kong's error bodies (`kong/db/errors.lua` codes and the plain `{"message": ...}` answers)
//! decoded into one typed error, so callers match on what happened rather than on strings.

use serde_json::{Map, Value};

/// Everything a Kong Admin API call can end in.
#[derive(Debug, thiserror::Error)]
pub enum KongError {
    /// code 5 (HTTP 409): a unique field already exists. The message is not kept, since Kong
    /// echoes the conflicting value (for key-auth, the key itself).
    #[error("Kong unique constraint violation on {}", field_names(.fields))]
    UniqueViolation { fields: Map<String, Value> },
    /// code 2 (HTTP 400): the entity is invalid; `fields` maps field -> reason.
    #[error("Kong schema violation: {message}")]
    SchemaViolation {
        message: String,
        fields: Map<String, Value>,
    },
    /// code 4 (HTTP 400): a referenced parent does not exist.
    #[error("Kong foreign key violation: {message}")]
    ForeignKeyViolation { message: String },
    /// HTTP 404.
    #[error("Kong: not found")]
    NotFound,
    /// codes 7, 9, 11 (HTTP 400): bad offset, size or filter options.
    #[error("Kong refused the query: {message}")]
    InvalidQuery { code: i64, message: String },
    /// Any other answer, including 5xx and the 405 of a DB-less node.
    #[error("Kong Admin API answered {status}: {message}")]
    Api {
        status: u16,
        code: Option<i64>,
        message: String,
    },
    #[error("Kong Admin API call timed out")]
    Timeout,
    #[error("Kong Admin API unreachable: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("unexpected Kong Admin API response: {0}")]
    Decode(String),
    #[error("invalid Kong client configuration: {0}")]
    Config(String),
}

fn field_names(fields: &Map<String, Value>) -> String {
    fields.keys().cloned().collect::<Vec<_>>().join(", ")
}

impl KongError {
    /// Whether repeating an idempotent call may succeed.
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
            | Self::ForeignKeyViolation { .. }
            | Self::InvalidQuery { .. } => Some(400),
            Self::NotFound => Some(404),
            Self::Api { status, .. } => Some(*status),
            Self::Timeout | Self::Transport(_) | Self::Decode(_) | Self::Config(_) => None,
        }
    }

    /// Decodes an error response body.
    pub(crate) fn from_response(status: u16, body: &[u8]) -> Self {
        let parsed: Map<String, Value> = serde_json::from_slice(body).unwrap_or_default();
        let code = parsed.get("code").and_then(Value::as_i64);
        let message = parsed
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let fields = parsed
            .get("fields")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        match (status, code) {
            (409, _) | (_, Some(5)) => Self::UniqueViolation { fields },
            (_, Some(2)) => Self::SchemaViolation { message, fields },
            (_, Some(4)) => Self::ForeignKeyViolation { message },
            (404, _) | (_, Some(6)) => Self::NotFound,
            (_, Some(code @ (7 | 9 | 11))) => Self::InvalidQuery { code, message },
            _ => Self::Api {
                status,
                code,
                message,
            },
        }
    }
}
