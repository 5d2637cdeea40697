//! The `http-log` plugin (`kong/plugins/http-log/`): its configuration schema with Kong's
//! defaults, the log entry of a proxied request in the shape of `kong.log.serialize()`
//! (`kong/pdk/log.lua`), and Kong's queue (`kong/tools/queue.lua`): entries are batched up to
//! `queue.max_batch_size` or `queue.max_coalescing_delay`, sent as one JSON object when the batch
//! size is 1 and as an array otherwise, with `Content-Type`, `Authorization` from the endpoint's
//! userinfo, and the configured `headers`; a batch whose post fails (no answer, or a status of 300
//! or more) is retried with exponential backoff from `queue.initial_retry_delay`, capped at
//! `queue.max_retry_delay`, until `queue.max_retry_time` has passed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::errors::KongError;

/// Validates an `http-log` configuration and fills in Kong's defaults.
pub(crate) fn validate(config: &mut Map<String, Value>) -> Result<(), KongError> {
    let mut problems = Vec::new();
    for (field, default) in [
        ("method", json!("POST")),
        ("content_type", json!("application/json")),
        ("timeout", json!(10_000)),
        ("keepalive", json!(60_000)),
        ("retry_count", Value::Null),
        ("queue_size", Value::Null),
        ("flush_timeout", Value::Null),
        ("headers", Value::Null),
        ("custom_fields_by_lua", Value::Null),
    ] {
        let entry = config.entry(field.to_owned()).or_insert(Value::Null);
        if entry.is_null() {
            *entry = default;
        }
    }
    match config.get("http_endpoint") {
        None | Some(Value::Null) => problems.push((
            "config.http_endpoint".to_owned(),
            "required field missing".to_owned(),
        )),
        Some(Value::String(endpoint)) => match url::Url::parse(endpoint) {
            Ok(url) if url.has_host() => {}
            _ => problems.push((
                "config.http_endpoint".to_owned(),
                "missing host in url".to_owned(),
            )),
        },
        Some(_) => problems.push((
            "config.http_endpoint".to_owned(),
            "expected a string".to_owned(),
        )),
    }
    let one_of = |field: &str, allowed: &[&str], problems: &mut Vec<(String, String)>| {
        if !config
            .get(field)
            .and_then(Value::as_str)
            .is_some_and(|value| allowed.contains(&value))
        {
            problems.push((
                format!("config.{field}"),
                format!("expected one of: {}", allowed.join(", ")),
            ));
        }
    };
    one_of("method", &["POST", "PUT", "PATCH"], &mut problems);
    one_of(
        "content_type",
        &["application/json", "application/json; charset=utf-8"],
        &mut problems,
    );
    for field in ["timeout", "keepalive"] {
        if !config.get(field).is_some_and(Value::is_number) {
            problems.push((format!("config.{field}"), "expected a number".to_owned()));
        }
    }
    match config.get("headers") {
        Some(Value::Null) | None => {}
        Some(Value::Object(headers)) => {
            for (name, value) in headers {
                let refused = match name.to_ascii_lowercase().as_str() {
                    "host" => Some("cannot contain 'Host' header"),
                    "content-length" => Some("cannot contain 'Content-Length' header"),
                    "content-type" => Some("cannot contain 'Content-Type' header"),
                    _ => None,
                };
                if let Some(reason) = refused {
                    problems.push((format!("config.headers.{name}"), reason.to_owned()));
                } else if !value.is_string() {
                    problems.push((
                        format!("config.headers.{name}"),
                        "expected a string".to_owned(),
                    ));
                }
            }
        }
        Some(_) => problems.push(("config.headers".to_owned(), "expected a map".to_owned())),
    }
    if !config
        .get("custom_fields_by_lua")
        .is_some_and(Value::is_null)
    {
        problems.push((
            "config.custom_fields_by_lua".to_owned(),
            "the simulator runs no Lua".to_owned(),
        ));
    }
    queue_defaults(config, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        problems.sort();
        Err(KongError::Schema(problems))
    }
}

/// `config.queue` (`kong/tools/queue_schema.lua`): defaults and ranges.
fn queue_defaults(config: &mut Map<String, Value>, problems: &mut Vec<(String, String)>) {
    let queue = config
        .entry("queue".to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if queue.is_null() {
        *queue = Value::Object(Map::new());
    }
    let Some(queue) = queue.as_object_mut() else {
        problems.push(("config.queue".to_owned(), "expected a record".to_owned()));
        return;
    };
    for (field, default, range) in [
        ("max_batch_size", json!(1), Some((1.0, 1_000_000.0))),
        ("max_coalescing_delay", json!(1), Some((0.0, 3600.0))),
        ("max_entries", json!(10_000), Some((1.0, 1_000_000.0))),
        ("max_bytes", Value::Null, None),
        ("max_retry_time", json!(60), None),
        (
            "initial_retry_delay",
            json!(0.01),
            Some((0.001, 1_000_000.0)),
        ),
        ("max_retry_delay", json!(60), Some((0.001, 1_000_000.0))),
        ("concurrency_limit", json!(1), None),
    ] {
        let value = queue.entry(field.to_owned()).or_insert(Value::Null);
        if value.is_null() {
            *value = default;
        }
        if let (Some((low, high)), Some(number)) = (range, value.as_f64())
            && !(low..=high).contains(&number)
        {
            problems.push((
                format!("config.queue.{field}"),
                format!("value should be between {low} and {high}"),
            ));
        }
    }
}

/// The parts of a stored configuration the sender needs.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HttpLogConfig {
    http_endpoint: String,
    method: String,
    content_type: String,
    timeout: f64,
    #[serde(default)]
    headers: Option<HashMap<String, String>>,
    queue: QueueConfig,
}

