//! Secret hygiene (issue 5, guarantee 7): a minted key is shown once, in the mint response, and
//! nowhere else. This test captures everything the service logs (JSON lines at `debug`, every
//! crate) while it mints, fails to mint and revokes, then scans the logs, the audit trail (through
//! the API and in MongoDB), every MongoDB collection, `/metrics` and every error body for the keys
//! and for anything shaped like a Gatekey key, and for the callers' bearer tokens.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use gatekey_e2e::Stack;
use gatekey_e2e::logs::CapturedLogs;
use gatekey_kong_sim::Fault;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Everything a caller was told when a request failed.
#[derive(Debug, Default)]
struct ErrorBodies(Vec<String>);

impl ErrorBodies {
    async fn call(
        &mut self,
        stack: &Stack,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let (status, json) = stack.call(method, path, token, body).await.expect("call");
        if !status.is_success() {
            self.0.push(format!("{status} {json}"));
        }
        (status, json)
    }
}

/// Finds `gk_` followed by 43 base64url characters: the shape of every key Gatekey mints.
fn key_shaped(text: &str) -> Option<&str> {
    text.match_indices("gk_").find_map(|(at, _)| {
        let candidate = text.get(at..at + 46)?;
        candidate[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            .then_some(candidate)
    })
}

async fn every_audit_event(stack: &Stack, admin: &str) -> String {
    let mut all = String::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/audit?limit=200&cursor={cursor}"),
            None => "/v1/audit?limit=200".to_owned(),
        };
        let (status, page) = stack
            .call(Method::GET, &path, Some(admin), None)
            .await
            .expect("audit");
        assert_eq!(status, StatusCode::OK, "{page}");
        all.push_str(&page["items"].to_string());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

/// Mints that succeed, mints that fail after the key was generated, refused mints, revocations
/// (own, twice; someone else's; an admin's), a key sent as a bearer token, and listings. Returns
/// the minted keys and credential ids.
async fn traffic(
    stack: &Stack,
    jane: &str,
    bob: &str,
    admin: &str,
    errors: &mut ErrorBodies,
) -> (Vec<String>, Vec<String>) {
    let mut keys = Vec::new();
    let mut ids = Vec::new();

    // Mints that succeed.
    for (token, scopes) in [
        (jane, json!(["read"])),
        (jane, json!(["read", "write"])),
        (bob, json!(["read"])),
    ] {
        let (status, minted) = errors
            .call(
                stack,
                Method::POST,
                "/v1/apis/orders/credentials",
                Some(token),
                Some(&json!({"scopes": scopes, "ttl_seconds": 300, "purpose": "hygiene"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{minted}");
        keys.push(minted["key"].as_str().expect("key").to_owned());
        ids.push(minted["credential"]["id"].as_str().expect("id").to_owned());
    }

    // Mints that fail after a key was generated: Kong refuses the key-auth credential, then the
    // ACL groups (the key-auth credential was created and is rolled back with its consumer).
    for path in ["/key-auth", "/acls"] {
        stack.kong.inject_fault(Fault {
            method: Method::PUT,
            path_contains: path.to_owned(),
            status: 500,
            times: 1,
        });
        let (status, problem) = errors
            .call(
                stack,
                Method::POST,
                "/v1/apis/orders/credentials",
                Some(jane),
                Some(&json!({"scopes": ["read"]})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{path}: {problem}");
    }
    // Mints refused by the policy or the request checks.
    for (token, body) in [
        (bob, json!({"scopes": ["write"]})),
        (jane, json!({"scopes": ["read"], "ttl_seconds": 999_999})),
        (jane, json!({"scopes": ["nope"]})),
        (jane, json!({"scopes": []})),
    ] {
        let (status, _) = errors
            .call(
                stack,
                Method::POST,
                "/v1/apis/orders/credentials",
                Some(token),
                Some(&body),
            )
            .await;
        assert!(status.is_client_error(), "{body}: {status}");
    }

    // Revocations: one's own, twice; someone else's; an admin's.
    let own = format!("/v1/credentials/{}", ids[0]);
    for _ in 0..2 {
        let (status, revoked) = errors
            .call(stack, Method::DELETE, &own, Some(jane), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{revoked}");
    }
    let (status, _) = errors
        .call(
            stack,
            Method::DELETE,
            &format!("/v1/credentials/{}", ids[1]),
            Some(bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = errors
        .call(
            stack,
            Method::DELETE,
            &format!("/v1/credentials/{}", ids[2]),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // A key pasted where a bearer token belongs is refused without being echoed.
    let (status, _) = errors
        .call(stack, Method::GET, "/v1/me", Some(&keys[1]), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Reads of the records.
    for token in [jane, bob, admin] {
        let (status, _) = errors
            .call(stack, Method::GET, "/v1/credentials", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    (keys, ids)
}

#[tokio::test]
async fn minted_keys_never_reach_logs_audit_storage_metrics_or_error_bodies() {
    let logs = CapturedLogs::install();

    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team", "orders-team"]);
    let bob = stack.token("user:default/bob", &["payments-team"]);
    let admin = stack.token("user:default/root", &["platform-admins"]);
    let mut errors = ErrorBodies::default();
    let (keys, ids) = traffic(&stack, &jane, &bob, &admin, &mut errors).await;

    let audit = every_audit_event(&stack, &admin).await;
    assert!(
        audit.contains("issue_failed") && audit.contains("revoked"),
        "the audit trail saw the failures and revocations: {audit}"
    );
    let (stored, collections) = stack
        .every_stored_document()
        .await
        .expect("stored documents");
    assert!(
        collections.iter().any(|c| c == "issuances")
            && collections.iter().any(|c| c == "audit_events"),
        "{collections:?}"
    );
    for id in &ids {
        assert!(stored.contains(id.as_str()), "the scan reads the issuances");
    }
    let metrics = stack
        .http
        .get(format!("{}/metrics", stack.gatekey_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    stack.stop().await;
    let logs = logs.text();
    assert!(
        logs.contains("credential issued") && logs.contains("credential revoked"),
        "the capture saw the service's own log lines"
    );
    assert!(
        logs.contains("\"level\":\"DEBUG\""),
        "debug lines are captured too"
    );

    let places = [
        ("logs", &logs),
        ("audit API", &audit),
        ("MongoDB", &stored),
        ("/metrics", &metrics),
        ("error bodies", &errors.0.join("\n")),
    ];
    for (place, text) in places {
        for key in &keys {
            assert!(!text.contains(key.as_str()), "{place} contain a minted key");
        }
        assert_eq!(
            key_shaped(text),
            None,
            "{place} contain a key-shaped string"
        );
        for token in [&jane, &bob, &admin] {
            assert!(
                !text.contains(token.as_str()),
                "{place} contain a bearer token"
            );
        }
    }
}

#[test]
fn the_key_shape_finder_finds_keys_and_nothing_else() {
    let key = format!("gk_{}", "A1-_".repeat(11).get(..43).expect("43 chars"));
    assert_eq!(key_shaped(&format!("x{key}y")), Some(&key[..]));
    assert_eq!(key_shaped("gk_short and gk_"), None);
    assert_eq!(key_shaped(&format!("gk_{}", "*".repeat(43))), None);
}
