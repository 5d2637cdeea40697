//! The ingest of Kong's `http-log` entries in tests: a Gatekey configured with an ingest secret on
//! its operators' listener, and the Kong simulator's `http-log` plugin pointed at it, as an
//! operator's decK file would configure a real Kong.

use std::path::Path;

use anyhow::{Context as _, bail};
use gatekey_app::IngestCapacity;
use gatekey_server::config::{IngestSettings, Settings};
use serde_json::{Value, json};

use crate::Stack;

/// The secret the tests' Kong sends (at least 32 bytes, as Gatekey requires).
pub const INGEST_SECRET: &str = "ingest-secret-of-the-test-gateway-0123456789";
/// The previous secret, still accepted during a rotation.
pub const PREVIOUS_INGEST_SECRET: &str = "previous-ingest-secret-of-the-gateway-98765";
/// Where Kong posts its log entries, on the operators' listener.
pub const INGEST_PATH: &str = "/v1/ingest/kong-http-log";

/// Turns the ingest on in `settings`, with both secrets written to files under `dir`, and the
/// operators' listener it is served on.
pub fn configure_ingest(settings: &mut Settings, dir: &Path) {
    let write = |name: &str, secret: &str| {
        let path = dir.join(name);
        std::fs::write(&path, format!("{secret}\n")).expect("write the ingest secret file");
        path
    };
    settings.admin_listen = Some("127.0.0.1:0".parse().expect("address"));
    settings.ingest = Some(IngestSettings {
        secret_file: write("ingest-secret", INGEST_SECRET),
        previous_secret_file: Some(write("previous-ingest-secret", PREVIOUS_INGEST_SECRET)),
        body_limit_bytes: 256 * 1024,
        max_entries: 100,
        max_concurrent_writes: IngestCapacity::default().max_concurrent_writes,
        max_waiting_batches: IngestCapacity::default().max_waiting_batches,
        mint_patience_ms: u64::try_from(IngestCapacity::default().mint_patience.as_millis())
            .expect("a patience of milliseconds"),
    });
}

/// The ingest endpoint's URL on the stack's operators' listener.
pub fn ingest_url(stack: &Stack) -> anyhow::Result<String> {
    let admin = stack
        .admin_url
        .as_deref()
        .context("the stack has no operators' listener")?;
    Ok(format!("{admin}{INGEST_PATH}"))
}

/// Adds a global `http-log` plugin to the stack's Kong simulator that posts batches of up to
/// `max_batch_size` entries to Gatekey's ingest endpoint with the ingest secret.
pub async fn enable_http_log(stack: &Stack, max_batch_size: u32) -> anyhow::Result<()> {
    let response = stack
        .http
        .post(format!("{}/plugins", stack.kong.admin_url()))
        .json(&json!({
            "name": "http-log",
            "config": {
                "http_endpoint": ingest_url(stack)?,
                "headers": {"X-Gatekey-Ingest-Secret": INGEST_SECRET},
                "queue": {"max_batch_size": max_batch_size, "max_coalescing_delay": 0.1,
                          "initial_retry_delay": 0.05, "max_retry_time": 5},
            },
        }))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!(
            "Kong refused the http-log plugin: {} {}",
            response.status(),
            response.text().await?
        );
    }
    Ok(())
}

/// A Kong log entry of `consumer` (`id`, `custom_id`) with the key in its headers.
pub fn kong_log_entry(request_id: &str, consumer_id: &str, custom_id: &str, key: &str) -> Value {
    json!({
        "request": {
            "id": request_id, "method": "GET", "uri": format!("/orders/1?apikey={key}"),
            "url": format!("http://gateway/orders/1?apikey={key}"),
            "querystring": {"apikey": key}, "headers": {"apikey": key}, "size": 10
        },
        "upstream_uri": "/orders/1",
        "response": {"status": 200, "headers": {}, "size": 2},
        "latencies": {"kong": 1, "proxy": 3, "request": 5, "receive": 0},
        "route": {"id": "r", "name": "orders-read"},
        "service": {"id": "s", "name": "orders"},
        "consumer": {"id": consumer_id, "username": format!("gatekey-{custom_id}"),
                     "custom_id": custom_id, "tags": ["gatekey"]},
        "client_ip": "10.0.0.7",
        "started_at": 1_700_000_000_000_i64,
    })
}
