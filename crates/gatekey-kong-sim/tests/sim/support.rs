//! One place that starts a simulator (with an echo upstream behind its proxy) on port 0 and
//! speaks HTTP to it, so every test reads as requests and assertions.

use std::time::Duration;

use gatekey_kong_sim::echo_upstream::{self, RunningEcho};
use gatekey_kong_sim::{DeclarativeConfig, RunningSim, SimConfig};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Services for the proxy tests; `ECHO` becomes the echo upstream's URL.
const KONG_YAML: &str = r#"
_format_version: "3.0"
services:
  - name: orders
    url: ECHO/base
    plugins:
      - name: key-auth
    routes:
      - name: orders-read
        paths: [/orders]
        methods: [GET]
        plugins:
          - name: acl
            config: {allow: [orders-read]}
  - name: limited
    url: ECHO
    plugins:
      - name: key-auth
        config: {key_names: [x-api-key], realm: gatekey}
      - name: rate-limiting
        config: {minute: 2}
    routes:
      - name: limited
        paths: [/limited]
        strip_path: false
  - name: headers-only
    url: ECHO
    plugins:
      - name: key-auth
        config: {key_in_query: false, hide_credentials: true}
    routes:
      - {name: headers-only, paths: [/headers-only]}
  - name: dead
    url: http://127.0.0.1:1
    routes:
      - {name: dead, paths: [/dead]}
  - name: open
    url: ECHO
    routes:
      - {name: open, paths: [/open]}
consumers:
  - username: seeded
    tags: [declarative]
"#;

/// A running simulator, its echo upstream and a client.
pub(crate) struct Harness {
    pub sim: RunningSim,
    pub echo: RunningEcho,
    pub http: reqwest::Client,
}

impl Harness {
    pub(crate) async fn start() -> Self {
        Self::start_with_purge(Duration::from_secs(300)).await
    }

    pub(crate) async fn start_with_purge(purge_interval: Duration) -> Self {
        Self::start_with(SimConfig {
            purge_interval,
            ..SimConfig::default()
        })
        .await
    }

    /// A simulator whose proxy learns of deletions `db_update_frequency` after they happen.
    pub(crate) async fn start_with_db_update_frequency(db_update_frequency: Duration) -> Self {
        Self::start_with(SimConfig {
            db_update_frequency,
            ..SimConfig::default()
        })
        .await
    }

    /// `config` with the services above behind the echo upstream.
    async fn start_with(config: SimConfig) -> Self {
        let echo = echo_upstream::start("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("echo upstream");
        let declarative = DeclarativeConfig::from_yaml_str(&KONG_YAML.replace("ECHO", &echo.url()))
            .expect("declarative config");
        let sim = gatekey_kong_sim::start(SimConfig {
            declarative: Some(declarative),
            ..config
        })
        .await
        .expect("simulator");
        Self {
            sim,
            echo,
            http: reqwest::Client::new(),
        }
    }

    pub(crate) async fn stop(self) {
        self.sim.shutdown().await;
        self.echo.shutdown().await;
    }

    /// An Admin API call with an optional JSON body: status and JSON body (`Null` when empty).
    pub(crate) async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.sim.admin_url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("admin call")).await
    }

    /// A proxy call with extra headers: the raw response.
    pub(crate) async fn proxy(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.sim.proxy_url()));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("proxy call")
    }

    /// Creates consumer `username` with a key-auth credential `key` and the given ACL groups.
    pub(crate) async fn consumer_with_key(
        &self,
        username: &str,
        key: &str,
        groups: &[&str],
    ) -> Value {
        let (status, consumer) = self
            .admin(Method::POST, "/consumers", Some(serde_json::json!({"username": username, "custom_id": format!("cid-{username}")})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{consumer}");
        let (status, credential) = self
            .admin(
                Method::POST,
                &format!("/consumers/{username}/key-auth"),
                Some(serde_json::json!({"key": key})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{credential}");
        for group in groups {
            let (status, acl) = self
                .admin(
                    Method::POST,
                    &format!("/consumers/{username}/acls"),
                    Some(serde_json::json!({"group": group})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{acl}");
        }
        consumer
    }
}

/// Status and JSON body of a response (`Null` when the body is empty).
pub(crate) async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    };
    (status, body)
}

/// A response header as text.
pub(crate) fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}
