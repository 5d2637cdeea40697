//! What reaches whom (issue 14, §5 and §6): Backstage-style tokens bound to the proxy path by
//! the proxy secret, `/metrics` on the operators' listener only, plain http refused outside
//! local stacks, and no secret in any `Debug` output of the settings or the built application.
//!
//! The proxy-bound issuer here is the dev OpenID provider with `requires_proxy_secret`, so the
//! refusal is shown without a Backstage backend; `tests/tests/backstage.rs` replays real
//! Backstage tokens next to a real Backstage proxy.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use gatekey_e2e::logs::CapturedLogs;
use gatekey_e2e::rig::gatekey_binary;
use gatekey_e2e::{AUDIENCE, GATEWAY_URL, Mongo, POLICY, Stack, start_kong, unique_database};
use gatekey_server::config::{
    CatalogSettings, CounterPolicyName, ProxySecretSettings, RateLimitingSettings, RedisSettings,
    Settings,
};
use gatekey_server::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PROXY_SECRET: &str = "exposure-test-proxy-secret-current-0123456789";
const PREVIOUS_PROXY_SECRET: &str = "exposure-test-proxy-secret-previous-012345678";

/// Calls Gatekey with `token` and, when given, the proxy secret header.
async fn call(
    stack: &Stack,
    method: Method,
    path: &str,
    token: &str,
    secret: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = stack
        .http
        .request(method, format!("{}{path}", stack.gatekey_url))
        .bearer_auth(token);
    if let Some(secret) = secret {
        request = request.header("X-Gatekey-Proxy-Secret", secret);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("call");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_token_replayed_without_the_proxy_secret_is_refused_before_anything_is_recorded() {
    let logs = CapturedLogs::install();
    let stack = Stack::start_with(POLICY, |settings| {
        settings.auth.issuers[0].requires_proxy_secret = true;
        settings.auth.proxy_secret = Some(ProxySecretSettings {
            header: "X-Gatekey-Proxy-Secret".to_owned(),
            current: Some(PROXY_SECRET.to_owned().into()),
            current_file: None,
            previous: Some(PREVIOUS_PROXY_SECRET.to_owned().into()),
            previous_file: None,
        });
    })
    .await
    .expect("stack");
    let replayer = "user:default/replayed";
    let token = stack.token(replayer, &["orders-team"]);
    let mint = json!({"scopes": ["read"], "ttl_seconds": 300});

    for secret in [
        None,
        Some(""),
        Some("exposure-test-proxy-secret-guessed-0123456789"),
        Some(&PROXY_SECRET[..PROXY_SECRET.len() - 1]),
    ] {
        for (method, path, body) in [
            (Method::GET, "/v1/me", None),
            (Method::GET, "/v1/credentials", None),
            (Method::POST, "/v1/apis/orders/credentials", Some(&mint)),
        ] {
            let (status, problem) = call(&stack, method, path, &token, secret, body).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{path} {secret:?}: {problem}"
            );
            assert_eq!(problem["code"], "proxy_secret_required", "{problem}");
            assert!(
                problem["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("X-Gatekey-Proxy-Secret")),
                "{problem}"
            );
        }
    }
    let (stored, _) = stack
        .every_stored_document()
        .await
        .expect("stored documents");
    assert!(
        !stored.contains(replayer),
        "nothing recorded for refused tokens: {stored}"
    );

    // Both secrets of a rotation are accepted; the key works.
    for secret in [PROXY_SECRET, PREVIOUS_PROXY_SECRET] {
        let (status, me) = call(&stack, Method::GET, "/v1/me", &token, Some(secret), None).await;
        assert_eq!(status, StatusCode::OK, "{me}");
    }
    let (status, minted) = call(
        &stack,
        Method::POST,
        "/v1/apis/orders/credentials",
        &token,
        Some(PROXY_SECRET),
        Some(&mint),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let key = minted["key"].as_str().expect("key");
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", key)
            .await
            .expect("gateway"),
        StatusCode::OK
    );
    stack.stop().await;

    let logs = logs.text();
    assert!(logs.contains("\"level\":\"DEBUG\""), "debug lines captured");
    assert!(logs.contains("proxy secret"), "the refusals were logged");
    for secret in [PROXY_SECRET, PREVIOUS_PROXY_SECRET] {
        assert!(!logs.contains(secret), "a proxy secret reached the logs");
    }
}

#[tokio::test]
async fn with_admin_listen_metrics_are_served_on_the_admin_port_only() {
    let stack = Stack::start_with(POLICY, |settings| {
        settings.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await
    .expect("stack");
    let admin_url = stack.admin_url.clone().expect("admin listener");
    let get = |url: String| {
        let http = stack.http.clone();
        async move {
            let response = http.get(url).send().await.expect("get");
            let status = response.status();
            (status, response.text().await.expect("body"))
        }
    };
    let token = stack.token("user:default/jane", &["orders-team"]);
    let (status, _) = call(&stack, Method::GET, "/v1/me", &token, None, None).await;
    assert_eq!(status, StatusCode::OK, "the API stays on the main port");

    let (status, _) = get(format!("{}/metrics", stack.gatekey_url)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no /metrics on the main port"
    );
    let (status, metrics) = get(format!("{admin_url}/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains("gatekey_http_requests_total"),
        "the main port's traffic is measured: {metrics}"
    );
    let (status, _) = get(format!("{admin_url}/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, readiness) = get(format!("{admin_url}/readyz")).await;
    let readiness: Value = serde_json::from_str(&readiness).expect("readiness JSON");
    assert!(readiness["checks"].is_array(), "{readiness}");
    let (status, _) = get(format!("{admin_url}/v1/me")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no API on the admin port");
    stack.stop().await;
}

#[test]
fn check_config_refuses_an_http_issuer_in_a_production_config_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).expect("policy");
    let config = dir.path().join("gatekey.toml");
    let production = format!(
        r#"policy_file = "{policy}"
[kong]
admin_url = "https://kong-admin.internal:8444"
[gateway]
allowed_urls = ["{GATEWAY_URL}"]
[[auth.issuers]]
name = "company-idp"
issuer = "ISSUER"
audiences = ["{AUDIENCE}"]
algorithms = ["RS256"]
"#,
        policy = policy.display()
    );
    let check = |issuer: &str| {
        std::fs::write(&config, production.replace("ISSUER", issuer)).expect("config");
        let output = std::process::Command::new(gatekey_binary().expect("gatekey binary"))
            .arg("check-config")
            .arg("--config")
            .arg(&config)
            .env_remove("GATEKEY_ALLOW_INSECURE_HTTP")
            .output()
            .expect("run gatekey check-config");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, stderr) = check("https://idp.example.com");
    assert!(ok, "https everywhere passes: {stderr}");
    let (ok, stderr) = check("http://idp.example.com");
    assert!(!ok, "plain http refused");
    assert!(
        stderr.contains("auth.issuers 'company-idp' issuer http://idp.example.com is plain http")
            && stderr.contains("allow_insecure_http = true"),
        "{stderr}"
    );
}

#[tokio::test]
async fn settings_and_the_built_application_print_no_secret() {
    let mongo = Mongo::start().expect("mongo");
    let (kong, _upstream) = start_kong().await.expect("kong");
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let kong_token = "kong-admin-token-from-a-file-0123456789";
    let catalog_token = "catalog-token-from-the-environment-0123";
    let redis_password = "redis-password-of-the-rate-limit-counters";
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_listen: Some("127.0.0.1:0".parse().expect("addr")),
        allow_insecure_http: true,
        policy_file: write("policy.yaml", POLICY),
        ..Settings::default()
    };
    settings.mongodb.uri.clone_from(&mongo.uri);
    settings.mongodb.database = unique_database("exposure");
    settings.kong.admin_url = kong.admin_url();
    settings.kong.admin_token_header = Some("Kong-Admin-Token".to_owned());
    settings.kong.admin_token_file = Some(write("kong-token", kong_token));
    let mut issuer = gatekey_e2e::trusted_issuer(
        "backstage",
        "http://127.0.0.1:9/api/auth".to_owned(),
        &["ES256"],
    );
    issuer.requires_proxy_secret = true;
    settings.auth.issuers = vec![issuer];
    settings.auth.proxy_secret = Some(ProxySecretSettings {
        header: "X-Gatekey-Proxy-Secret".to_owned(),
        current: Some(PROXY_SECRET.to_owned().into()),
        current_file: None,
        previous: None,
        previous_file: Some(write("previous-proxy-secret", PREVIOUS_PROXY_SECRET)),
    });
    settings.catalog = Some(CatalogSettings {
        backend_url: "http://127.0.0.1:9".to_owned(),
        token: Some(catalog_token.to_owned().into()),
        token_file: None,
        refresh_interval_seconds: 60,
        page_size: 10,
        request_timeout_seconds: 1,
        max_staleness_seconds: None,
        allowed_namespaces: Vec::new(),
        allowed_owners: Vec::new(),
    });
    settings.gateway.allowed_urls = vec![GATEWAY_URL.to_owned()];
    settings.kong.rate_limiting = RateLimitingSettings {
        policy: CounterPolicyName::Redis,
        redis: Some(RedisSettings {
            host: "redis.internal".to_owned(),
            port: 6379,
            username: None,
            password: Some(redis_password.to_owned().into()),
            password_file: None,
            database: 0,
            timeout_ms: 2000,
            ssl: true,
            ssl_verify: true,
            server_name: None,
        }),
    };
    let app = Application::build(&settings).await.expect("application");
    let printed = [format!("{settings:?}"), format!("{app:?}")];
    for text in &printed {
        assert!(
            text.to_lowercase().contains("x-gatekey-proxy-secret"),
            "the proxy secret settings are printed"
        );
        for secret in [
            kong_token,
            catalog_token,
            PROXY_SECRET,
            PREVIOUS_PROXY_SECRET,
            redis_password,
        ] {
            assert!(!text.contains(secret), "a secret in Debug output: {text}");
        }
    }
}
