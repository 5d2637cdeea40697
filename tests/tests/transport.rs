//! Issue 14 §6, transport and exposure: what Gatekey's dependencies (Kong's Admin API, MongoDB,
//! the trusted issuers) can make it show or do when they fail or stall.
//!
//! - A failed mint tells its caller a stable code and a sentence, never the underlying error
//!   (which names Kong's address); the raw error is in the log with the request id.
//! - An issuer whose endpoints hang slows no request: its tokens verify with cached keys, other
//!   issuers' tokens are untouched, and `/readyz` reports it degraded (200), while MongoDB down
//!   fails readiness (503).
//! - The configured rate-limit counter policy reaches the consumer plugin of a minted credential.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gatekey_dev_idp::{DevIdpConfig, TokenSpec};
use gatekey_e2e::fault_proxy::{Mode, SilentListener};
use gatekey_e2e::logs::CapturedLogs;
use gatekey_e2e::rig::Rig;
use gatekey_e2e::{AUDIENCE, Stack, trusted_issuer};
use gatekey_server::config::{CounterPolicyName, RedisSettings, Settings};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tracing_subscriber::util::SubscriberInitExt as _;

/// `value` without what describes the caller (its issuer URL and client address, loopback here),
/// which the caller knows anyway.
fn about_the_failure(value: &Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .filter(|(name, _)| !matches!(name.as_str(), "issuer" | "client_addr"))
                .map(|(name, member)| (name.clone(), about_the_failure(member)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(about_the_failure).collect()),
        other => other.clone(),
    }
}

/// What a caller must never be shown: addresses and the texts of Rust and HTTP client errors.
fn assert_no_internals(what: &str, text: &str, kong_admin: SocketAddr) {
    for needle in [
        "http://".to_owned(),
        "127.0.0.1".to_owned(),
        format!(":{}", kong_admin.port()),
        "error sending request".to_owned(),
        "Kong Admin API failed:".to_owned(),
        "unreachable".to_owned(),
        "tcp connect".to_owned(),
    ] {
        assert!(!text.contains(&needle), "{what} shows '{needle}': {text}");
    }
}

#[tokio::test]
async fn a_mint_failing_on_an_unreachable_kong_shows_a_code_and_a_sentence_and_logs_the_raw_error()
{
    let logs = CapturedLogs::default();
    let _logging = logs.subscriber().set_default();
    let rig = Rig::start().await.expect("rig");
    let gatekey = rig.serve(&rig.settings()).await.expect("gatekey");
    let jane = rig.token("user:default/jane", &["payments-team"]);
    rig.kong_faults.set(Mode::Refuse);

    let reply = rig
        .mint(
            &gatekey.url,
            &jane,
            &json!({"scopes": ["read"], "ttl_seconds": 600}),
            None,
        )
        .await
        .expect("mint");
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    assert_eq!(reply.body["code"], "kong_unavailable");
    assert_no_internals(
        "the problem document",
        &reply.body.to_string(),
        rig.kong_faults.addr(),
    );
    let request_id = reply
        .header("x-request-id")
        .expect("every answer carries its request id")
        .to_owned();

    let mine = rig
        .call(&gatekey.url, Method::GET, "/v1/credentials", &jane)
        .await
        .expect("list");
    let id = mine.body["items"][0]["id"]
        .as_str()
        .expect("the failed record")
        .to_owned();
    let record = rig
        .call(
            &gatekey.url,
            Method::GET,
            &format!("/v1/credentials/{id}"),
            &jane,
        )
        .await
        .expect("get");
    assert_eq!(record.status, StatusCode::OK);
    assert_eq!(record.body["state"], "failed");
    assert_eq!(
        record.body["failure"],
        json!({
            "code": "kong_unavailable",
            "message": "The gateway could not be reached; nothing was issued.",
        })
    );
    assert!(
        record.body.get("failure_reason").is_none(),
        "{}",
        record.body
    );
    assert_no_internals(
        "the record",
        &about_the_failure(&record.body).to_string(),
        rig.kong_faults.addr(),
    );
    assert_no_internals(
        "the listing",
        &about_the_failure(&mine.body).to_string(),
        rig.kong_faults.addr(),
    );

    let events = rig.audit(&gatekey.url, "action=mint").await.expect("audit");
    let failed = events
        .iter()
        .find(|e| e["reason"] == "issue_failed" && e["issuance_id"] == id.as_str())
        .expect("issue_failed event");
    assert_eq!(
        failed["detail"],
        "kong_unavailable: The gateway could not be reached; nothing was issued."
    );
    assert_eq!(failed["request_id"], request_id.as_str());
    assert_no_internals(
        "the audit trail",
        &about_the_failure(&Value::Array(events)).to_string(),
        rig.kong_faults.addr(),
    );

    let raw = logs.lines_with(&["mint failed; rolling back", &request_id, "kong_unavailable"]);
    assert!(
        raw.iter()
            .any(|line| line.contains(&rig.kong_faults.addr().port().to_string())),
        "the log keeps the raw error for operators, with the request id: {raw:?}"
    );
    gatekey.stop().await;
}

