//! The first working slice end to end: tokens from a real OpenID provider, the real service,
//! MongoDB, and Kong (simulated) enforcing the minted keys.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::time::Duration;

use gatekey_e2e::Stack;
use gatekey_kong_sim::Fault;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn mint(stack: &Stack, token: &str, body: &Value) -> (StatusCode, Value) {
    stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(token),
            Some(body),
        )
        .await
        .expect("mint call")
}

#[tokio::test]
async fn api_list_shows_only_apis_and_scopes_the_callers_groups_may_request() {
    let stack = Stack::start().await.expect("stack");
    let payments = stack.token("user:default/jane", &["payments-team"]);
    let (status, body) = stack
        .call(Method::GET, "/v1/apis", Some(&payments), None)
        .await
        .expect("list");
    assert_eq!(status, StatusCode::OK);
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{body}");
    assert_eq!(items[0]["id"], "orders");
    assert_eq!(
        items[0]["scopes"],
        json!([{"name": "read", "description": ""}])
    );
    assert_eq!(items[0]["max_ttl_seconds"], 3600);
    assert_eq!(items[0]["entity_ref"], "api:default/orders");

    let nobody = stack.token("user:default/nobody", &["interns"]);
    let (_, body) = stack
        .call(Method::GET, "/v1/apis", Some(&nobody), None)
        .await
        .expect("list");
    assert_eq!(body["items"], json!([]));
    let (status, body) = stack
        .call(Method::GET, "/v1/apis/billing", Some(&payments), None)
        .await
        .expect("get");
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    stack.stop().await;
}

#[tokio::test]
async fn minted_key_works_on_granted_routes_only_and_stops_after_revoke() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (status, minted) = mint(
        &stack,
        &jane,
        &json!({"scopes": ["read"], "ttl_seconds": 300, "purpose": "e2e"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let key = minted["key"].as_str().expect("key");
    assert!(key.starts_with("gk_"));
    assert_eq!(minted["header_name"], "apikey");
    assert_eq!(minted["credential"]["state"], "active");
    assert_eq!(minted["credential"]["scopes"], json!(["read"]));
    let fingerprint = minted["credential"]["key_fingerprint"]
        .as_str()
        .expect("fingerprint");
    assert!(fingerprint.starts_with("sha256:") && !fingerprint.contains(key));

    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", key)
            .await
            .expect("read"),
        StatusCode::OK
    );
    assert_eq!(
        stack
            .call_gateway(Method::POST, "/orders", key)
            .await
            .expect("write"),
        StatusCode::FORBIDDEN,
        "a read key must not reach the write route"
    );

    let id = minted["credential"]["id"].as_str().expect("id");
    let (status, revoked) = stack
        .call(
            Method::DELETE,
            &format!("/v1/credentials/{id}"),
            Some(&jane),
            None,
        )
        .await
        .expect("revoke");
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["state"], "revoked");
    // The simulator's proxy learns of the deletion at once (its db_update_frequency is 0 here);
    // other nodes of a real Kong cluster refuse the key only once they see the deletion, within
    // db_update_frequency (docs/operations.md, "What a client can rely on").
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", key)
            .await
            .expect("after revoke"),
        StatusCode::UNAUTHORIZED
    );
    let (status, again) = stack
        .call(
            Method::DELETE,
            &format!("/v1/credentials/{id}"),
            Some(&jane),
            None,
        )
        .await
        .expect("revoke twice");
    assert_eq!(
        (status, &again["state"]),
        (StatusCode::OK, &json!("revoked"))
    );
    assert!(
        stack
            .kong_consumers_tagged(&format!("gatekey-issuance:{id}"))
            .await
            .expect("kong")
            .is_empty()
    );
    stack.stop().await;
}

