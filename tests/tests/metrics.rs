//! `/metrics` after real traffic: the business counters, the adapters' latency histograms and the
//! HTTP series are exposed in Prometheus text format, and no key, token or subject leaks into it.
//! The recorder is process-wide, so the assertions look for series and lower bounds, not exact
//! totals that another test in this binary could also move.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use gatekey_e2e::{Stack, metric_sample};
use reqwest::{Method, StatusCode, header};
use serde_json::json;

/// A mint, a denied mint, a revoke and an unmatched route; returns the key and the token used.
async fn generate_traffic(stack: &Stack) -> (String, String) {
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (status, minted) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(&jane),
            Some(&json!({"scopes": ["read"], "ttl_seconds": 300})),
        )
        .await
        .expect("mint");
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let key = minted["key"].as_str().expect("key").to_owned();
    let id = minted["credential"]["id"].as_str().expect("id").to_owned();
    let (status, _) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(&jane),
            Some(&json!({"scopes": ["write"], "ttl_seconds": 300})),
        )
        .await
        .expect("denied mint");
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = stack
        .call(
            Method::DELETE,
            &format!("/v1/credentials/{id}"),
            Some(&jane),
            None,
        )
        .await
        .expect("revoke");
    assert_eq!(status, StatusCode::OK);
    let (status, _) = stack
        .call(Method::GET, "/no/such/route", None, None)
        .await
        .expect("unmatched");
    assert_eq!(status, StatusCode::NOT_FOUND);

    (key, jane)
}

#[tokio::test]
async fn metrics_expose_decisions_mints_latencies_and_no_secrets() {
    let stack = Stack::start().await.expect("stack");
    let (key, jane) = generate_traffic(&stack).await;

    let response = stack
        .http
        .get(format!("{}/metrics", stack.gatekey_url))
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .expect("content type")
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.expect("body");

    for (series, at_least) in [
        (r#"gatekey_mints_total{api="orders",outcome="issued"}"#, 1.0),
        (r#"gatekey_revocations_total{api="orders"}"#, 1.0),
        (
            r#"gatekey_decisions_total{action="mint",decision="allow",reason="granted"}"#,
            1.0,
        ),
        (
            r#"gatekey_decisions_total{action="mint",decision="deny",reason="scope_not_allowed"}"#,
            1.0,
        ),
        (
            r#"gatekey_http_requests_total{method="POST",route="/v1/apis/{id}/credentials",status="201"}"#,
            1.0,
        ),
        (
            r#"gatekey_http_requests_total{method="GET",route="unmatched",status="404"}"#,
            1.0,
        ),
        (
            r#"gatekey_kong_request_duration_seconds_count{operation="PUT /consumers/{}"}"#,
            1.0,
        ),
        (
            r#"gatekey_kong_request_duration_seconds_count{operation="PUT /consumers/{}/key-auth/{}"}"#,
            1.0,
        ),
        (r#"gatekey_jwks_refreshes_total{issuer="test-idp"}"#, 1.0),
    ] {
        let value =
            metric_sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
        assert!(
            value >= at_least,
            "{series} = {value}, expected >= {at_least}"
        );
    }
    // The mint's batched writes: one `bulkWrite` per batch on MongoDB 8.0 and later, one
    // `insert` per collection of a batch before.
    let batched_writes = ["bulkWrite", "insert"]
        .into_iter()
        .filter_map(|operation| {
            metric_sample(
                &text,
                &format!(
                    r#"gatekey_mongodb_operation_duration_seconds_count{{operation="{operation}"}}"#
                ),
            )
        })
        .sum::<f64>();
    assert!(
        batched_writes >= 3.0,
        "MongoDB writes timed: {batched_writes}\n{text}"
    );
    assert!(
        text.contains(r#"gatekey_http_request_duration_seconds_bucket{method="POST",route="/v1/apis/{id}/credentials",le="0.005"}"#),
        "latency histograms use the configured buckets:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("gatekey_active_credentials ")),
        "the live credential gauge is exported:\n{text}"
    );
    for secret in [key.as_str(), jane.as_str(), "user:default/jane"] {
        assert!(!text.contains(secret), "/metrics leaks {secret}");
    }
    stack.stop().await;
}