/// `GET /v1/me` with `token`: the status and how long it took.
async fn me(rig: &Rig, gatekey: &str, token: &str) -> (StatusCode, Duration) {
    let started = Instant::now();
    let reply = rig
        .call(gatekey, Method::GET, "/v1/me", token)
        .await
        .expect("me");
    (reply.status, started.elapsed())
}

fn check<'a>(readiness: &'a Value, name: &str) -> &'a Value {
    readiness["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

/// With several issuers trusted, each declares its group prefix and the policy grants only
/// qualified groups: gives every issuer of `settings` its name as prefix and points it at such a
/// policy, in the returned directory (keep it until Gatekey has read the file).
fn qualify_groups(settings: &mut Settings) -> tempfile::TempDir {
    for issuer in &mut settings.auth.issuers {
        issuer.group_prefix = Some(format!("{}:", issuer.name));
    }
    let policy_dir = tempfile::tempdir().expect("policy dir");
    settings.policy_file = policy_dir.path().join("policy.yaml");
    std::fs::write(
        &settings.policy_file,
        "version: 1\nadmin_groups: [test-idp:platform-admins]\napis: []\n",
    )
    .expect("policy");
    policy_dir
}

#[tokio::test]
async fn hanging_issuers_slow_no_request_and_degrade_readiness_while_mongodb_down_fails_it() {
    let rig = Rig::start().await.expect("rig");
    let stalling_idp = gatekey_dev_idp::start(DevIdpConfig::default())
        .await
        .expect("idp");
    let stalling_issuer = stalling_idp.issuer();
    let stalling_addr: SocketAddr = stalling_issuer
        .trim_start_matches("http://")
        .parse()
        .expect("loopback address");
    let never_answers = SilentListener::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("silent listener");
    let mut settings = rig.settings();
    settings.auth.issuers.extend([
        trusted_issuer("stalling-idp", stalling_issuer, &["RS256"]),
        trusted_issuer(
            "silent-idp",
            format!("http://{}", never_answers.addr()),
            &["RS256"],
        ),
    ]);
    settings.auth.jwks_max_age_seconds = 1;
    let _policy_dir = qualify_groups(&mut settings);
    let gatekey = rig.serve(&settings).await.expect("gatekey");

    let sam = stalling_idp
        .sign(&TokenSpec::new("user:default/sam", [AUDIENCE]).groups(["payments-team"]));
    assert_eq!(
        me(&rig, &gatekey.url, &sam).await.0,
        StatusCode::OK,
        "keys cached"
    );
    // The issuer now accepts connections and never answers; its cached keys go stale.
    stalling_idp.shutdown().await;
    let _stalled = SilentListener::bind(stalling_addr).await.expect("rebind");
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    // The issuer client waits 10 s for an answer: a request that waited on a refresh would show.
    let limit = Duration::from_secs(2);
    for round in 0..3 {
        let jane = rig.token(&format!("user:default/jane-{round}"), &["payments-team"]);
        let (status, took) = me(&rig, &gatekey.url, &jane).await;
        assert_eq!(status, StatusCode::OK);
        assert!(took < limit, "another issuer's token took {took:?}");
        let (status, took) = me(&rig, &gatekey.url, &sam).await;
        assert_eq!(status, StatusCode::OK, "cached keys still verify");
        assert!(took < limit, "a token with cached keys took {took:?}");
    }

    let started = Instant::now();
    let reply = rig
        .call(&gatekey.url, Method::GET, "/readyz", "")
        .await
        .expect("readyz");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "degraded", "{}", reply.body);
    for (name, state) in [
        ("kong", "ok"),
        ("mongodb", "ok"),
        ("issuer:test-idp", "ok"),
        ("issuer:stalling-idp", "degraded"),
        ("issuer:silent-idp", "degraded"),
    ] {
        assert_eq!(
            check(&reply.body, name)["state"],
            state,
            "{name}: {}",
            reply.body
        );
    }
    assert!(check(&reply.body, "issuer:stalling-idp")["key_age_seconds"].is_u64());

    rig.mongo_faults.set(Mode::Refuse);
    rig.mongo_faults.cut_all();
    let reply = rig
        .call(&gatekey.url, Method::GET, "/readyz", "")
        .await
        .expect("readyz");
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(reply.body["status"], "not_ready");
    assert_eq!(
        check(&reply.body, "mongodb")["state"],
        "failed",
        "{}",
        reply.body
    );
    rig.mongo_faults.set(Mode::Pass);
    gatekey.stop().await;
}

