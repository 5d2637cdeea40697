//! The parts of the HTTP surface every client relies on: probes, the OpenAPI document, request
//! ids, and problem+json for malformed requests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use gatekey_e2e::Stack;
use reqwest::{Method, StatusCode, header};
use serde_json::json;

#[tokio::test]
async fn probes_report_process_and_dependencies() {
    let stack = Stack::start().await.expect("stack");
    let (status, health) = stack
        .call(Method::GET, "/healthz", None, None)
        .await
        .expect("healthz");
    assert_eq!((status, health), (StatusCode::OK, json!({"status": "ok"})));
    let (status, ready) = stack
        .call(Method::GET, "/readyz", None, None)
        .await
        .expect("readyz");
    assert_eq!(status, StatusCode::OK, "{ready}");
    let names: Vec<&str> = ready["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["kong", "mongodb", "issuer:test-idp", "policy"]);

    stack.kong.inject_fault(gatekey_kong_sim::Fault {
        method: Method::GET,
        path_contains: "/status".to_owned(),
        status: 500,
        times: 10,
    });
    let (status, ready) = stack
        .call(Method::GET, "/readyz", None, None)
        .await
        .expect("readyz");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(ready["status"], "not_ready");
    stack.stop().await;
}

#[tokio::test]
async fn openapi_document_and_docs_page_are_served() {
    let stack = Stack::start().await.expect("stack");
    let (status, doc) = stack
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .expect("openapi");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        doc["paths"]["/v1/apis/{id}/credentials"]["post"]["operationId"],
        "mintCredential"
    );
    // The reference page and everything it loads come from Gatekey, under a policy that allows
    // nothing else (the browser check in scripts/clients.sh runs it with the network cut off).
    let mut scripts = Vec::new();
    for path in ["/docs", "/docs/scalar-api-reference.js", "/docs/start.js"] {
        let response = stack
            .http
            .get(format!("{}{path}", stack.gatekey_url))
            .send()
            .await
            .expect("docs");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let policy = response
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{path} has no Content-Security-Policy"))
            .to_owned();
        assert!(policy.contains("default-src 'none'"), "{path}: {policy}");
        assert!(policy.contains("script-src 'self';"), "{path}: {policy}");
        assert!(
            !policy.contains("http"),
            "{path} allows another origin: {policy}"
        );
        let text = response.text().await.expect("text");
        if path == "/docs" {
            scripts = text
                .split("<script")
                .skip(1)
                .map(|tag| tag.split('>').next().unwrap_or_default().to_owned())
                .collect();
        } else {
            assert!(
                !text.contains("cdn.jsdelivr.net"),
                "{path} loads from a CDN"
            );
        }
    }
    assert_eq!(
        scripts,
        [
            r#" src="docs/scalar-api-reference.js""#,
            r#" src="docs/start.js""#
        ],
        "/docs runs only its own scripts, none inline"
    );
    stack.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_problem_json_and_every_response_a_request_id() {
    let stack = Stack::start().await.expect("stack");
    let token = stack.token("user:default/jane", &["payments-team"]);
    let url = format!("{}/v1/apis/orders/credentials", stack.gatekey_url);
    let cases = [
        (
            stack
                .http
                .post(&url)
                .bearer_auth(&token)
                .header(header::CONTENT_TYPE, "application/json")
                .body("{"),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            stack.http.post(&url).bearer_auth(&token).body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            stack
                .http
                .post(&url)
                .bearer_auth(&token)
                .header(header::CONTENT_TYPE, "application/json")
                .body(vec![b' '; 70_000]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            stack
                .http
                .get(format!("{}/v1/nothing-here", stack.gatekey_url)),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (request, expected, code) in cases {
        let response = request.send().await.expect("call");
        assert_eq!(response.status(), expected);
        assert!(response.headers().contains_key("x-request-id"));
        assert_eq!(
            response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let problem: serde_json::Value = response.json().await.expect("json");
        assert_eq!(problem["code"], code, "{problem}");
    }
    let response = stack
        .http
        .get(format!("{}/healthz", stack.gatekey_url))
        .header("x-request-id", "trace-me")
        .send()
        .await
        .expect("call");
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("trace-me")
    );
    stack.stop().await;
}
