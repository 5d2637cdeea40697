//! Kong's error bodies, as `kong/db/errors.lua` and the Admin API endpoints produce them, kept in
//! one place so every handler answers with the exact shape (code, name, message, fields/options)
//! a real Kong would.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An Admin API error response.
#[derive(Debug, Clone, PartialEq)]
pub enum KongError {
    /// code 2: `fields` maps field -> reason (`@entity` for entity-level checks).
    Schema(Vec<(String, String)>),
    /// code 3: POST with an id that already exists.
    PrimaryKey(String),
    /// code 4: the parent entity does not exist.
    ForeignKey { field: String, key: Value },
    /// code 5, HTTP 409: `fields` holds the unique key, in Kong's order.
    Unique(Vec<(String, Value)>),
    /// code 7: the offset token as sent, and why it was refused.
    InvalidOffset {
        offset: String,
        reason: &'static str,
    },
    /// code 9.
    InvalidSize(&'static str),
    /// code 11: option name and reason (`ttl`, `tags`).
    InvalidOption {
        option: &'static str,
        reason: String,
    },
    /// Plain 400 `{"message": ...}` (not a DAO error).
    BadRequest(&'static str),
    /// Plain `{"message":"Not found"}`.
    NotFound,
    /// Plain 405.
    MethodNotAllowed,
    /// Plain 415 (body with an unsupported or missing Content-Type).
    UnsupportedMediaType,
    /// Plain 500, as a database error answers.
    Internal,
    /// An injected status with its plain body.
    Status(StatusCode),
}

impl KongError {
    pub fn schema(field: &str, reason: impl Into<String>) -> Self {
        Self::Schema(vec![(field.to_owned(), reason.into())])
    }

    /// The status a fault injection asks for, with the body Kong sends for it.
    pub fn for_status(status: u16) -> Self {
        match StatusCode::from_u16(status) {
            Ok(StatusCode::NOT_FOUND) => Self::NotFound,
            Ok(StatusCode::METHOD_NOT_ALLOWED) => Self::MethodNotAllowed,
            Ok(other) if other != StatusCode::INTERNAL_SERVER_ERROR => Self::Status(other),
            _ => Self::Internal,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Schema(_)
            | Self::PrimaryKey(_)
            | Self::ForeignKey { .. }
            | Self::InvalidOffset { .. }
            | Self::InvalidSize(_)
            | Self::InvalidOption { .. }
            | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unique(_) => StatusCode::CONFLICT,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Status(status) => *status,
        }
    }

    /// The `message` of the body.
    fn message(&self) -> String {
        match self {
            Self::Schema(fields) => {
                let parts: Vec<String> = fields.iter().map(|(f, r)| format!("{f}: {r}")).collect();
                if let [(field, reason)] = fields.as_slice() {
                    if field == "@entity" {
                        format!("schema violation ({reason})")
                    } else {
                        format!("schema violation ({field}: {reason})")
                    }
                } else {
                    format!("{} schema violations ({})", fields.len(), parts.join("; "))
                }
            }
            Self::PrimaryKey(id) => format!("primary key violation on key '{{id=\"{id}\"}}'"),
            Self::ForeignKey { field, key } => format!(
                "the foreign key '{}' does not reference an existing '{field}' entity.",
                lua_value(key)
            ),
            Self::Unique(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", lua_value(v)))
                    .collect();
                format!("UNIQUE violation detected on '{{{}}}'", inner.join(","))
            }
            Self::InvalidOffset { offset, reason } => {
                format!("'{offset}' is not a valid offset: {reason}")
            }
            Self::InvalidSize(reason) => (*reason).to_owned(),
            Self::InvalidOption { option, reason } => {
                format!("invalid option ({option}: {reason})")
            }
            Self::BadRequest(message) => (*message).to_owned(),
            Self::NotFound => "Not found".to_owned(),
            Self::MethodNotAllowed => "Method not allowed".to_owned(),
            Self::UnsupportedMediaType => "Unsupported Media Type".to_owned(),
            Self::Internal => "An unexpected error occurred".to_owned(),
            Self::Status(status) => status.canonical_reason().unwrap_or("Error").to_owned(),
        }
    }

    /// The JSON body Kong sends.
    pub fn body(&self) -> Value {
        let message = self.message();
        match self {
            Self::Schema(fields) => {
                let mut map = Map::new();
                for (field, reason) in fields {
                    if field == "@entity" {
                        map.insert(field.clone(), json!([reason]));
                    } else {
                        insert_nested(&mut map, field, reason);
                    }
                }
                json!({"code": 2, "name": "schema violation", "message": message, "fields": map})
            }
            Self::PrimaryKey(id) => json!({
                "code": 3, "name": "primary key violation", "message": message, "fields": {"id": id},
            }),
            Self::ForeignKey { field, key } => json!({
                "code": 4, "name": "foreign key violation", "message": message, "fields": {field: key},
            }),
            Self::Unique(fields) => {
                let map: Map<String, Value> = fields.iter().cloned().collect();
                json!({"code": 5, "name": "unique constraint violation", "message": message, "fields": map})
            }
            Self::InvalidOffset { .. } => {
                json!({"code": 7, "name": "invalid offset", "message": message})
            }
            Self::InvalidSize(_) => json!({"code": 9, "name": "invalid size", "message": message}),
            Self::InvalidOption { option, reason } => json!({
                "code": 11, "name": "invalid options", "message": message, "options": {*option: reason},
            }),
            _ => json!({"message": message}),
        }
    }
}

impl std::fmt::Display for KongError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status().as_u16(), self.message())
    }
}