#[tokio::test]
async fn key_stops_working_when_its_ttl_passes_and_the_record_reads_expired() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (status, minted) = mint(
        &stack,
        &jane,
        &json!({"scopes": ["read"], "ttl_seconds": 3}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let key = minted["key"].as_str().expect("key");
    // Kong counts the ttl from the whole second it created the key and refuses the key once its
    // remaining ttl reads 0: a 3 s key works for at least its first second, and is refused by
    // the time Gatekey's `expires_at` passes.
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", key)
            .await
            .expect("read"),
        StatusCode::OK
    );
    // Real time, not only the simulator's clock: Gatekey's own record must also read expired.
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", key)
            .await
            .expect("after ttl"),
        StatusCode::UNAUTHORIZED
    );
    let id = minted["credential"]["id"].as_str().expect("id");
    let (_, record) = stack
        .call(
            Method::GET,
            &format!("/v1/credentials/{id}"),
            Some(&jane),
            None,
        )
        .await
        .expect("get");
    assert_eq!(record["state"], "expired");
    stack.stop().await;
}

#[tokio::test]
async fn denials_carry_their_reason_and_status() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let cases = [
        (
            "/v1/apis/orders/credentials",
            json!({"scopes": ["write"]}),
            StatusCode::FORBIDDEN,
            "scope_not_allowed",
        ),
        (
            "/v1/apis/billing/credentials",
            json!({"scopes": ["read"]}),
            StatusCode::FORBIDDEN,
            "scope_not_allowed",
        ),
        (
            "/v1/apis/orders/credentials",
            json!({"scopes": ["read"], "ttl_seconds": 3601}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "ttl_above_max",
        ),
        (
            "/v1/apis/nope/credentials",
            json!({"scopes": ["read"]}),
            StatusCode::NOT_FOUND,
            "unknown_api",
        ),
        (
            "/v1/apis/orders/credentials",
            json!({"scopes": ["delete"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_scope",
        ),
        (
            "/v1/apis/orders/credentials",
            json!({"scopes": []}),
            StatusCode::BAD_REQUEST,
            "no_scopes_requested",
        ),
        (
            "/v1/apis/orders/credentials",
            json!({"scopes": "read"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ];
    for (path, body, expected_status, code) in cases {
        let (status, problem) = stack
            .call(Method::POST, path, Some(&jane), Some(&body))
            .await
            .expect("call");
        assert_eq!(status, expected_status, "{path} {body}: {problem}");
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(problem["status"], expected_status.as_u16());
        assert_eq!(problem["type"], format!("urn:gatekey:problem:{code}"));
    }
    // Every denial of a mint is in the audit trail with its reason.
    let admin = stack.token("user:default/root", &["platform-admins"]);
    let (_, audit) = stack
        .call(
            Method::GET,
            "/v1/audit?subject=user:default/jane&decision=deny",
            Some(&admin),
            None,
        )
        .await
        .expect("audit");
    let reasons: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    for reason in [
        "scope_not_allowed",
        "ttl_above_max",
        "unknown_api",
        "unknown_scope",
        "no_scopes_requested",
    ] {
        assert!(
            reasons.contains(&reason),
            "{reason} missing from {reasons:?}"
        );
    }
    assert!(
        stack
            .kong_consumers_tagged("gatekey")
            .await
            .expect("kong")
            .is_empty(),
        "nothing may reach Kong"
    );
    stack.stop().await;
}

#[tokio::test]
async fn kong_failure_mid_mint_leaves_no_consumer_and_a_failed_record() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    stack.kong.inject_fault(Fault {
        method: Method::PUT,
        path_contains: "/key-auth".to_owned(),
        status: 500,
        times: 1,
    });
    let (status, problem) = mint(&stack, &jane, &json!({"scopes": ["read"]})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{problem}");
    assert_eq!(problem["code"], "kong_unavailable");
    assert!(problem.get("key").is_none());
    assert!(
        stack
            .kong_consumers_tagged("gatekey")
            .await
            .expect("kong")
            .is_empty(),
        "consumer rolled back"
    );
    let (_, list) = stack
        .call(Method::GET, "/v1/credentials", Some(&jane), None)
        .await
        .expect("list");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["state"], "failed");
    assert!(items[0]["key_fingerprint"].is_null());
    stack.stop().await;
}

#[tokio::test]
async fn audit_tells_the_whole_story_of_one_credential() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (_, minted) = mint(&stack, &jane, &json!({"scopes": ["read"]})).await;
    let id = minted["credential"]["id"].as_str().expect("id").to_owned();
    stack
        .call(
            Method::DELETE,
            &format!("/v1/credentials/{id}"),
            Some(&jane),
            None,
        )
        .await
        .expect("revoke");

    let admin = stack.token("user:default/root", &["platform-admins"]);
    let (status, audit) = stack
        .call(
            Method::GET,
            &format!("/v1/audit?issuance_id={id}"),
            Some(&admin),
            None,
        )
        .await
        .expect("audit");
    assert_eq!(status, StatusCode::OK, "{audit}");
    let story: Vec<(String, String)> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_owned(),
                e["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    // Newest first.
    assert_eq!(
        story,
        [
            ("revoke".into(), "revoked".into()),
            ("mint".into(), "issued".into()),
            ("mint".into(), "granted".into())
        ]
    );
    for event in audit["items"].as_array().expect("items") {
        assert_eq!(event["subject"], "user:default/jane");
        assert!(event["request_id"].is_string(), "{event}");
    }
    // Non-admins may not read the audit trail, and that refusal is itself audited.
    let (status, problem) = stack
        .call(Method::GET, "/v1/audit", Some(&jane), None)
        .await
        .expect("audit");
    assert_eq!(
        (status, &problem["code"]),
        (StatusCode::FORBIDDEN, &json!("not_admin"))
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_user_cannot_see_or_revoke_another_users_credential() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let bob = stack.token("user:default/bob", &["payments-team"]);
    let (_, minted) = mint(&stack, &jane, &json!({"scopes": ["read"]})).await;
    let id = minted["credential"]["id"].as_str().expect("id");
    let key = minted["key"].as_str().expect("key");

    let (status, _) = stack
        .call(
            Method::GET,
            &format!("/v1/credentials/{id}"),
            Some(&bob),
            None,
        )
        .await
        .expect("get");
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = stack
        .call(
            Method::DELETE,
            &format!("/v1/credentials/{id}"),
            Some(&bob),
            None,
        )
        .await
        .expect("revoke");
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", key)
            .await
            .expect("still works"),
        StatusCode::OK
    );
    let (_, list) = stack
        .call(Method::GET, "/v1/credentials", Some(&bob), None)
        .await
        .expect("list");
    assert_eq!(list["items"], json!([]));
    let (status, _) = stack
        .call(
            Method::GET,
            "/v1/credentials?subject=user:default/jane",
            Some(&bob),
            None,
        )
        .await
        .expect("list other");
    assert_eq!(status, StatusCode::FORBIDDEN);

    // An admin sees and may revoke anyone's.
    let admin = stack.token("user:default/root", &["platform-admins"]);
    let (_, list) = stack
        .call(
            Method::GET,
            "/v1/credentials?subject=user:default/jane",
            Some(&admin),
            None,
        )
        .await
        .expect("admin list");
    assert_eq!(list["items"][0]["id"], *id);
    let (status, _) = stack
        .call(
            Method::DELETE,
            &format!("/v1/credentials/{id}"),
            Some(&admin),
            None,
        )
        .await
        .expect("admin revoke");
    assert_eq!(status, StatusCode::OK);
    stack.stop().await;
}

#[tokio::test]
async fn credentials_list_pages_newest_first_without_gaps() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (status, minted) = mint(&stack, &jane, &json!({"scopes": ["read"]})).await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(minted["credential"]["id"].as_str().expect("id").to_owned());
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/credentials?limit=2&cursor={c}"),
            None => "/v1/credentials?limit=2".to_owned(),
        };
        let (status, page) = stack
            .call(Method::GET, &path, Some(&jane), None)
            .await
            .expect("page");
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|c| c["id"].as_str().expect("id").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let (status, problem) = stack
        .call(Method::GET, "/v1/credentials?limit=0", Some(&jane), None)
        .await
        .expect("bad limit");
    assert_eq!(
        (status, &problem["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_query"))
    );
    stack.stop().await;
}
