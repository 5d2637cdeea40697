//! Answers given before the request body is read keep the connection usable: every refusal of a
//! request with a body (401, 403, 404, 405, 413, 415, 429, 431) is followed, on the same kept-alive
//! connection, by a request that succeeds; a body announced over the limit is refused with 413
//! (431 when the headers are over theirs) without being read, and the answer says
//! `Connection: close`. Checked on a bare socket (nothing reconnects behind the test's back) and
//! with a pooled client, the way a CI job retrying over its pool meets it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use gatekey_e2e::Stack;
use gatekey_e2e::raw_http::RawConnection;
use reqwest::{Method, StatusCode, header};
use serde_json::json;

/// `http.body_limit_bytes` of the test stack (the default).
const BODY_LIMIT: usize = 64 * 1024;

/// A JSON mint body for `scope`, padded with spaces to exactly `size` bytes.
fn mint_body(scope: &str, size: usize) -> Vec<u8> {
    let mut body = format!(r#"{{"scopes": ["{scope}"]}}"#).into_bytes();
    assert!(body.len() <= size, "{size} bytes cannot hold a mint body");
    body.resize(size, b' ');
    body
}

/// One early answer: the request head (without `Content-Length`), the scope its body asks for,
/// and the status it gets.
struct EarlyAnswer {
    name: &'static str,
    head: String,
    scope: &'static str,
    status: u16,
}

async fn stack_with_one_mint_per_minute() -> Stack {
    Stack::start_with(gatekey_e2e::POLICY, |settings| {
        settings.limits.mints_per_subject_per_minute = 1;
        assert_eq!(settings.http.body_limit_bytes, BODY_LIMIT);
    })
    .await
    .expect("stack")
}

fn early_answers(stack: &Stack) -> Vec<EarlyAnswer> {
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let limited = stack.token("user:default/limited", &["payments-team"]);
    let mint = "POST /v1/apis/orders/credentials HTTP/1.1\r\nHost: gatekey";
    let json = "Content-Type: application/json";
    vec![
        EarlyAnswer {
            name: "401 without a token",
            head: format!("{mint}\r\n{json}"),
            scope: "read",
            status: 401,
        },
        EarlyAnswer {
            name: "401 with a refused token",
            head: format!("{mint}\r\n{json}\r\nAuthorization: Bearer not-a-jwt"),
            scope: "read",
            status: 401,
        },
        EarlyAnswer {
            name: "401 on revoke",
            head: format!(
                "DELETE /v1/credentials/01J00000000000000000000000 HTTP/1.1\r\nHost: gatekey\r\n{json}"
            ),
            scope: "read",
            status: 401,
        },
        EarlyAnswer {
            name: "403 for a scope not open to the caller",
            head: format!("{mint}\r\n{json}\r\nAuthorization: Bearer {jane}"),
            scope: "write",
            status: 403,
        },
        EarlyAnswer {
            name: "404 for an unknown route",
            head: format!("POST /v1/nothing-here HTTP/1.1\r\nHost: gatekey\r\n{json}"),
            scope: "read",
            status: 404,
        },
        EarlyAnswer {
            name: "404 for an unknown API",
            head: format!(
                "POST /v1/apis/nothing/credentials HTTP/1.1\r\nHost: gatekey\r\n{json}\r\nAuthorization: Bearer {jane}"
            ),
            scope: "read",
            status: 404,
        },
        EarlyAnswer {
            name: "405 for a method the route does not serve",
            head: format!("PUT /v1/apis/orders/credentials HTTP/1.1\r\nHost: gatekey\r\n{json}"),
            scope: "read",
            status: 405,
        },
        EarlyAnswer {
            name: "415 for a body that is not JSON",
            head: format!("{mint}\r\nContent-Type: text/plain\r\nAuthorization: Bearer {jane}"),
            scope: "read",
            status: 415,
        },
        EarlyAnswer {
            name: "429 for a subject past its mint rate",
            head: format!("{mint}\r\n{json}\r\nAuthorization: Bearer {limited}"),
            scope: "read",
            status: 429,
        },
        EarlyAnswer {
            name: "431 for headers over the limit",
            head: format!("{mint}\r\n{json}\r\nX-Padding: {}", "p".repeat(40 * 1024)),
            scope: "read",
            status: 431,
        },
    ]
}

/// Uses up the one mint per minute of `user:default/limited`, so its next mint answers 429.
async fn exhaust_mint_rate(stack: &Stack) {
    let token = stack.token("user:default/limited", &["payments-team"]);
    let (status, body) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(&token),
            Some(&json!({"scopes": ["read"]})),
        )
        .await
        .expect("mint");
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn early_answers_keep_the_connection_for_bodies_up_to_the_limit() {
    let stack = stack_with_one_mint_per_minute().await;
    exhaust_mint_rate(&stack).await;
    for case in early_answers(&stack) {
        for size in [32, BODY_LIMIT] {
            let mut connection = RawConnection::open(&stack.gatekey_url)
                .await
                .expect("connect");
            connection
                .send(&case.head, &mint_body(case.scope, size))
                .await
                .expect("send");
            let refused = connection.response().await.expect("first response");
            assert_eq!(refused.status, case.status, "{}, {size} bytes", case.name);
            assert!(
                !refused.announces_close(),
                "{}, {size} bytes: the body fits the limit, yet the connection is closed",
                case.name
            );
            connection
                .send("GET /healthz HTTP/1.1\r\nHost: gatekey", b"")
                .await
                .expect("send the next request");
            let next = connection.response().await.unwrap_or_else(|err| {
                panic!(
                    "{}, {size} bytes: next request on the connection: {err}",
                    case.name
                )
            });
            assert_eq!(next.status, 200, "{}, {size} bytes", case.name);
        }
    }
    stack.stop().await;
}

#[tokio::test]
async fn bodies_announced_over_the_limit_are_refused_unread_with_connection_close() {
    let stack = stack_with_one_mint_per_minute().await;
    exhaust_mint_rate(&stack).await;
    for case in early_answers(&stack) {
        // Announced but never sent: the answer must not wait for it.
        let head = format!("{}\r\nContent-Length: {}", case.head, BODY_LIMIT + 1);
        let mut connection = RawConnection::open(&stack.gatekey_url)
            .await
            .expect("connect");
        connection.send(&head, b"").await.expect("send");
        let refused = connection.response().await.expect("response");
        // Headers over their limit are refused first; otherwise the body is what is refused.
        let expected = if case.status == 431 { 431 } else { 413 };
        assert_eq!(refused.status, expected, "{}", case.name);
        assert!(
            refused.announces_close(),
            "{}: {:?}",
            case.name,
            refused.headers
        );
        assert!(connection.closed_by_server().await, "{}", case.name);
    }
    stack.stop().await;
}

#[tokio::test]
async fn a_pooled_client_sees_no_connection_error_between_early_answers() {
    let stack = stack_with_one_mint_per_minute().await;
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let mint = format!("{}/v1/apis/orders/credentials", stack.gatekey_url);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .http1_only()
        .build()
        .expect("client");
    let mut errors = Vec::new();
    for round in 0..200 {
        let size = if round % 3 == 0 { BODY_LIMIT } else { 64 };
        let (request, expected) = match round % 4 {
            0 => (
                client
                    .post(&mint)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(mint_body("read", size)),
                StatusCode::UNAUTHORIZED,
            ),
            1 => (
                client
                    .get(format!("{}/v1/me", stack.gatekey_url))
                    .bearer_auth(&jane),
                StatusCode::OK,
            ),
            2 => (
                client
                    .post(format!("{}/v1/nothing-here", stack.gatekey_url))
                    .body(mint_body("read", size)),
                StatusCode::NOT_FOUND,
            ),
            _ => (
                client
                    .post(&mint)
                    .bearer_auth(&jane)
                    .header(header::CONTENT_TYPE, "text/plain")
                    .body(mint_body("read", size)),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
        };
        match request.send().await {
            Ok(response) => assert_eq!(response.status(), expected, "round {round}"),
            Err(err) => errors.push(format!("round {round}: {err:?}")),
        }
    }
    assert!(errors.is_empty(), "connection errors: {errors:#?}");
    stack.stop().await;
}