impl std::error::Error for KongError {}

/// Puts `reason` under a dotted field path the way Kong nests a record's errors
/// (`config.minute` -> `{"config": {"minute": reason}}`); the message keeps the dotted form.
fn insert_nested(map: &mut Map<String, Value>, field: &str, reason: &str) {
    match field.split_once('.') {
        None => {
            map.insert(field.to_owned(), Value::String(reason.to_owned()));
        }
        Some((head, rest)) => {
            let entry = map
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(inner) = entry {
                insert_nested(inner, rest, reason);
            }
        }
    }
}

/// Renders a value the way Kong's error messages print Lua tables (`{id="..."}`).
fn lua_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", lua_value(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        other => other.to_string(),
    }
}

impl IntoResponse for KongError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violation_message_renders_lua_tables_in_order() {
        let err = KongError::Unique(vec![
            ("consumer".to_owned(), json!({"id": "c1"})),
            ("group".to_owned(), json!("team-a")),
        ]);
        assert_eq!(
            err.body()["message"],
            "UNIQUE violation detected on '{consumer={id=\"c1\"},group=\"team-a\"}'"
        );
    }

    #[test]
    fn several_schema_violations_are_counted_in_the_message() {
        let err = KongError::Schema(vec![
            ("a".to_owned(), "unknown field".to_owned()),
            ("b".to_owned(), "expected a string".to_owned()),
        ]);
        assert_eq!(
            err.body()["message"],
            "2 schema violations (a: unknown field; b: expected a string)"
        );
    }

    #[test]
    fn record_field_errors_nest_in_fields_and_stay_dotted_in_the_message() {
        let err = KongError::Schema(vec![
            (
                "config.hour".to_owned(),
                "value must be greater than 0".to_owned(),
            ),
            (
                "config.minute".to_owned(),
                "value must be greater than 0".to_owned(),
            ),
        ]);
        assert_eq!(
            err.body(),
            json!({
                "code": 2,
                "name": "schema violation",
                "message": "2 schema violations (config.hour: value must be greater than 0; config.minute: value must be greater than 0)",
                "fields": {"config": {
                    "hour": "value must be greater than 0",
                    "minute": "value must be greater than 0",
                }},
            })
        );
    }

    #[test]
    fn injected_500_uses_the_database_error_body() {
        assert_eq!(
            KongError::for_status(500).body(),
            json!({"message": "An unexpected error occurred"})
        );
        assert_eq!(
            KongError::for_status(503).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
