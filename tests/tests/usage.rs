//! Usage from the gateway (issue 18): Kong's `http-log` plugin (the simulator's, configured as an
//! operator would) posts each call made with a minted key to Gatekey's ingest endpoint on the
//! operators' listener, and the call appears on the credential: its counters, its latest calls,
//! its summary in listings. The key, which Kong's log carries in the request headers and the
//! query string, is found nowhere afterwards. Bad input to the ingest endpoint is refused with a
//! clear 4xx and stores nothing. A batch the ingest has no room for is refused at once with 503
//! and `Retry-After`, and stored exactly once when Kong posts it again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::time::Duration;

use gatekey_e2e::ingest::{
    INGEST_SECRET, PREVIOUS_INGEST_SECRET, configure_ingest, enable_http_log, ingest_url,
    kong_log_entry,
};
use gatekey_e2e::logs::CapturedLogs;
use gatekey_e2e::{KONG_CONFIG, Mongo, POLICY, Stack, metric_sample, operators_metrics};
use mongodb::bson::doc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn start() -> (Stack, tempfile::TempDir) {
    let secrets = tempfile::tempdir().expect("temp dir");
    let stack = Stack::start_with(gatekey_e2e::POLICY, |settings| {
        configure_ingest(settings, secrets.path());
    })
    .await
    .expect("stack");
    (stack, secrets)
}

/// Mints a read credential of `orders` for `token`; its id and key.
async fn mint(stack: &Stack, token: &str) -> (String, String) {
    let (status, minted) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(token),
            Some(&json!({"scopes": ["read"], "ttl_seconds": 600, "purpose": "usage test"})),
        )
        .await
        .expect("mint");
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    (
        minted["credential"]["id"].as_str().expect("id").to_owned(),
        minted["key"].as_str().expect("key").to_owned(),
    )
}

async fn usage(stack: &Stack, token: &str, id: &str) -> Value {
    let (status, usage) = stack
        .call(
            Method::GET,
            &format!("/v1/credentials/{id}/usage"),
            Some(token),
            None,
        )
        .await
        .expect("usage");
    assert_eq!(status, StatusCode::OK, "{usage}");
    usage
}

