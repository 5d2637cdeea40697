//! The `gatekey credentials …` and `gatekey apis` subcommands against the real stack: output
//! formats, masking, exit statuses, and tokens fetched from a GitHub Actions-style token endpoint
//! served on a real socket by the test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use gatekey_cli::{ClientCommand, ExitStatus};
use gatekey_dev_idp::TokenSpec;
use gatekey_e2e::{AUDIENCE, Stack};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: ClientCommand,
}

/// What one CLI run printed and how it ended.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

async fn gatekey(args: &[&str]) -> Run {
    let cli = Cli::try_parse_from(std::iter::once("gatekey").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("arguments parse: {e}"));
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let status = match gatekey_cli::execute(cli.command, &mut stdout, &mut stderr).await {
        Ok(()) => ExitStatus::Success,
        Err(error) => {
            stderr.extend_from_slice(format!("error: {error}").as_bytes());
            error.exit_status()
        }
    };
    Run {
        status,
        stdout: String::from_utf8(stdout).expect("utf-8"),
        stderr: String::from_utf8(stderr).expect("utf-8"),
    }
}

fn env_value<'a>(env: &'a str, name: &str) -> &'a str {
    env.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} in {env}"))
}

#[tokio::test]
async fn mint_list_revoke_through_the_cli() {
    let stack = Stack::start().await.expect("stack");
    let token = stack.token("user:default/jane", &["payments-team"]);
    let url = stack.gatekey_url.as_str();

    let minted = gatekey(&[
        "credentials",
        "mint",
        "--url",
        url,
        "--token",
        &token,
        "--api",
        "orders",
        "--scope",
        "read",
        "--ttl",
        "15m",
        "--purpose",
        "cli e2e",
        "--format",
        "env",
        "--env-prefix",
        "ORDERS_",
    ])
    .await;
    assert_eq!(minted.status, ExitStatus::Success, "{minted:?}");
    let key = env_value(&minted.stdout, "ORDERS_KEY");
    assert!(key.starts_with("gk_"), "{minted:?}");
    assert_eq!(env_value(&minted.stdout, "ORDERS_HEADER"), "apikey");
    let id = env_value(&minted.stdout, "ORDERS_CREDENTIAL_ID").to_owned();
    assert_eq!(minted.stdout.lines().count(), 5, "{minted:?}");
    assert!(
        !minted.stderr.contains(key),
        "the log must not show the key: {minted:?}"
    );
    assert!(minted.stderr.contains("gk_********"), "{minted:?}");
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", key)
            .await
            .expect("gateway"),
        StatusCode::OK
    );

    let listed = gatekey(&[
        "credentials",
        "list",
        "--url",
        url,
        "--token",
        &token,
        "--format",
        "json",
    ])
    .await;
    assert_eq!(listed.status, ExitStatus::Success, "{listed:?}");
    let page: Value = serde_json::from_str(&listed.stdout).expect("JSON");
    let mine = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|c| c["id"] == id.as_str())
        .expect("the minted credential is listed");
    assert_eq!(mine["ttl_seconds"], 900);
    assert_eq!(mine["purpose"], "cli e2e");
    let table = gatekey(&["credentials", "list", "--url", url, "--token", &token]).await;
    assert!(
        table.stdout.contains(&id) && !table.stdout.contains(key),
        "{table:?}"
    );

    let revoked = gatekey(&[
        "credentials",
        "revoke",
        &id,
        "--url",
        url,
        "--token",
        &token,
    ])
    .await;
    assert_eq!(revoked.status, ExitStatus::Success, "{revoked:?}");
    assert_eq!(revoked.stdout, format!("revoked {id}\n"));
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", key)
            .await
            .expect("gateway"),
        StatusCode::UNAUTHORIZED
    );

    stack.stop().await;
}

#[tokio::test]
async fn header_format_and_the_api_list() {
    let stack = Stack::start().await.expect("stack");
    let token = stack.token("user:default/jane", &["payments-team"]);
    let url = stack.gatekey_url.as_str();
    let header = gatekey(&[
        "credentials",
        "mint",
        "--url",
        url,
        "--token",
        &token,
        "--api",
        "orders",
        "--scope",
        "read",
        "--format",
        "header",
    ])
    .await;
    assert_eq!(header.status, ExitStatus::Success, "{header:?}");
    assert!(header.stdout.starts_with("apikey: gk_") && header.stdout.lines().count() == 1);

    let apis = gatekey(&["apis", "--url", url, "--token", &token, "--format", "json"]).await;
    assert_eq!(apis.status, ExitStatus::Success, "{apis:?}");
    let apis: Value = serde_json::from_str(&apis.stdout).expect("JSON");
    assert_eq!(apis["items"][0]["id"], "orders");
    stack.stop().await;
}

