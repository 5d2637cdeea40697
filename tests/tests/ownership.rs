//! Authorization (issue 5, guarantee 7): a caller reads and revokes only their own credentials, and
//! another user's credential is indistinguishable from one that does not exist (404, same body),
//! so ids reveal nothing; admin-only endpoints refuse everybody else; ids are random ULIDs, not
//! counters, so they cannot be guessed from one another.
//!
//! Identity is (issuer, subject) (issue 14, part 3): with two trusted issuers (two dev OpenID
//! providers), the same subject string at the other issuer is someone else in every listing,
//! read, revocation, idempotency key and audit filter; a group is qualified by its issuer's
//! `group_prefix`, so another issuer's group of the same name grants nothing; and a policy grant
//! that names no issuer is refused at startup.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use gatekey_dev_idp::{RunningIdp, TokenSpec};
use gatekey_e2e::{AUDIENCE, POLICY, SECOND_ISSUER, Stack, TWO_ISSUER_POLICY, trust_second_issuer};
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

/// The stack's own dev IdP as issuer A, and a second dev IdP trusted as issuer B.
async fn two_issuer_stack() -> (Stack, RunningIdp) {
    let b = gatekey_dev_idp::start(gatekey_dev_idp::DevIdpConfig::default())
        .await
        .expect("idp B");
    let b_issuer = b.issuer();
    let stack = Stack::start_with(TWO_ISSUER_POLICY, |settings| {
        trust_second_issuer(settings, b_issuer);
    })
    .await
    .expect("stack");
    (stack, b)
}

/// Mints `orders` read with an `Idempotency-Key`; returns status and body.
async fn mint_with_key(stack: &Stack, token: &str, key: &str) -> (StatusCode, Value) {
    let response = stack
        .http
        .post(format!("{}/v1/apis/orders/credentials", stack.gatekey_url))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({"scopes": ["read"], "ttl_seconds": 300}))
        .send()
        .await
        .expect("mint call");
    let status = response.status();
    (status, response.json().await.expect("JSON body"))
}

/// The ids of a page's items.
fn ids(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().expect("id"))
        .collect()
}

