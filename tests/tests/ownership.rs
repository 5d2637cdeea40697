//! Authorization (issue 5, guarantee 7): a caller reads and revokes only their own credentials, and
//! another user's credential is indistinguishable from one that does not exist (404, same body),
//! so ids reveal nothing; admin-only endpoints refuse everybody else; ids are random ULIDs, not
//! counters, so they cannot be guessed from one another.

use gatekey_e2e::Stack;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use ulid::Ulid;

async fn mint(stack: &Stack, token: &str) -> Value {
    let (status, minted) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(token),
            Some(&json!({"scopes": ["read"], "ttl_seconds": 300})),
        )
        .await
        .expect("mint");
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    minted
}

/// Status and problem body, without the fields that differ per request.
async fn outcome(stack: &Stack, method: Method, path: &str, token: &str) -> (StatusCode, Value) {
    let (status, body) = stack
        .call(method, path, Some(token), None)
        .await
        .expect("call");
    (status, body)
}

#[tokio::test]
async fn another_users_credential_answers_404_exactly_like_a_missing_one() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let bob = stack.token("user:default/bob", &["payments-team"]);
    let minted = mint(&stack, &jane).await;
    let id = minted["credential"]["id"].as_str().expect("id");
    let key = minted["key"].as_str().expect("key");
    let missing = Ulid::new().to_string();

    for method in [Method::GET, Method::DELETE] {
        let theirs = outcome(
            &stack,
            method.clone(),
            &format!("/v1/credentials/{id}"),
            &bob,
        )
        .await;
        let nobodys = outcome(
            &stack,
            method.clone(),
            &format!("/v1/credentials/{missing}"),
            &bob,
        )
        .await;
        assert_eq!(theirs.0, StatusCode::NOT_FOUND, "{method} {}", theirs.1);
        assert_eq!(theirs, nobodys, "{method}: existence must not leak");
        assert_eq!(theirs.1["code"], "not_found");
    }

    // Bob's attempts changed nothing: the key works and Jane still sees it active.
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", key)
            .await
            .expect("gateway"),
        StatusCode::OK
    );
    let (status, own) = outcome(&stack, Method::GET, &format!("/v1/credentials/{id}"), &jane).await;
    assert_eq!((status, &own["state"]), (StatusCode::OK, &json!("active")));

    // Bob's list holds none of Jane's, even when filtering by her API.
    let (status, list) = outcome(&stack, Method::GET, "/v1/credentials?api_id=orders", &bob).await;
    assert_eq!((status, &list["items"]), (StatusCode::OK, &json!([])));

    // Jane revokes her own.
    let (status, revoked) = outcome(
        &stack,
        Method::DELETE,
        &format!("/v1/credentials/{id}"),
        &jane,
    )
    .await;
    assert_eq!(
        (status, &revoked["state"], &revoked["revoked_by"]),
        (
            StatusCode::OK,
            &json!("revoked"),
            &json!("user:default/jane")
        )
    );
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", key)
            .await
            .expect("gateway"),
        StatusCode::UNAUTHORIZED
    );

    // The refused reads and revokes are in the audit trail, as denials for Bob.
    let admin = stack.token("user:default/root", &["platform-admins"]);
    let (status, audit) = outcome(
        &stack,
        Method::GET,
        "/v1/audit?subject=user:default/bob&decision=deny",
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let mut actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["issuance_id"] == *id)
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    actions.sort_unstable();
    assert_eq!(actions, ["read_credential", "revoke"], "{audit}");
    stack.stop().await;
}

#[tokio::test]
async fn admin_only_endpoints_refuse_non_admins() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team", "orders-team"]);
    let admin = stack.token("user:default/root", &["platform-admins"]);
    mint(&stack, &jane).await;

    for path in [
        "/v1/audit",
        "/v1/audit?subject=user:default/jane",
        "/v1/credentials?subject=user:default/root",
        "/v1/credentials?subject=user:default/jane%20",
    ] {
        let (status, problem) = outcome(&stack, Method::GET, path, &jane).await;
        assert_eq!(
            (status, &problem["code"]),
            (StatusCode::FORBIDDEN, &json!("not_admin")),
            "{path}: {problem}"
        );
        let (status, page) = outcome(&stack, Method::GET, path, &admin).await;
        assert_eq!(status, StatusCode::OK, "admin on {path}: {page}");
    }
    // Her own subject as a filter is not an admin query.
    let (status, page) = outcome(
        &stack,
        Method::GET,
        "/v1/credentials?subject=user:default/jane",
        &jane,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    stack.stop().await;
}

#[tokio::test]
async fn credential_and_audit_ids_are_random_ulids_not_sequential() {
    let stack = Stack::start().await.expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let mut ids = Vec::new();
    for _ in 0..5 {
        let minted = mint(&stack, &jane).await;
        let id = minted["credential"]["id"].as_str().expect("id");
        ids.push(Ulid::from_string(id).unwrap_or_else(|e| panic!("{id} is not a ULID: {e}")));
    }
    let admin = stack.token("user:default/root", &["platform-admins"]);
    let (status, audit) = outcome(&stack, Method::GET, "/v1/audit", &admin).await;
    assert_eq!(status, StatusCode::OK);
    let events = audit["items"].as_array().expect("items");
    assert!(events.len() >= 10, "{audit}");
    for event in events {
        let id = event["id"].as_str().expect("id");
        ids.push(Ulid::from_string(id).unwrap_or_else(|e| panic!("{id} is not a ULID: {e}")));
    }
    // 80 random bits each: any two ids minted in a row differ in far more than a counter's step.
    let random: Vec<u128> = ids.iter().map(Ulid::random).collect();
    for (i, a) in random.iter().enumerate() {
        for b in &random[i + 1..] {
            assert!(
                a.abs_diff(*b) > u128::from(u32::MAX),
                "ids look sequential: {ids:?}"
            );
        }
    }
    stack.stop().await;
}