const RATE_LIMITED_POLICY: &str = r"
version: 1
admin_groups: [platform-admins]
apis:
  - id: orders
    title: Orders API
    kong_service: orders
    gateway_url: http://gateway.example/orders
    default_ttl_seconds: 600
    max_ttl_seconds: 3600
    rate_limit: {second: 5, minute: 100}
    scopes:
      - name: read
        acl_group: orders-read
        allowed_groups: [payments-team]
";

#[tokio::test]
async fn the_configured_rate_limit_counter_policy_reaches_the_minted_consumers_plugin() {
    let stack = Stack::start_with(RATE_LIMITED_POLICY, |settings| {
        let rate_limiting = &mut settings.kong.rate_limiting;
        rate_limiting.policy = CounterPolicyName::Redis;
        rate_limiting.redis = Some(RedisSettings {
            host: "redis.platform.internal".to_owned(),
            port: 6380,
            username: Some("kong".to_owned()),
            password: Some(SecretString::from("redis-password")),
            password_file: None,
            database: 3,
            timeout_ms: 1_500,
            ssl: true,
            ssl_verify: true,
            server_name: Some("redis.platform.internal".to_owned()),
        });
    })
    .await
    .expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (status, minted) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(&jane),
            Some(&json!({"scopes": ["read"]})),
        )
        .await
        .expect("mint");
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let id = minted["credential"]["id"].as_str().expect("id");

    let plugins: Value = stack
        .http
        .get(format!(
            "{}/consumers/gatekey-{id}/plugins",
            stack.kong.admin_url()
        ))
        .send()
        .await
        .expect("plugins")
        .json()
        .await
        .expect("json");
    let plugin = &plugins["data"][0];
    assert_eq!(plugin["name"], "rate-limiting", "{plugins}");
    let config = &plugin["config"];
    assert_eq!(
        (&config["second"], &config["minute"]),
        (&json!(5), &json!(100))
    );
    assert_eq!(config["policy"], "redis");
    assert_eq!(
        config["redis"],
        json!({
            "host": "redis.platform.internal", "port": 6380, "username": "kong",
            "password": "redis-password", "database": 3, "timeout": 1500,
            "ssl": true, "ssl_verify": true, "server_name": "redis.platform.internal",
        })
    );
    let key = minted["key"].as_str().expect("key");
    let status = stack
        .call_gateway(Method::GET, "/orders", key)
        .await
        .expect("gateway");
    assert_eq!(status, StatusCode::OK, "the limited key works");
    stack.stop().await;
}