#[tokio::test]
async fn each_failure_class_has_its_own_exit_status() {
    let stack = Stack::start().await.expect("stack");
    let token = stack.token("user:default/jane", &["payments-team"]);
    let url = stack.gatekey_url.as_str();
    let mint = |token: String, api: &'static str, scope: &'static str, ttl: &'static str| {
        let url = url.to_owned();
        async move {
            gatekey(&[
                "credentials",
                "mint",
                "--url",
                &url,
                "--token",
                &token,
                "--api",
                api,
                "--scope",
                scope,
                "--ttl",
                ttl,
            ])
            .await
        }
    };
    let cases = [
        (
            mint("not-a-jwt".to_owned(), "orders", "read", "5m").await,
            ExitStatus::Unauthenticated,
        ),
        (
            mint(token.clone(), "orders", "write", "5m").await,
            ExitStatus::Denied,
        ),
        (
            mint(token.clone(), "no-such-api", "read", "5m").await,
            ExitStatus::NotFound,
        ),
        (
            mint(token.clone(), "orders", "read", "1000h").await,
            ExitStatus::Rejected,
        ),
        (
            gatekey(&[
                "credentials",
                "revoke",
                "01ARZ3NDEKTSV4RRFFQ69G5FAV",
                "--url",
                url,
                "--token",
                &token,
            ])
            .await,
            ExitStatus::NotFound,
        ),
        (
            gatekey(&["apis", "--url", "http://127.0.0.1:9", "--token", &token]).await,
            ExitStatus::ServerOrNetwork,
        ),
        (
            gatekey(&["apis", "--url", url, "--token-file", "/nonexistent/token"]).await,
            ExitStatus::Usage,
        ),
    ];
    for (run, expected) in &cases {
        assert_eq!(run.status, *expected, "{run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
        assert!(run.stderr.starts_with("error: "), "{run:?}");
    }
    let denied = &cases[1].0;
    assert!(denied.stderr.contains("403"), "{denied:?}");
    stack.stop().await;
}

/// A GitHub Actions-style OIDC token endpoint: checks the runner's request token, records the
/// query, and answers `{"value": token}` with the token signed for the audience asked for.
#[derive(Clone)]
struct ActionsEndpoint {
    tokens: Arc<HashMap<String, String>>,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn actions_token(
    State(endpoint): State<ActionsEndpoint>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    endpoint.requests.lock().expect("lock").push(format!(
        "api-version={} audience={}",
        param("api-version"),
        param("audience")
    ));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer runner-secret") {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let token = endpoint
        .tokens
        .get(&param("audience"))
        .ok_or(StatusCode::BAD_REQUEST)?;
    Ok(Json(json!({"count": 1, "value": token})))
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    addr
}

#[tokio::test]
async fn a_github_actions_token_is_fetched_for_the_audience() {
    let stack = Stack::start().await.expect("stack");
    let tokens = ["gatekey", "someone-else"].map(|audience| {
        let spec = TokenSpec::new("repo:acme/orders:ref:refs/heads/main", [audience])
            .groups(["payments-team"]);
        (audience.to_owned(), stack.idp.sign(&spec))
    });
    let requests = Arc::new(Mutex::new(Vec::new()));
    let endpoint = ActionsEndpoint {
        tokens: Arc::new(tokens.into_iter().collect()),
        requests: requests.clone(),
    };
    let addr = serve(
        Router::new()
            .route("/token", get(actions_token))
            .with_state(endpoint),
    )
    .await;
    let request_url = format!("http://{addr}/token?api-version=2.0");
    let url = stack.gatekey_url.as_str();
    let with_runner_token = |secret: &'static str, audience: &'static str| {
        let (url, request_url) = (url.to_owned(), request_url.clone());
        async move {
            gatekey(&[
                "apis",
                "--url",
                &url,
                "--format",
                "json",
                "--audience",
                audience,
                "--actions-id-token-request-url",
                &request_url,
                "--actions-id-token-request-token",
                secret,
            ])
            .await
        }
    };

    let run = with_runner_token("runner-secret", AUDIENCE).await;
    assert_eq!(run.status, ExitStatus::Success, "{run:?}");
    let apis: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(apis["items"][0]["id"], "orders");

    let wrong_audience = with_runner_token("runner-secret", "someone-else").await;
    assert_eq!(
        wrong_audience.status,
        ExitStatus::Unauthenticated,
        "{wrong_audience:?}"
    );
    assert!(wrong_audience.stderr.contains("401"), "{wrong_audience:?}");

    let refused = with_runner_token("stolen", AUDIENCE).await;
    assert_eq!(refused.status, ExitStatus::Unauthenticated, "{refused:?}");
    assert!(
        refused.stderr.contains("CI token endpoint answered 401"),
        "{refused:?}"
    );

    assert_eq!(
        *requests.lock().expect("lock"),
        [
            "api-version=2.0 audience=gatekey",
            "api-version=2.0 audience=someone-else",
            "api-version=2.0 audience=gatekey",
        ]
    );
    stack.stop().await;
}

/// What a mint request carried, as a server on a real socket saw it.
async fn record_mint(
    State(seen): State<Arc<Mutex<Vec<HeaderMap>>>>,
    headers: HeaderMap,
) -> (StatusCode, [(&'static str, &'static str); 3], &'static str) {
    seen.lock().expect("lock").push(headers);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            ("content-type", "application/problem+json"),
            ("retry-after", "7"),
            ("x-request-id", "req-1"),
        ],
        r#"{"type":"urn:gatekey:problem:rate_limited","title":"Too Many Requests","status":429,"detail":"slow down","code":"rate_limited"}"#,
    )
}