/// `/v1/audit` filtered by `issuer` and `subject` (plus `extra`), as the admin of issuer A.
async fn audit_of(stack: &Stack, issuer: &str, subject: &str, extra: &str) -> Vec<Value> {
    let admin = stack.token("root", &["platform-admins"]);
    let response = stack
        .http
        .get(format!("{}/v1/audit{extra}", stack.gatekey_url))
        .query(&[("issuer", issuer), ("subject", subject)])
        .bearer_auth(&admin)
        .send()
        .await
        .expect("audit call");
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.expect("JSON");
    page["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn the_same_subject_at_another_issuer_cannot_list_read_revoke_or_reuse_keys_and_audit_separates_them()
 {
    let (stack, b) = two_issuer_stack().await;
    let (issuer_a, issuer_b) = (stack.idp.issuer(), b.issuer());
    // Two people who happen to share the subject string "jane" (a username at two IdPs).
    let jane_a = stack.token("jane", &["payments-team"]);
    let jane_b = b.sign(&TokenSpec::new("jane", [AUDIENCE]).groups(["payments-team"]));

    let (status, minted) = mint_with_key(&stack, &jane_a, "deploy-1").await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let id_a = minted["credential"]["id"].as_str().expect("id").to_owned();
    let key_a = minted["key"].as_str().expect("key").to_owned();
    assert_eq!(minted["credential"]["issuer"], json!(issuer_a));

    refuses_a_to_b(&stack, &jane_b, &issuer_a, &id_a).await;

    // The same Idempotency-Key is B's jane's own: it mints her a credential of her own instead
    // of answering with A's jane's (409 `already_issued` with its Location).
    let (status, minted_b) = mint_with_key(&stack, &jane_b, "deploy-1").await;
    assert_eq!(status, StatusCode::CREATED, "{minted_b}");
    let id_b = minted_b["credential"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_ne!(id_a, id_b);
    assert_eq!(minted_b["credential"]["issuer"], json!(issuer_b));
    // Each jane's retry with the key points at her own credential.
    for (token, own) in [(&jane_a, &id_a), (&jane_b, &id_b)] {
        let (status, retry) = mint_with_key(&stack, token, "deploy-1").await;
        assert_eq!(
            (status, &retry["code"]),
            (StatusCode::CONFLICT, &json!("already_issued"))
        );
        assert!(retry.to_string().contains(own.as_str()), "{retry}");
    }

    // Each lists exactly her own; A's key still works and her credential is untouched.
    let (_, page_a) = outcome(&stack, Method::GET, "/v1/credentials", &jane_a).await;
    let (_, page_b) = outcome(&stack, Method::GET, "/v1/credentials", &jane_b).await;
    assert_eq!((ids(&page_a), ids(&page_b)), (vec![&*id_a], vec![&*id_b]));
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", &key_a)
            .await
            .expect("gateway"),
        StatusCode::OK
    );
    let (status, own) = outcome(
        &stack,
        Method::GET,
        &format!("/v1/credentials/{id_a}"),
        &jane_a,
    )
    .await;
    assert_eq!((status, &own["state"]), (StatusCode::OK, &json!("active")));

    // Admins list by (issuer, subject).
    let admin = stack.token("root", &["platform-admins"]);
    let (status, by_b) = outcome(
        &stack,
        Method::GET,
        &format!("/v1/credentials?issuer={issuer_b}&subject=jane"),
        &admin,
    )
    .await;
    assert_eq!((status, ids(&by_b)), (StatusCode::OK, vec![&*id_b]));

    audit_tells_them_apart(&stack, (&issuer_a, &id_a), (&issuer_b, &id_b)).await;
    b.shutdown().await;
    stack.stop().await;
}

#[tokio::test]
async fn a_group_of_another_issuer_named_like_a_granted_group_grants_nothing() {
    let (stack, b) = two_issuer_stack().await;
    // Issuer A's orders-team may write and its platform-admins are admins. A caller of issuer B
    // names the same groups, bare and even spelled with A's prefix.
    let mallory = b.sign(&TokenSpec::new("mallory", [AUDIENCE]).groups([
        "orders-team",
        "platform-admins",
        "test-idp:orders-team",
        "test-idp:platform-admins",
    ]));
    let (status, me) = outcome(&stack, Method::GET, "/v1/me", &mallory).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        me["groups"],
        json!([
            "idp-b:orders-team",
            "idp-b:platform-admins",
            "idp-b:test-idp:orders-team",
            "idp-b:test-idp:platform-admins"
        ]),
        "every group carries the prefix of the issuer {SECOND_ISSUER}"
    );
    let (status, apis) = outcome(&stack, Method::GET, "/v1/apis", &mallory).await;
    assert_eq!(
        (status, &apis["items"]),
        (StatusCode::OK, &json!([])),
        "{apis}"
    );
    let (status, problem) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(&mallory),
            Some(&json!({"scopes": ["write"]})),
        )
        .await
        .expect("mint");
    assert_eq!(
        (status, &problem["code"]),
        (StatusCode::FORBIDDEN, &json!("scope_not_allowed")),
        "{problem}"
    );
    for path in ["/v1/audit", "/v1/credentials?subject=jane"] {
        let (status, problem) = outcome(&stack, Method::GET, path, &mallory).await;
        assert_eq!(
            (status, &problem["code"]),
            (StatusCode::FORBIDDEN, &json!("not_admin")),
            "{path}"
        );
    }
    assert!(
        stack
            .kong_consumers_tagged("gatekey")
            .await
            .expect("consumers")
            .is_empty()
    );

    // The group of issuer A's own callers does grant write.
    let jane = stack.token("jane", &["orders-team"]);
    let (status, minted) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(&jane),
            Some(&json!({"scopes": ["write"]})),
        )
        .await
        .expect("mint");
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    b.shutdown().await;
    stack.stop().await;
}

