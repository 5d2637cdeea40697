//! OpenTelemetry export: with `log.otlp_endpoint` set, request spans reach an OTLP/HTTP receiver
//! (a real HTTP server on a socket, recording what arrives), and no minted key or bearer token
//! travels with them. Its own test binary, because the tracing subscriber is process-wide.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use gatekey_e2e::Stack;
use gatekey_server::config::{LogFormat, LogSettings};
use gatekey_server::telemetry;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_are_exported_over_otlp_without_secrets() {
    let received: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let sink = Arc::clone(&received);
    let collector = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| async move {
            sink.lock().expect("sink").push(body);
            StatusCode::OK
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}/v1/traces", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let guard = telemetry::init(&LogSettings {
        format: LogFormat::Pretty,
        filter: "info".to_owned(),
        otlp_endpoint: Some(endpoint),
    })
    .expect("telemetry");

    let stack = Stack::start().await.expect("stack");
    let token = stack.token("user:default/jane", &["payments-team"]);
    let (status, minted) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(&token),
            Some(&json!({"scopes": ["read"], "ttl_seconds": 60})),
        )
        .await
        .expect("mint");
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let key = minted["key"].as_str().expect("key").to_owned();
    stack.stop().await;

    // Dropping the guard flushes the batch exporter; it blocks, so off the async workers.
    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .expect("flush");

    let batches = received.lock().expect("received").clone();
    assert!(!batches.is_empty(), "no OTLP export arrived");
    let exported: Vec<u8> = batches.iter().flat_map(|b| b.iter().copied()).collect();
    let contains = |needle: &str| {
        exported
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    };
    assert!(contains("gatekey"), "the service name is exported");
    assert!(
        contains("/v1/apis/orders/credentials"),
        "the mint request's span is exported"
    );
    assert!(contains("user:default/jane"), "the span names the subject");
    assert!(!contains(&key), "a minted key reached the trace exporter");
    assert!(
        !contains(&token),
        "a bearer token reached the trace exporter"
    );
}
