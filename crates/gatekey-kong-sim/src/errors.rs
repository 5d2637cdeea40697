//! Kong's error bodies, as `kong/db/errors.lua` and the Admin API endpoints produce them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An Admin API error response.
#[derive(Debug)]
pub enum KongError {
    /// code 2: `fields` maps field -> reason.
    Schema(Vec<(String, String)>),
    /// code 4: the parent entity does not exist.
    ForeignKey { field: String, key: Value },
    /// code 5, HTTP 409.
    Unique(Map<String, Value>),
    /// code 7.
    InvalidOffset(String),
    /// code 9.
    InvalidSize,
    /// code 11.
    InvalidOptions(String),
    /// plain `{"message":"Not found"}`.
    NotFound,
    /// plain 405.
    MethodNotAllowed,
    /// plain 400 for an unparsable body.
    BadBody,
    /// plain 500, as a database error answers.
    Internal,
    /// An arbitrary injected status.
    Status(StatusCode),
}

impl KongError {
    pub fn schema(field: &str, reason: impl Into<String>) -> Self {
        Self::Schema(vec![(field.to_owned(), reason.into())])
    }
}

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
        let (status, body) = match self {
            Self::Schema(fields) => {
                let message = if fields.len() == 1 {
                    format!("schema violation ({}: {})", fields[0].0, fields[0].1)
                } else {
                    let parts: Vec<String> =
                        fields.iter().map(|(f, r)| format!("{f}: {r}")).collect();
                    format!("{} schema violations ({})", fields.len(), parts.join("; "))
                };
                let map: Map<String, Value> = fields
                    .into_iter()
                    .map(|(f, r)| (f, Value::String(r)))
                    .collect();
                (
                    StatusCode::BAD_REQUEST,
                    json!({"code": 2, "name": "schema violation", "message": message, "fields": map}),
                )
            }
            Self::ForeignKey { field, key } => (
                StatusCode::BAD_REQUEST,
                json!({
                    "code": 4,
                    "name": "foreign key violation",
                    "message": format!("the foreign key '{}' does not reference an existing '{field}' entity.", lua_value(&key)),
                    "fields": {field: key},
                }),
            ),
            Self::Unique(fields) => {
                let message = format!(
                    "UNIQUE violation detected on '{}'",
                    lua_value(&Value::Object(fields.clone()))
                );
                (
                    StatusCode::CONFLICT,
                    json!({"code": 5, "name": "unique constraint violation", "message": message, "fields": fields}),
                )
            }
            Self::InvalidOffset(offset) => (
                StatusCode::BAD_REQUEST,
                json!({"code": 7, "name": "invalid offset", "message": format!("'{offset}' is not a valid offset: bad base64 encoding")}),
            ),
            Self::InvalidSize => (
                StatusCode::BAD_REQUEST,
                json!({"code": 9, "name": "invalid size", "message": "size must be an integer between 1 and 1000"}),
            ),
            Self::InvalidOptions(message) => (
                StatusCode::BAD_REQUEST,
                json!({"code": 11, "name": "invalid options", "message": message, "fields": {}}),
            ),
            Self::NotFound => (StatusCode::NOT_FOUND, json!({"message": "Not found"})),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"message": "Method not allowed"}),
            ),
            Self::BadBody => (
                StatusCode::BAD_REQUEST,
                json!({"message": "Cannot parse JSON body"}),
            ),
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "An unexpected error occurred"}),
            ),
            Self::Status(status) => (
                status,
                json!({"message": status.canonical_reason().unwrap_or("Error")}),
            ),
        };
        (status, Json(body)).into_response()
    }
}