#[tokio::test]
async fn two_issuers_and_a_grant_naming_no_issuer_are_refused_at_startup() {
    let b = gatekey_dev_idp::start(gatekey_dev_idp::DevIdpConfig::default())
        .await
        .expect("idp B");
    // Both issuers declare prefixes, but the policy's groups name neither.
    let b_issuer = b.issuer();
    let refused = Stack::start_with(POLICY, |settings| {
        trust_second_issuer(settings, b_issuer);
    })
    .await
    .expect_err("unqualified grants")
    .to_string();
    for needle in [
        "admin_groups[0]: group 'platform-admins' starts with none of the trusted issuers' \
         group prefixes (idp-b:, test-idp:)",
        "apis[0] (orders).scopes[0] (read).allowed_groups[0]: group 'payments-team'",
        "apis[0] (orders).scopes[1] (write).allowed_groups[0]: group 'orders-team'",
    ] {
        assert!(
            refused.contains(needle),
            "{needle:?} missing in:\n{refused}"
        );
    }
    // Two issuers without prefixes: refused before any group could be compared.
    let b_issuer = b.issuer();
    let refused = Stack::start_with(POLICY, |settings| {
        trust_second_issuer(settings, b_issuer);
        for issuer in &mut settings.auth.issuers {
            issuer.group_prefix = None;
        }
    })
    .await
    .expect_err("no prefixes")
    .to_string();
    for needle in [
        "issuer 'test-idp': declare a group_prefix",
        "issuer 'idp-b': declare a group_prefix",
    ] {
        assert!(
            refused.contains(needle),
            "{needle:?} missing in:\n{refused}"
        );
    }
    b.shutdown().await;
}

/// Nothing of A's jane (issuer `issuer_a`, credential `id_a`) is visible to or changeable by
/// B's jane (`jane_b`): not listed, even when she filters by her own subject; naming A's issuer
/// needs admin; reading and revoking answer like a missing credential.
async fn refuses_a_to_b(stack: &Stack, jane_b: &str, issuer_a: &str, id_a: &str) {
    // B's jane lists nothing of A's jane, with or without filters naming her own subject.
    for path in [
        "/v1/credentials",
        "/v1/credentials?api_id=orders",
        "/v1/credentials?subject=jane",
    ] {
        let (status, page) = outcome(stack, Method::GET, path, jane_b).await;
        assert_eq!(
            (status, ids(&page)),
            (StatusCode::OK, vec![]),
            "{path}: {page}"
        );
    }
    // Naming A's issuer is asking for someone else's credentials: admins only.
    let (status, problem) = outcome(
        stack,
        Method::GET,
        &format!("/v1/credentials?issuer={issuer_a}&subject=jane"),
        jane_b,
    )
    .await;
    assert_eq!(
        (status, &problem["code"]),
        (StatusCode::FORBIDDEN, &json!("not_admin"))
    );
    // Reading or revoking A's credential answers like a missing one.
    for method in [Method::GET, Method::DELETE] {
        let (status, problem) = outcome(
            stack,
            method.clone(),
            &format!("/v1/credentials/{id_a}"),
            jane_b,
        )
        .await;
        assert_eq!(
            (status, &problem["code"]),
            (StatusCode::NOT_FOUND, &json!("not_found")),
            "{method}"
        );
    }
}

/// The audit filter by (issuer, subject) tells the two janes apart: A's events are hers and
/// never about B's credential; B's hold her own mint and her refused read and revoke of A's.
async fn audit_tells_them_apart(stack: &Stack, a: (&str, &str), b: (&str, &str)) {
    let ((issuer_a, id_a), (issuer_b, id_b)) = (a, b);
    let events_a = audit_of(stack, issuer_a, "jane", "").await;
    assert!(
        events_a
            .iter()
            .all(|event| event["issuer"] == json!(issuer_a) && event["issuance_id"] != json!(id_b)),
        "{events_a:?}"
    );
    assert!(
        events_a
            .iter()
            .any(|event| event["issuance_id"] == json!(id_a) && event["reason"] == "issued"),
        "{events_a:?}"
    );
    let denials_b = audit_of(stack, issuer_b, "jane", "?decision=deny").await;
    let mut refused: Vec<&str> = denials_b
        .iter()
        .filter(|event| event["issuance_id"] == json!(id_a))
        .map(|event| event["action"].as_str().expect("action"))
        .collect();
    refused.sort_unstable();
    assert_eq!(refused, ["read_credential", "revoke"], "{denials_b:?}");
    let events_b = audit_of(stack, issuer_b, "jane", "").await;
    assert!(
        events_b
            .iter()
            .all(|event| event["issuer"] == json!(issuer_b)),
        "{events_b:?}"
    );
    assert!(
        events_b
            .iter()
            .any(|event| event["issuance_id"] == json!(id_b) && event["reason"] == "issued"),
        "{events_b:?}"
    );
}
