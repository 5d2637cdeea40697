//! The request contract of the OpenAPI document, as a generated client or a validator reads it:
//! a request the document alone shows to be wrong answers 400, one that matches the document but
//! that the policy refuses answers 422, and every answered status and problem `code` is listed
//! for its operation in the served document.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use gatekey_e2e::Stack;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// One request and what it must answer.
struct Case {
    method: Method,
    path: String,
    /// The operation's path template in the document.
    template: &'static str,
    body: Option<Value>,
    status: StatusCode,
    code: &'static str,
}

fn mint(body: Value, status: StatusCode, code: &'static str) -> Case {
    Case {
        method: Method::POST,
        path: "/v1/apis/orders/credentials".to_owned(),
        template: "/v1/apis/{id}/credentials",
        body: Some(body),
        status,
        code,
    }
}

fn get(path: &str, template: &'static str, status: StatusCode, code: &'static str) -> Case {
    Case {
        method: Method::GET,
        path: path.to_owned(),
        template,
        body: None,
        status,
        code,
    }
}

/// Mint bodies and paths: every listed type error, range and shape violation, and the policy's
/// refusals.
fn mint_cases() -> Vec<Case> {
    let bad = StatusCode::BAD_REQUEST;
    let refused = StatusCode::UNPROCESSABLE_ENTITY;
    vec![
        mint(
            json!({"scopes": ["read"], "ttl_seconds": -1}),
            bad,
            "invalid_body",
        ),
        mint(
            json!({"scopes": ["read"], "ttl_seconds": 900.5}),
            bad,
            "invalid_body",
        ),
        mint(
            json!({"scopes": ["read"], "ttl_seconds": 9_223_372_036_854_775_808_u64}),
            bad,
            "invalid_body",
        ),
        mint(
            json!({"scopes": ["read"], "ttl_seconds": "900"}),
            bad,
            "invalid_body",
        ),
        mint(
            json!({"scopes": ["read"], "ttl_seconds": 0}),
            bad,
            "invalid_body",
        ),
        mint(
            json!({"scopes": ["read"], "ttl_seconds": 100_000_001}),
            bad,
            "invalid_body",
        ),
        mint(json!({"scopes": "read"}), bad, "invalid_body"),
        mint(json!({"scopes": [null]}), bad, "invalid_body"),
        mint(json!({"scopes": []}), bad, "no_scopes_requested"),
        mint(json!({"ttl_seconds": 600}), bad, "invalid_body"),
        mint(
            json!({"scopes": ["read"], "extra": true}),
            bad,
            "invalid_body",
        ),
        mint(
            json!({"scopes": ["read"], "purpose": "p".repeat(201)}),
            bad,
            "invalid_body",
        ),
        mint(json!({"scopes": ["delete"]}), refused, "unknown_scope"),
        mint(
            json!({"scopes": ["read"], "ttl_seconds": 3601}),
            refused,
            "ttl_above_max",
        ),
        Case {
            path: "/v1/apis/Not%20An%20Id/credentials".to_owned(),
            ..mint(json!({"scopes": ["read"]}), bad, "invalid_path")
        },
    ]
}

/// Query and path parameters outside their documented type, range or pattern.
fn parameter_cases() -> Vec<Case> {
    let bad = StatusCode::BAD_REQUEST;
    vec![
        get("/v1/apis/ORDERS", "/v1/apis/{id}", bad, "invalid_path"),
        get(
            "/v1/credentials?limit=0",
            "/v1/credentials",
            bad,
            "invalid_query",
        ),
        get(
            "/v1/credentials?limit=201",
            "/v1/credentials",
            bad,
            "invalid_query",
        ),
        get(
            "/v1/credentials?limit=ten",
            "/v1/credentials",
            bad,
            "invalid_query",
        ),
        get(
            "/v1/credentials?cursor=",
            "/v1/credentials",
            bad,
            "invalid_query",
        ),
        get(
            "/v1/credentials?colour=red",
            "/v1/credentials",
            bad,
            "invalid_query",
        ),
        get("/v1/audit?limit=0", "/v1/audit", bad, "invalid_query"),
        get("/v1/audit?issuance_id=", "/v1/audit", bad, "invalid_query"),
        get(
            "/v1/audit?decision=maybe",
            "/v1/audit",
            bad,
            "invalid_query",
        ),
        get(
            "/v1/credentials/not-an-id",
            "/v1/credentials/{id}",
            bad,
            "invalid_path",
        ),
        Case {
            method: Method::DELETE,
            ..get(
                "/v1/credentials/not-an-id",
                "/v1/credentials/{id}",
                bad,
                "invalid_path",
            )
        },
    ]
}

