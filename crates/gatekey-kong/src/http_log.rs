//! The payload of Kong's `http-log` plugin (`kong/plugins/http-log/handler.lua`), which posts
//! what `kong.log.serialize()` (`kong/pdk/log.lua`) returns for each proxied request: one JSON
//! object when the plugin's `queue.max_batch_size` is 1 (the default), a JSON array of them
//! otherwise.
//!
//! Only the fields Gatekey's usage record needs are read; everything else (request and response
//! headers, which carry the key unless key-auth's `hide_credentials` is set, the query string
//! table, the full URL, TLS details) is skipped by the parser and never held in memory as a
//! value of these types.

use serde::Deserialize;
use serde_json::Value;

/// One log entry, as far as Gatekey reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct LogEntry {
    pub request: LoggedRequest,
    pub response: LoggedResponse,
    #[serde(default)]
    pub latencies: LoggedLatencies,
    /// The matched route (absent when none matched).
    #[serde(default)]
    pub route: Option<NamedEntity>,
    #[serde(default)]
    pub service: Option<NamedEntity>,
    /// The authenticated consumer; absent for anonymous calls and for requests refused before
    /// authentication.
    #[serde(default)]
    pub consumer: Option<LoggedConsumer>,
    #[serde(default)]
    pub client_ip: Option<String>,
    /// When Kong received the request, in milliseconds since the epoch (Kong writes it as a
    /// number that may carry a fraction).
    pub started_at: f64,
}

/// `request` of a log entry: its id, method and URI (path and query string).
#[derive(Debug, Clone, Deserialize)]
pub struct LoggedRequest {
    /// Kong's request id (`X-Kong-Request-Id`), present from Kong 3.5 on.
    #[serde(default)]
    pub id: String,
    pub method: String,
    /// Path and query string as the client sent them; the query may carry the key.
    pub uri: String,
}

/// `response` of a log entry.
#[derive(Debug, Clone, Deserialize)]
pub struct LoggedResponse {
    pub status: u16,
}

/// `latencies` of a log entry, in milliseconds; `proxy` is -1 when no upstream answered.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct LoggedLatencies {
    pub kong: f64,
    pub proxy: f64,
    pub request: f64,
}

impl Default for LoggedLatencies {
    fn default() -> Self {
        Self {
            kong: 0.0,
            proxy: -1.0,
            request: 0.0,
        }
    }
}

/// A route or service: its id and its name, when it has one.
#[derive(Debug, Clone, Deserialize)]
pub struct NamedEntity {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// The consumer of a log entry.
#[derive(Debug, Clone, Deserialize)]
pub struct LoggedConsumer {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub custom_id: Option<String>,
}

/// Why a posted body is not an `http-log` payload at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogBatchError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body is neither a log entry (a JSON object) nor a batch (a JSON array)")]
    NotEntryOrBatch,
    #[error("the batch holds {entries} entries; at most {max} are accepted per request")]
    TooManyEntries { entries: usize, max: usize },
}

/// A posted body split into its entries, each read or refused on its own: one bad entry does not
/// lose the others of its batch.
pub type LogBatch = Vec<Result<LogEntry, String>>;

/// Reads a posted body: an object is one entry, an array a batch of at most `max_entries`.
pub fn parse_batch(body: &[u8], max_entries: usize) -> Result<LogBatch, LogBatchError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|err| LogBatchError::NotJson(err.to_string()))?;
    let values = match value {
        Value::Array(values) => values,
        entry @ Value::Object(_) => vec![entry],
        _ => return Err(LogBatchError::NotEntryOrBatch),
    };
    if values.len() > max_entries {
        return Err(LogBatchError::TooManyEntries {
            entries: values.len(),
            max: max_entries,
        });
    }
    Ok(values
        .into_iter()
        .map(|value| serde_json::from_value::<LogEntry>(value).map_err(|err| without_values(&err)))
        .collect())
}

/// serde's message without the offending value (`invalid type: string "…"` would echo
/// whatever was posted, possibly a key, into the answer).
fn without_values(err: &serde_json::Error) -> String {
    let message = err.to_string();
    match message.split_once('"') {
        Some((before, _)) => format!("{}…", before.trim_end()),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// An entry shaped like `kong.log.serialize()`'s, key in a header and in the query.
    fn kong_entry() -> Value {
        json!({
            "request": {
                "id": "6f0a5e1c2b7d4e3f8a9b0c1d2e3f4a5b",
                "uri": "/orders/42?apikey=gk_secret",
                "url": "http://gateway:8000/orders/42?apikey=gk_secret",
                "querystring": {"apikey": "gk_secret"},
                "method": "GET",
                "headers": {"apikey": "gk_secret", "host": "gateway"},
                "size": 120,
                "tls": null
            },
            "upstream_uri": "/orders/42?apikey=gk_secret",
            "upstream_status": "200",
            "response": {"status": 200, "headers": {}, "size": 512},
            "latencies": {"kong": 2, "proxy": 13, "request": 15.5, "receive": 0},
            "tries": [],
            "authenticated_entity": {"id": "cred-1"},
            "route": {"id": "r1", "name": "orders", "paths": ["/orders"]},
            "service": {"id": "s1", "name": "orders-svc", "host": "orders.internal"},
            "consumer": {"id": "c1", "username": "gatekey-01J", "custom_id": "01J", "tags": {}},
            "client_ip": "10.1.2.3",
            "started_at": 1_700_000_000_123_i64,
            "source": "upstream",
            "workspace": "w1",
            "workspace_name": "default"
        })
    }

    #[test]
    fn an_object_is_one_entry_and_an_array_a_batch() {
        let one = serde_json::to_vec(&kong_entry()).expect("json");
        let batch = parse_batch(&one, 10).expect("entry");
        assert_eq!(batch.len(), 1);
        let entry = batch[0].as_ref().expect("valid entry");
        assert_eq!(entry.request.method, "GET");
        assert_eq!(entry.response.status, 200);
        assert_eq!(entry.consumer.as_ref().map(|c| c.id.as_str()), Some("c1"));
        assert_eq!(
            entry.route.as_ref().and_then(|r| r.name.as_deref()),
            Some("orders")
        );
        assert!((entry.started_at - 1_700_000_000_123.0).abs() < f64::EPSILON);

        let many = serde_json::to_vec(&json!([kong_entry(), kong_entry()])).expect("json");
        assert_eq!(parse_batch(&many, 10).expect("batch").len(), 2);
    }

    #[test]
    fn each_bad_entry_is_refused_alone_without_echoing_its_values() {
        let mut bad = kong_entry();
        bad["response"]["status"] = json!("gk_secret");
        let body = serde_json::to_vec(&json!([kong_entry(), bad, {"x": 1}])).expect("json");
        let batch = parse_batch(&body, 10).expect("batch");
        assert!(batch[0].is_ok());
        let refused = batch[1].as_ref().expect_err("bad status");
        assert!(!refused.contains("gk_secret"), "{refused}");
        assert!(
            batch[2]
                .as_ref()
                .expect_err("not an entry")
                .contains("missing field")
        );
    }

    #[test]
    fn bodies_that_are_no_batch_are_refused_whole() {
        assert!(matches!(
            parse_batch(b"{", 10),
            Err(LogBatchError::NotJson(_))
        ));
        assert_eq!(
            parse_batch(b"42", 10).err(),
            Some(LogBatchError::NotEntryOrBatch)
        );
        let body = serde_json::to_vec(&json!([{}, {}, {}])).expect("json");
        assert_eq!(
            parse_batch(&body, 2).err(),
            Some(LogBatchError::TooManyEntries { entries: 3, max: 2 })
        );
    }
}
