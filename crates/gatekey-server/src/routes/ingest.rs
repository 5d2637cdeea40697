//! `POST /v1/ingest/kong-http-log`, on the operators' listener only: Kong's `http-log` plugin
//! posts its log entries here (one object, or an array per batch), with the shared secret in
//! `X-Gatekey-Ingest-Secret`. The secret is checked before the body is read; the body is bounded
//! (`ingest.body_limit_bytes`, `ingest.max_entries`); the entries are handed to
//! [`gatekey_app::UsageIngest`], which keeps those of minted keys. A batch the ingest has no room
//! for (`ingest.max_concurrent_writes` writing and `ingest.max_waiting_batches` waiting) is
//! refused before its body is read: the ingest never queues more than that in front of the mints.
//!
//! Answers: 200 with what became of the entries; 400 when the body is not a log batch, or when
//! some entries are not log entries (the others are recorded, and the answer says how many: Kong
//! retries the batch, and the entries already recorded count once); 401 without an accepted
//! secret (nothing is read); 413 over the size limit; 415 when not sent as JSON; 503
//! `ingest_busy` with `Retry-After` when the ingest has no room (nothing is read), 503 when
//! MongoDB fails: Kong keeps the batch and posts it again in both cases.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest as _, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gatekey_app::IngestReport;
use gatekey_kong::http_log::{LogBatchError, parse_batch};
use serde::Serialize;

use crate::error::ApiError;
use crate::ingest_secret::IngestSecrets;
use crate::state::AppState;

/// The route's path.
pub const INGEST_PATH: &str = "/v1/ingest/kong-http-log";

/// How the ingest endpoint is configured.
#[derive(Debug)]
pub struct IngestEndpoint {
    pub secrets: IngestSecrets,
    pub body_limit_bytes: usize,
    pub max_entries: usize,
}

/// What became of a batch's entries.
#[derive(Debug, Serialize)]
pub struct IngestAnswer {
    pub received: usize,
    pub stored: usize,
    pub duplicates: usize,
    pub unknown_consumer: usize,
    pub anonymous: usize,
}

impl From<&IngestReport> for IngestAnswer {
    fn from(report: &IngestReport) -> Self {
        Self {
            received: report.received(),
            stored: report.stored,
            duplicates: report.duplicates,
            unknown_consumer: report.unknown_consumer,
            anonymous: report.anonymous,
        }
    }
}

fn refused(reason: &'static str) {
    metrics::counter!("gatekey_usage_ingest_refusals_total", "reason" => reason).increment(1);
}

/// Route layer: a request without an accepted secret is answered 401 before its body is read.
pub async fn require_secret(
    endpoint: Arc<IngestEndpoint>,
    request: Request,
    next: Next,
) -> Response {
    if endpoint.secrets.accepts(request.headers()) {
        next.run(request).await
    } else {
        refused("secret");
        ApiError::IngestSecretRequired.into_response()
    }
}

/// Records a batch of Kong `http-log` entries.
pub async fn ingest_kong_http_log(
    State(state): State<AppState>,
    endpoint: axum::Extension<Arc<IngestEndpoint>>,
    request: Request,
) -> Result<Json<IngestAnswer>, ApiError> {
    if !is_json(request.headers()) {
        refused("media_type");
        return Err(ApiError::UnsupportedMediaType);
    }
    // Before the body is read: a batch without room costs nothing but this answer.
    let admitted = state.app.usage.admit()?;
    let body = Bytes::from_request(request, &state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                refused("too_large");
                ApiError::PayloadTooLarge
            } else {
                refused("malformed");
                ApiError::BadRequest {
                    code: "invalid_body",
                    detail: "the body could not be read".to_owned(),
                }
            }
        })?;
    let batch = parse_batch(&body, endpoint.max_entries).map_err(|err| {
        refused("malformed");
        let code = match err {
            LogBatchError::TooManyEntries { .. } => "too_many_entries",
            LogBatchError::NotJson(_) | LogBatchError::NotEntryOrBatch => "invalid_body",
        };
        ApiError::BadRequest {
            code,
            detail: format!("{err}; nothing was recorded"),
        }
    })?;
    let report = admitted.ingest(batch).await?;
    if report.invalid.is_empty() {
        return Ok(Json(IngestAnswer::from(&report)));
    }
    let answer = IngestAnswer::from(&report);
    let mut detail = format!(
        "{} of {} entries are not Kong log entries:",
        report.invalid.len(),
        answer.received
    );
    for invalid in report.invalid.iter().take(10) {
        let _ = write!(detail, " entry {}: {};", invalid.index, invalid.reason);
    }
    let _ = write!(
        detail,
        " the others were accepted: {} stored, {} duplicates, {} of unknown consumers, {} \
         anonymous",
        answer.stored, answer.duplicates, answer.unknown_consumer, answer.anonymous
    );
    Err(ApiError::BadRequest {
        code: "invalid_entries",
        detail,
    })
}

/// `application/json`, with or without parameters (Kong sends `application/json` or
/// `application/json; charset=utf-8`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}