#[tokio::test]
async fn malformed_requests_answer_400_policy_refusals_422_and_the_document_lists_each_code() {
    let stack = Stack::start().await.expect("stack");
    // An admin in the orders teams: no refusal below comes from missing rights.
    let token = stack.token(
        "user:default/root",
        &["platform-admins", "orders-team", "payments-team"],
    );
    let (_, document) = stack
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .expect("openapi");
    for case in mint_cases().into_iter().chain(parameter_cases()) {
        let (status, problem) = stack
            .call(
                case.method.clone(),
                &case.path,
                Some(&token),
                case.body.as_ref(),
            )
            .await
            .expect("call");
        let what = format!("{} {} {:?}", case.method, case.path, case.body);
        assert_eq!(status, case.status, "{what}: {problem}");
        assert_eq!(problem["code"], case.code, "{what}: {problem}");
        let operation = case.method.as_str().to_lowercase();
        let documented = document["paths"][case.template][&operation]["responses"][status.as_str()]
            ["description"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {status} is not documented"));
        assert!(
            documented.contains(&format!("`{}`", case.code)),
            "{what}: the document's {status} for {operation} {} does not name `{}`: {documented}",
            case.template,
            case.code
        );
    }
    // JSON Schema counts 600.0 as an integer, so a validator passes it: the server accepts it.
    let (status, minted) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(&token),
            Some(&json!({"scopes": ["read"], "ttl_seconds": 600.0})),
        )
        .await
        .expect("mint");
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    assert_eq!(minted["credential"]["ttl_seconds"], 600);
    stack.stop().await;
}

#[tokio::test]
async fn the_document_states_the_constraints_the_server_enforces() {
    let stack = Stack::start().await.expect("stack");
    let (_, document) = stack
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .expect("openapi");
    let mint = &document["components"]["schemas"]["MintCredentialRequest"];
    assert_eq!(mint["properties"]["scopes"]["minItems"], 1, "{mint}");
    assert_eq!(mint["properties"]["ttl_seconds"]["minimum"], 1, "{mint}");
    assert_eq!(
        mint["properties"]["ttl_seconds"]["maximum"], 100_000_000,
        "{mint}"
    );
    assert_eq!(mint["properties"]["purpose"]["maxLength"], 200, "{mint}");
    assert_eq!(mint["additionalProperties"], false, "{mint}");
    assert!(mint["example"].is_object(), "the mint body has an example");

    let parameter = |path: &str, method: &str, name: &str| -> Value {
        document["paths"][path][method]["parameters"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
    };
    for path in ["/v1/credentials", "/v1/audit"] {
        let limit = parameter(path, "get", "limit");
        assert_eq!(limit["schema"]["minimum"], 1, "{path}: {limit}");
        assert_eq!(limit["schema"]["maximum"], 200, "{path}: {limit}");
        let cursor = parameter(path, "get", "cursor");
        assert!(cursor["schema"]["pattern"].is_string(), "{path}: {cursor}");
    }
    let issuance = parameter("/v1/audit", "get", "issuance_id");
    assert!(issuance["schema"]["pattern"].is_string(), "{issuance}");
    let key = parameter("/v1/apis/{id}/credentials", "post", "Idempotency-Key");
    assert_eq!(key["schema"]["minLength"], 1, "{key}");
    assert_eq!(key["schema"]["maxLength"], 255, "{key}");
    for (path, method) in [
        ("/v1/apis/{id}/credentials", "post"),
        ("/v1/apis/{id}", "get"),
        ("/v1/credentials/{id}", "get"),
        ("/v1/credentials/{id}", "delete"),
    ] {
        let id = parameter(path, method, "id");
        assert!(id["schema"]["pattern"].is_string(), "{method} {path}: {id}");
    }
    let links =
        &document["paths"]["/v1/apis/{id}/credentials"]["post"]["responses"]["201"]["links"];
    for operation in ["getCredential", "revokeCredential"] {
        assert_eq!(links[operation]["operationId"], operation, "{links}");
        assert_eq!(
            links[operation]["parameters"]["id"], "$response.body#/credential/id",
            "{links}"
        );
    }
    stack.stop().await;
}