#[tokio::test]
async fn calls_through_the_gateway_appear_on_their_credential_and_the_key_nowhere() {
    let logs = CapturedLogs::install();
    let (stack, _secrets) = start().await;
    enable_http_log(&stack, 10).await.expect("http-log");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (id, key) = mint(&stack, &jane).await;
    let (unused_id, _) = mint(&stack, &jane).await;

    let before = usage(&stack, &jane, &id).await;
    assert_eq!(before["summary"]["calls"], 0, "{before}");
    assert_eq!(before["recent"], json!([]));

    call_through_the_gateway(&stack, &key).await;

    // Kong's queue sends them within its coalescing delay (0.1 s here).
    let waited = std::time::Instant::now();
    let seen = loop {
        let seen = usage(&stack, &jane, &id).await;
        if seen["summary"]["calls"] == 3 || waited.elapsed() > Duration::from_secs(10) {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        seen["summary"]["calls"], 3,
        "the calls never arrived: {seen}"
    );
    let summary = &seen["summary"];
    assert_eq!(summary["success"], 2, "{seen}");
    assert_eq!(summary["client_error"], 1, "{seen}");
    assert!(summary["first_used_at"].is_string() && summary["last_used_at"].is_string());
    let recent = seen["recent"].as_array().expect("recent calls");
    assert_eq!(recent.len(), 3, "{seen}");
    let mut paths: Vec<&str> = recent.iter().filter_map(|c| c["path"].as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/orders", "/orders/42", "/orders/43"], "{seen}");
    let write = recent
        .iter()
        .find(|call| call["method"] == "POST")
        .expect("the refused write");
    assert_eq!(write["status"], 403);
    assert_eq!(write["route"], "orders-write");
    assert_eq!(write["service"], "orders");
    assert_eq!(write["client_ip"], "127.0.0.1");

    // Listings carry the summary: the used key and the never-used one.
    let (status, page) = stack
        .call(Method::GET, "/v1/credentials", Some(&jane), None)
        .await
        .expect("list");
    assert_eq!(status, StatusCode::OK);
    let brief = |credential_id: &str| {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|item| item["id"] == credential_id)
            .map(|item| item["usage"].clone())
            .expect("listed")
    };
    assert_eq!(brief(&id)["calls"], 3, "{page}");
    assert_eq!(brief(&id)["errors"], 1, "{page}");
    assert_eq!(brief(&unused_id)["calls"], 0, "{page}");
    assert!(brief(&unused_id)["last_used_at"].is_null(), "{page}");

    // Someone else's credential: not found, as for every other read.
    let bob = stack.token("user:default/bob", &["payments-team"]);
    let (status, _) = stack
        .call(
            Method::GET,
            &format!("/v1/credentials/{id}/usage"),
            Some(&bob),
            None,
        )
        .await
        .expect("usage");
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The key is nowhere: not in MongoDB, the log, /metrics, or any answer.
    let (stored, collections) = stack.every_stored_document().await.expect("documents");
    assert!(collections.iter().any(|name| name == "usage_entries"));
    assert!(!stored.contains(&key), "the key reached MongoDB");
    assert!(
        !stored.contains("apikey"),
        "a header or query name reached MongoDB"
    );
    let metrics = admin_metrics(&stack).await;
    assert!(!metrics.contains(&key));
    // The recorder is process-wide: the other test's entries count there too.
    let stored_total = metric_sample(&metrics, "gatekey_usage_entries_total{outcome=\"stored\"}");
    assert!(stored_total.is_some_and(|n| n >= 3.0), "{metrics}");
    assert!(!logs.text().contains(&key), "the key reached the log");
    assert!(!seen.to_string().contains(&key) && !page.to_string().contains(&key));
    stack.stop().await;
}

/// Four calls with `key` through the simulator's proxy: the key in the header, then in the query
/// string; a refused write (ACL 403); a call without a key (anonymous, refused by key-auth: no
/// consumer, so dropped by the ingest).
async fn call_through_the_gateway(stack: &Stack, key: &str) {
    let proxy = stack.kong.proxy_url();
    let header_call = stack
        .http
        .get(format!("{proxy}/orders/42?expand=lines"))
        .header("apikey", key)
        .send()
        .await
        .expect("call");
    assert_eq!(header_call.status(), StatusCode::OK);
    let query_call = stack
        .http
        .get(format!("{proxy}/orders/43?apikey={key}"))
        .send()
        .await
        .expect("call");
    assert_eq!(query_call.status(), StatusCode::OK);
    let refused = stack
        .call_gateway(Method::POST, "/orders", key)
        .await
        .expect("call");
    assert_eq!(refused, StatusCode::FORBIDDEN);
    let anonymous = stack
        .http
        .get(format!("{proxy}/orders"))
        .send()
        .await
        .expect("call");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

async fn admin_metrics(stack: &Stack) -> String {
    let admin = stack.admin_url.as_deref().expect("operators' listener");
    operators_metrics(&stack.http, admin)
        .await
        .expect("metrics")
}

async fn post(
    stack: &Stack,
    secret: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let (status, _, answer) = post_for_headers(stack, secret, content_type, body).await;
    (status, answer)
}

/// [`post`], with the answer's headers.
async fn post_for_headers(
    stack: &Stack,
    secret: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = stack
        .http
        .post(ingest_url(stack).expect("ingest url"))
        .header("content-type", content_type)
        .body(body);
    if let Some(secret) = secret {
        request = request.header("X-Gatekey-Ingest-Secret", secret);
    }
    let response = request.send().await.expect("post");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The id of the Kong consumer of credential `id`.
async fn consumer_of(stack: &Stack, id: &str) -> String {
    stack
        .kong_consumers_tagged(&format!("gatekey-issuance:{id}"))
        .await
        .expect("consumers")[0]["id"]
        .as_str()
        .expect("consumer id")
        .to_owned()
}

/// Asserts `/metrics` holds `series` at 1 or more.
async fn assert_counted(stack: &Stack, series: &str) {
    let metrics = admin_metrics(stack).await;
    assert!(
        metric_sample(&metrics, series).is_some_and(|n| n >= 1.0),
        "{series}: {metrics}"
    );
}

async fn stored_entries(stack: &Stack) -> usize {
    stack
        .stored("usage_entries", doc! {})
        .await
        .expect("entries")
        .len()
}

#[tokio::test]
async fn forged_or_malformed_posts_are_refused_clearly_and_store_nothing() {
    let (stack, _secrets) = start().await;
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (id, key) = mint(&stack, &jane).await;
    let genuine = kong_log_entry("r-1", &consumer_of(&stack, &id).await, &id, &key);
    let json = |value: &Value| serde_json::to_vec(value).expect("json");

    // Without the secret, or with a wrong or shortened one: 401, nothing read or stored.
    for secret in [None, Some("wrong-secret"), Some(&INGEST_SECRET[1..])] {
        let (status, answer) = post(&stack, secret, "application/json", json(&genuine)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(answer["code"], "ingest_secret_required");
    }
    assert_eq!(stored_entries(&stack).await, 0);

    // Not JSON, not sent as JSON, neither an object nor an array, too large, too many.
    let refusals = [
        (
            "application/json",
            b"{\"request\":".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "text/plain",
            json(&genuine),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "application/json",
            b"\"entry\"".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "application/json",
            vec![b' '; 300 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "application/json",
            json(&Value::Array(vec![genuine.clone(); 101])),
            StatusCode::BAD_REQUEST,
            "too_many_entries",
        ),
    ];
    for (content_type, body, expected, code) in refusals {
        let (status, answer) = post(&stack, Some(INGEST_SECRET), content_type, body).await;
        assert_eq!(status, expected, "{answer}");
        assert_eq!(answer["code"], code, "{answer}");
        assert!(!answer.to_string().contains(&key), "{answer}");
    }
    assert_eq!(stored_entries(&stack).await, 0);
    assert_counted(
        &stack,
        "gatekey_usage_ingest_refusals_total{reason=\"secret\"}",
    )
    .await;

    stack.stop().await;
}

#[tokio::test]
async fn entries_of_consumers_gatekey_did_not_mint_are_dropped() {
    let (stack, _secrets) = start().await;
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (id, key) = mint(&stack, &jane).await;
    let genuine = kong_log_entry("r-1", &consumer_of(&stack, &id).await, &id, &key);
    let json = |value: &Value| serde_json::to_vec(value).expect("json");
    // Consumers Gatekey did not mint, or that claim a credential with another consumer's id:
    // dropped and counted, nothing stored.
    let foreign = kong_log_entry(
        "r-2",
        "8c1f0c2e-0000-4000-8000-000000000000",
        "team-bot",
        &key,
    );
    let forged = kong_log_entry("r-3", "8c1f0c2e-0000-4000-8000-000000000001", &id, &key);
    let mut anonymous = genuine.clone();
    anonymous.as_object_mut().expect("entry").remove("consumer");
    let (status, answer) = post(
        &stack,
        Some(INGEST_SECRET),
        "application/json; charset=utf-8",
        json(&json!([foreign, forged, anonymous])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({"received": 3, "stored": 0, "duplicates": 0, "unknown_consumer": 2, "anonymous": 1})
    );
    assert_eq!(stored_entries(&stack).await, 0);
    assert_counted(
        &stack,
        "gatekey_usage_entries_total{outcome=\"unknown_consumer\"}",
    )
    .await;

    stack.stop().await;
}

#[tokio::test]
async fn the_same_entry_twice_counts_once_and_a_partly_bad_batch_says_what_was_accepted() {
    let (stack, _secrets) = start().await;
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (id, key) = mint(&stack, &jane).await;
    let genuine = kong_log_entry("r-1", &consumer_of(&stack, &id).await, &id, &key);
    let json = |value: &Value| serde_json::to_vec(value).expect("json");
    // One genuine entry (Kong's default: a single object), with the previous secret; then the
    // same entry again in a batch with an invalid one: counted once, the answer says what was
    // accepted.
    let (status, answer) = post(
        &stack,
        Some(PREVIOUS_INGEST_SECRET),
        "application/json",
        json(&genuine),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["stored"], 1, "{answer}");
    let mut invalid = genuine.clone();
    invalid["response"]["status"] = json!(key);
    let (status, answer) = post(
        &stack,
        Some(INGEST_SECRET),
        "application/json",
        json(&json!([genuine, invalid])),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["code"], "invalid_entries", "{answer}");
    let detail = answer["detail"].as_str().expect("detail");
    assert!(
        detail.contains("entry 1") && detail.contains("1 duplicates"),
        "{detail}"
    );
    assert!(!detail.contains(&key), "{detail}");
    assert_eq!(stored_entries(&stack).await, 1);
    let seen = usage(&stack, &jane, &id).await;
    assert_eq!(seen["summary"]["calls"], 1, "{seen}");
    assert_eq!(seen["recent"][0]["path"], "/orders/1", "{seen}");

    // Each test counts what it caused: the metrics recorder is shared by the tests of this file.
    assert_counted(&stack, "gatekey_usage_entries_total{outcome=\"duplicate\"}").await;
    stack.stop().await;
}

#[tokio::test]
async fn the_timeline_tells_a_credentials_story_in_order_with_who_revoked_it() {
    let (stack, _secrets) = start().await;
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let admin = stack.token("user:default/root", &["platform-admins"]);
    let (id, key) = mint(&stack, &jane).await;
    let mut call = kong_log_entry("r-1", &consumer_of(&stack, &id).await, &id, &key);
    call["started_at"] = json!(chrono::Utc::now().timestamp_millis());
    let (status, answer) = post(
        &stack,
        Some(INGEST_SECRET),
        "application/json",
        serde_json::to_vec(&call).expect("json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, revoked) = stack
        .call(
            Method::DELETE,
            &format!("/v1/credentials/{id}"),
            Some(&admin),
            None,
        )
        .await
        .expect("revoke");
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["usage"]["calls"], 1, "{revoked}");

    let (status, timeline) = stack
        .call(
            Method::GET,
            &format!("/v1/credentials/{id}/timeline"),
            Some(&jane),
            None,
        )
        .await
        .expect("timeline");
    assert_eq!(status, StatusCode::OK, "{timeline}");
    let events = timeline["events"].as_array().expect("events");
    let times: Vec<&str> = events
        .iter()
        .map(|event| {
            event["event"]["at"]
                .as_str()
                .or(event["call"]["at"].as_str())
                .expect("a time")
        })
        .collect();
    let parsed: Vec<chrono::DateTime<chrono::Utc>> = times
        .iter()
        .map(|at| at.parse().expect("RFC 3339"))
        .collect();
    assert!(parsed.is_sorted(), "{timeline}");
    let steps: Vec<String> = events
        .iter()
        .map(|event| match event["kind"].as_str() {
            Some("audit") => format!(
                "{}:{}",
                event["event"]["action"].as_str().unwrap_or("?"),
                event["event"]["subject"].as_str().unwrap_or("?")
            ),
            Some("call") => format!("call:{}", event["call"]["path"].as_str().unwrap_or("?")),
            other => panic!("unknown kind {other:?}: {timeline}"),
        })
        .collect();
    let call_at = steps
        .iter()
        .position(|s| s == "call:/orders/1")
        .expect("the call");
    let mint_at = steps
        .iter()
        .position(|s| s == "mint:user:default/jane")
        .expect("the mint");
    let revoke_at = steps
        .iter()
        .position(|s| s == "revoke:user:default/root")
        .expect("the revocation, by the admin");
    assert!(mint_at < call_at && call_at < revoke_at, "{steps:?}");
    assert_eq!(timeline["usage"]["calls"], 1);
    assert!(!timeline.to_string().contains(&key));
    stack.stop().await;
}

#[tokio::test]
async fn credentials_that_expire_unused_are_counted_when_the_reconciler_reaps_them() {
    let rig = gatekey_e2e::rig::Rig::start().await.expect("rig");
    let gatekey = rig.serve(&rig.settings()).await.expect("gatekey");
    let token = rig.token("user:default/jane", &["payments-team"]);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let minted = rig
            .mint(
                &gatekey.url,
                &token,
                &json!({"scopes": ["read"], "ttl_seconds": 1}),
                None,
            )
            .await
            .expect("mint");
        assert_eq!(minted.status, StatusCode::CREATED, "{}", minted.body);
        let id: gatekey_core::issuance::IssuanceId = minted.body["credential"]["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("credential id");
        ids.push(id);
    }
    // The first one was used once (recorded as the ingest records a call); the second never.
    let store = rig.store().await.expect("store");
    let used = gatekey_core::usage::UsageEntry {
        id: "call-of-the-first-credential".to_owned(),
        issuance_id: ids[0],
        at: chrono::Utc::now(),
        method: "GET".to_owned(),
        route: Some("orders-read".to_owned()),
        service: Some("orders".to_owned()),
        path: "/orders".to_owned(),
        status: 200,
        latencies: gatekey_core::usage::Latencies {
            request_ms: 3,
            upstream_ms: Some(2),
            gateway_ms: 1,
        },
        client_ip: None,
    };
    store
        .usage()
        .record(&[used], &std::collections::HashMap::new())
        .await
        .expect("record a call");

    let unused_metric = "gatekey_credentials_unused_at_expiry_total";
    let waited = std::time::Instant::now();
    let counted = loop {
        let metrics = rig
            .http
            .get(format!("{}/metrics", gatekey.url))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        let counted = metric_sample(&metrics, unused_metric);
        // Both consumers gone: both credentials were reaped (and counted right after).
        let reaped = rig.consumers().await.expect("consumers").is_empty();
        if (reaped && counted.is_some_and(|n| n >= 1.0))
            || waited.elapsed() > Duration::from_secs(15)
        {
            break counted;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(counted, Some(1.0), "only the never-used credential counts");
    gatekey.stop().await;
}

#[tokio::test]
async fn a_batch_without_room_is_refused_at_once_and_stored_once_when_posted_again() {
    // One writing batch, none waiting: while MongoDB is frozen, the batch Gatekey admitted holds
    // the ingest's only slot, so the other is refused at once, whichever of the two came first.
    let secrets = tempfile::tempdir().expect("temp dir");
    let stack = Stack::start_on(
        Mongo::start_private().expect("private mongo"),
        POLICY,
        |echo_url| KONG_CONFIG.replace("UPSTREAM", echo_url),
        |settings| {
            configure_ingest(settings, secrets.path());
            let ingest = settings.ingest.as_mut().expect("ingest");
            ingest.max_concurrent_writes = 1;
            ingest.max_waiting_batches = 0;
        },
    )
    .await
    .expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (id, key) = mint(&stack, &jane).await;
    let consumer = consumer_of(&stack, &id).await;
    let batch = |request_id: &str| {
        serde_json::to_vec(&json!([kong_log_entry(request_id, &consumer, &id, &key)]))
            .expect("json")
    };
    // The racing posts borrow the stack: this block ends the borrow before the stack stops.
    {
        let send = |body: Vec<u8>| {
            Box::pin(post_for_headers(
                &stack,
                Some(INGEST_SECRET),
                "application/json",
                body,
            ))
        };

        stack.mongo.freeze().expect("SIGSTOP");
        let first = send(batch("r-first"));
        let second = send(batch("r-second"));
        let raced = tokio::time::timeout(
            Duration::from_secs(10),
            futures::future::select(first, second),
        )
        .await;
        let Ok(raced) = raced else {
            stack.mongo.thaw().expect("SIGCONT");
            panic!("neither batch was refused while the other held the ingest's only slot");
        };
        let (refused, refused_batch, admitted) = match raced {
            futures::future::Either::Left((done, pending)) => (done, batch("r-first"), pending),
            futures::future::Either::Right((done, pending)) => (done, batch("r-second"), pending),
        };
        let (status, headers, answer) = refused;
        stack.mongo.thaw().expect("SIGCONT");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
        assert_eq!(answer["code"], "ingest_busy", "{answer}");
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let retry_after: u64 = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!(retry_after >= 1, "{retry_after}");

        // MongoDB is back: the admitted batch is stored; the refused one, posted again as Kong's
        // queue does, is stored once, and a third post of it stores nothing more.
        let (status, _, answer) = admitted.await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["stored"], 1, "{answer}");
        let (status, _, answer) = send(refused_batch.clone()).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            (answer["stored"].as_u64(), answer["duplicates"].as_u64()),
            (Some(1), Some(0)),
            "{answer}"
        );
        let (status, _, answer) = send(refused_batch).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            (answer["stored"].as_u64(), answer["duplicates"].as_u64()),
            (Some(0), Some(1)),
            "{answer}"
        );
        assert_eq!(stored_entries(&stack).await, 2);
        let seen = usage(&stack, &jane, &id).await;
        assert_eq!(seen["summary"]["calls"], 2, "{seen}");
        assert_counted(&stack, "gatekey_usage_ingest_shed_total").await;
    }
    stack.stop().await;
}
