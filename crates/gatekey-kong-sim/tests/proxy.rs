//! The simulator's proxy enforces key-auth, ttl, ACL and rate limiting like Kong 3.7+ does, and
//! forwards to the upstream with the consumer headers Kong adds.

use std::time::Duration;

use gatekey_kong_sim::echo_upstream::{self, RunningEcho};
use gatekey_kong_sim::{DeclarativeConfig, RunningSim, SimConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CONFIG: &str = r#"
_format_version: "3.0"
services:
  - name: orders
    url: UPSTREAM/v1
    plugins:
      - name: key-auth
        config: {key_names: [apikey, x-api-key], realm: orders}
    routes:
      - name: orders-read
        paths: [/orders]
        methods: [GET]
        plugins:
          - name: acl
            config: {allow: [orders-read]}
      - name: orders-write
        paths: [/orders]
        methods: [POST]
        plugins:
          - name: acl
            config: {allow: [orders-write]}
"#;

struct Proxy {
    sim: RunningSim,
    upstream: RunningEcho,
    http: reqwest::Client,
}

impl Proxy {
    async fn start() -> Self {
        let upstream = echo_upstream::start("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("echo");
        let declarative =
            DeclarativeConfig::from_yaml_str(&CONFIG.replace("UPSTREAM", &upstream.url()))
                .expect("valid config");
        let sim = gatekey_kong_sim::start(SimConfig {
            declarative: Some(declarative),
            ..SimConfig::default()
        })
        .await
        .expect("sim");
        Self {
            sim,
            upstream,
            http: reqwest::Client::new(),
        }
    }

    async fn admin(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.sim.admin_url()))
            .json(&body)
            .send()
            .await
            .expect("admin");
        assert_eq!(response.status(), StatusCode::CREATED, "{path}");
        response.json().await.expect("json")
    }

    /// A consumer with `groups`, a key, and optionally a ttl.
    async fn consumer(&self, name: &str, groups: &[&str], key: &str, ttl: Option<u32>) {
        self.admin("/consumers", json!({"username": name})).await;
        for group in groups {
            self.admin(&format!("/consumers/{name}/acls"), json!({"group": group}))
                .await;
        }
        self.admin(
            &format!("/consumers/{name}/key-auth"),
            json!({"key": key, "ttl": ttl}),
        )
        .await;
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.get(format!("{}{path}", self.sim.proxy_url()));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("proxy")
    }

    async fn stop(self) {
        self.sim.shutdown().await;
        self.upstream.shutdown().await;
    }
}

#[tokio::test]
async fn a_key_in_a_configured_header_reaches_the_upstream_with_consumer_headers() {
    let proxy = Proxy::start().await;
    proxy
        .consumer("jane", &["orders-read"], "key-jane", None)
        .await;
    let response = proxy
        .get("/orders/42?x=1", &[("x-api-key", "key-jane")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let echoed: Value = response.json().await.expect("json");
    assert_eq!(
        echoed["path"], "/v1/42",
        "strip_path and the service path apply"
    );
    assert_eq!(echoed["query"], "x=1");
    assert_eq!(echoed["headers"]["x-consumer-username"], "jane");
    assert_eq!(echoed["headers"]["x-consumer-groups"], "orders-read");
    assert!(echoed["headers"]["x-credential-identifier"].is_string());
    let by_query = proxy.get("/orders?apikey=key-jane", &[]).await;
    assert_eq!(
        by_query.status(),
        StatusCode::OK,
        "key_in_query defaults to true"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn missing_unknown_and_duplicate_keys_get_401_with_a_key_challenge() {
    let proxy = Proxy::start().await;
    proxy
        .consumer("jane", &["orders-read"], "key-jane", None)
        .await;
    let cases: [(&[(&str, &str)], &str); 2] = [
        (&[], "No API key found in request"),
        (&[("apikey", "nope")], "Unauthorized"),
    ];
    for (headers, message) in cases {
        let response = proxy.get("/orders", headers).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Key realm=\"orders\""
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["message"], message);
        assert!(body["request_id"].is_string());
    }
    let duplicate = proxy
        .http
        .get(format!("{}/orders", proxy.sim.proxy_url()))
        .header("apikey", "key-jane")
        .header("apikey", "key-jane")
        .send()
        .await
        .expect("proxy");
    assert_eq!(duplicate.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        duplicate.json::<Value>().await.expect("json")["message"],
        "Duplicate API key found"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn an_expired_key_is_refused_after_its_ttl() {
    let proxy = Proxy::start().await;
    proxy
        .consumer("jane", &["orders-read"], "key-jane", Some(60))
        .await;
    assert_eq!(
        proxy
            .get("/orders", &[("apikey", "key-jane")])
            .await
            .status(),
        StatusCode::OK
    );
    proxy.sim.advance_clock(Duration::from_secs(61));
    let response = proxy.get("/orders", &[("apikey", "key-jane")]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.expect("json")["message"],
        "Unauthorized"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_consumer_outside_the_allow_list_gets_403() {
    let proxy = Proxy::start().await;
    proxy
        .consumer("jane", &["orders-read"], "key-jane", None)
        .await;
    let response = proxy
        .http
        .post(format!("{}/orders", proxy.sim.proxy_url()))
        .header("apikey", "key-jane")
        .send()
        .await
        .expect("proxy");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.json::<Value>().await.expect("json")["message"],
        "You cannot consume this service"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_consumer_rate_limit_answers_429_with_rate_limit_headers() {
    let proxy = Proxy::start().await;
    proxy
        .consumer("jane", &["orders-read"], "key-jane", None)
        .await;
    proxy
        .admin(
            "/consumers/jane/plugins",
            json!({"name": "rate-limiting", "config": {"minute": 2}}),
        )
        .await;
    for remaining in ["1", "0"] {
        let response = proxy.get("/orders", &[("apikey", "key-jane")]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-ratelimit-limit-minute"], "2");
        assert_eq!(response.headers()["ratelimit-remaining"], remaining);
    }
    let limited = proxy.get("/orders", &[("apikey", "key-jane")]).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(limited.headers()["x-ratelimit-remaining-minute"], "0");
    assert_eq!(
        limited.json::<Value>().await.expect("json")["message"],
        "API rate limit exceeded"
    );
    proxy.sim.advance_clock(Duration::from_secs(60));
    assert_eq!(
        proxy
            .get("/orders", &[("apikey", "key-jane")])
            .await
            .status(),
        StatusCode::OK,
        "a new window"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn unmatched_paths_and_dead_upstreams_answer_like_kong() {
    let proxy = Proxy::start().await;
    let response = proxy.get("/nothing", &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.json::<Value>().await.expect("json")["message"],
        "no Route matched with those values"
    );
    proxy
        .consumer("jane", &["orders-read"], "key-jane", None)
        .await;
    let Proxy {
        sim,
        upstream,
        http,
    } = proxy;
    upstream.shutdown().await;
    let response = http
        .get(format!("{}/orders", sim.proxy_url()))
        .header("apikey", "key-jane")
        .send()
        .await
        .expect("proxy");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    sim.shutdown().await;
}