#[derive(Debug, Clone, Deserialize)]
struct QueueConfig {
    max_batch_size: usize,
    max_coalescing_delay: f64,
    max_entries: usize,
    max_retry_time: f64,
    initial_retry_delay: f64,
    max_retry_delay: f64,
}

impl HttpLogConfig {
    /// Kong's `make_queue_name`: plugin instances with the same log server share a queue.
    fn queue_name(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.http_endpoint, self.method, self.content_type, self.timeout
        )
    }
}

/// The queues of every `http-log` log server, created on first use.
#[derive(Debug, Default)]
pub(crate) struct Queues {
    senders: Mutex<HashMap<String, mpsc::Sender<Value>>>,
}

impl Queues {
    /// Queues one entry; dropped with a log line when the queue is full (`max_entries`).
    pub(crate) fn enqueue(&self, http: &reqwest::Client, config: HttpLogConfig, entry: Value) {
        let mut senders = self
            .senders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let sender = senders.entry(config.queue_name()).or_insert_with(|| {
            let (sender, receiver) = mpsc::channel(config.queue.max_entries.max(1));
            tokio::spawn(run_queue(http.clone(), config, receiver));
            sender
        });
        if sender.try_send(entry).is_err() {
            tracing::warn!("http-log queue full; log entry dropped");
        }
    }
}

/// One queue's sender: batches, posts, retries.
async fn run_queue(
    http: reqwest::Client,
    config: HttpLogConfig,
    mut entries: mpsc::Receiver<Value>,
) {
    let queue = &config.queue;
    while let Some(first) = entries.recv().await {
        let mut batch = vec![first];
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs_f64(queue.max_coalescing_delay);
        while batch.len() < queue.max_batch_size {
            match tokio::time::timeout_at(deadline, entries.recv()).await {
                Ok(Some(entry)) => batch.push(entry),
                Ok(None) | Err(_) => break,
            }
        }
        let body = if queue.max_batch_size == 1 {
            batch.swap_remove(0)
        } else {
            Value::Array(batch)
        };
        send_with_retries(&http, &config, &body).await;
    }
}

async fn send_with_retries(http: &reqwest::Client, config: &HttpLogConfig, body: &Value) {
    let queue = &config.queue;
    let started = tokio::time::Instant::now();
    let mut delay = queue.initial_retry_delay;
    loop {
        match send(http, config, body).await {
            Ok(()) => return,
            Err(err) => {
                if started.elapsed().as_secs_f64() + delay > queue.max_retry_time {
                    tracing::error!(error = %err, "http-log: could not send batch, giving up");
                    return;
                }
                tracing::warn!(error = %err, retry_in = delay, "http-log: could not send batch");
                tokio::time::sleep(Duration::from_secs_f64(delay)).await;
                delay = (delay * 2.0).min(queue.max_retry_delay);
            }
        }
    }
}

/// `send_entries`: one post; `Err` unless the status is below 300.
async fn send(http: &reqwest::Client, config: &HttpLogConfig, body: &Value) -> Result<(), String> {
    let url = url::Url::parse(&config.http_endpoint).map_err(|err| err.to_string())?;
    let method =
        reqwest::Method::from_bytes(config.method.as_bytes()).map_err(|err| err.to_string())?;
    let mut request = http
        .request(method, url.clone())
        .timeout(Duration::from_secs_f64(config.timeout.max(1.0) / 1000.0))
        .header(reqwest::header::CONTENT_TYPE, &config.content_type)
        .body(body.to_string());
    let has_userinfo = !url.username().is_empty();
    if has_userinfo {
        let userinfo = format!("{}:{}", url.username(), url.password().unwrap_or_default());
        let encoded = base64::engine::general_purpose::STANDARD.encode(userinfo);
        request = request.header(reqwest::header::AUTHORIZATION, format!("Basic {encoded}"));
    }
    for (name, value) in config.headers.iter().flatten() {
        // Kong does not let the configured headers override Authorization from the userinfo.
        if !(has_userinfo && name.eq_ignore_ascii_case("authorization")) {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.map_err(|err| err.to_string())?;
    let status = response.status();
    let _ = response.bytes().await;
    if status.as_u16() < 300 {
        Ok(())
    } else {
        Err(format!("log server returned status code {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validated(config: &Value) -> Result<Map<String, Value>, KongError> {
        let mut config = config.as_object().cloned().unwrap_or_default();
        validate(&mut config).map(|()| config)
    }

    #[test]
    fn defaults_follow_kongs_schema() {
        let config = validated(&json!({"http_endpoint": "http://log:9/in"})).expect("valid");
        assert_eq!(config["method"], "POST");
        assert_eq!(config["content_type"], "application/json");
        assert_eq!(config["queue"]["max_batch_size"], 1);
        assert_eq!(config["queue"]["max_retry_time"], 60);
        assert_eq!(config["queue"]["initial_retry_delay"], 0.01);
    }

    #[test]
    fn refused_configurations_name_their_fields_as_kong_does() {
        let err = validated(&json!({
            "method": "GET",
            "headers": {"Host": "x", "X-Gatekey-Ingest-Secret": "s"},
            "queue": {"max_batch_size": 0}
        }))
        .expect_err("invalid");
        let KongError::Schema(problems) = err else {
            panic!("schema error expected");
        };
        let fields: Vec<&str> = problems.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "config.headers.Host",
                "config.http_endpoint",
                "config.method",
                "config.queue.max_batch_size"
            ]
        );
    }
}