#[tokio::test]
async fn mint_sends_an_idempotency_key_and_reports_rate_limits() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = serve(
        Router::new()
            .route("/v1/apis/orders/credentials", post(record_mint))
            .with_state(seen.clone()),
    )
    .await;
    let url = format!("http://{addr}");
    let mint = |idempotency_key: Option<&'static str>| {
        let url = url.clone();
        async move {
            let mut args = vec![
                "credentials",
                "mint",
                "--url",
                &url,
                "--token",
                "t0ken",
                "--api",
                "orders",
                "--scope",
                "read",
            ];
            if let Some(key) = idempotency_key {
                args.extend(["--idempotency-key", key]);
            }
            gatekey(&args).await
        }
    };
    let limited = mint(None).await;
    assert_eq!(limited.status, ExitStatus::RateLimited, "{limited:?}");
    assert!(
        limited
            .stderr
            .contains("429 rate_limited: slow down (request id req-1)"),
        "{limited:?}"
    );
    mint(Some("retry-of-build-42")).await;

    let seen = seen.lock().expect("lock");
    let header = |index: usize, name: &str| {
        seen[index]
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let generated = header(0, "idempotency-key").expect("an idempotency key is always sent");
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
    assert_eq!(
        header(1, "idempotency-key").as_deref(),
        Some("retry-of-build-42")
    );
    assert_eq!(header(0, "authorization").as_deref(), Some("Bearer t0ken"));
}

#[tokio::test]
async fn bulk_revoke_through_the_cli_prints_json_lines_and_revokes_only_the_subject() {
    let stack = Stack::start().await.expect("stack");
    let url = stack.gatekey_url.as_str();
    let mut keys = HashMap::new();
    for subject in ["user:default/jane", "user:default/jane", "user:default/bob"] {
        let token = stack.token(subject, &["payments-team"]);
        let minted = gatekey(&[
            "credentials",
            "mint",
            "--url",
            url,
            "--token",
            &token,
            "--api",
            "orders",
            "--scope",
            "read",
            "--format",
            "header",
        ])
        .await;
        assert_eq!(minted.status, ExitStatus::Success, "{minted:?}");
        let key = minted
            .stdout
            .trim()
            .split_once(": ")
            .expect("header")
            .1
            .to_owned();
        keys.entry(subject).or_insert_with(Vec::new).push(key);
    }
    let admin = stack.token("user:default/admin", &["platform-admins"]);
    let bulk = |extra: &'static [&'static str]| {
        let admin = admin.clone();
        async move {
            let mut args = vec![
                "credentials",
                "revoke",
                "--url",
                url,
                "--token",
                &admin,
                "--subject",
                "user:default/jane",
                "--reason",
                "left the company",
                "--format",
                "json",
            ];
            args.extend_from_slice(extra);
            gatekey(&args).await
        }
    };
    let dry = bulk(&["--dry-run"]).await;
    assert_eq!(dry.status, ExitStatus::Success, "{dry:?}");
    let preview: Value = serde_json::from_str(&dry.stdout).expect("JSON");
    assert_eq!(preview["count"], 2, "{preview}");

    let run = bulk(&[]).await;
    assert_eq!(run.status, ExitStatus::Success, "{run:?}");
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let last = lines.last().expect("a progress line");
    assert_eq!(last["state"], "done", "{lines:?}");
    assert_eq!(last["revoked"], 2, "{lines:?}");
    assert_eq!(last["failed"], 0, "{lines:?}");
    assert!(run.stderr.contains("bulk revocation job"), "{run:?}");
    for key in &keys["user:default/jane"] {
        assert_eq!(
            stack
                .call_gateway(Method::GET, "/orders", key)
                .await
                .expect("gateway"),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", &keys["user:default/bob"][0])
            .await
            .expect("gateway"),
        StatusCode::OK
    );

    let not_admin = gatekey(&[
        "credentials",
        "revoke",
        "--url",
        url,
        "--token",
        &stack.token("user:default/jane", &["payments-team"]),
        "--subject",
        "user:default/bob",
        "--reason",
        "no",
    ])
    .await;
    assert_eq!(not_admin.status, ExitStatus::Denied, "{not_admin:?}");
    stack.stop().await;
}
