//! Test support for the contract tests: the [`Target`] they run against (the in-repo simulator,
//! or the real Kong in `KONG_ADMIN_URL`), a per-test [`Fixture`] whose unique tag marks every
//! entity the test creates so it can be removed afterwards (also after a failed assertion), and
//! tiny HTTP servers for transport tests.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use gatekey_kong::{AdminAuth, KongClient, KongConfig, ListQuery};
use gatekey_kong_sim::{RunningSim, SimConfig};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use url::Url;

/// Where the contract tests send their calls.
#[derive(Debug)]
pub(crate) enum Target {
    /// A simulator started for this test.
    Sim(RunningSim),
    /// A real Kong Admin API (`KONG_ADMIN_URL`, optional `KONG_ADMIN_HEADER` + `KONG_ADMIN_TOKEN`).
    Real {
        url: Url,
        auth: Option<(String, SecretString)>,
    },
}

impl Target {
    /// The real Kong when `KONG_ADMIN_URL` is set, else a fresh simulator.
    pub(crate) async fn start(test: &str) -> Self {
        if let Ok(url) = std::env::var("KONG_ADMIN_URL") {
            let url = Url::parse(&url).expect("KONG_ADMIN_URL is a URL");
            eprintln!("{test}: contract target = real Kong at {url}");
            let auth = std::env::var("KONG_ADMIN_HEADER")
                .ok()
                .zip(std::env::var("KONG_ADMIN_TOKEN").ok())
                .map(|(header, token)| (header, SecretString::from(token)));
            Self::Real { url, auth }
        } else {
            let sim = start_sim().await;
            eprintln!(
                "{test}: contract target = simulator at {} (set KONG_ADMIN_URL for a real Kong)",
                sim.admin_url()
            );
            Self::Sim(sim)
        }
    }

    pub(crate) fn admin_url(&self) -> Url {
        match self {
            Self::Sim(sim) => Url::parse(&sim.admin_url()).expect("simulator URL"),
            Self::Real { url, .. } => url.clone(),
        }
    }

    fn auth(&self) -> Option<AdminAuth> {
        match self {
            Self::Sim(_) => None,
            Self::Real { auth, .. } => auth.as_ref().map(|(header, token)| AdminAuth {
                header: header.clone(),
                token: token.clone(),
            }),
        }
    }

    /// A client with test-friendly timeouts.
    pub(crate) fn client(&self) -> KongClient {
        let mut config = KongConfig::new(self.admin_url());
        config.admin_auth = self.auth();
        config.request_timeout = Duration::from_secs(10);
        KongClient::new(&config).expect("client")
    }

    /// Lets `by` pass for Kong: the simulator's clock jumps, a real Kong is waited for.
    pub(crate) async fn advance(&self, by: Duration) {
        match self {
            Self::Sim(sim) => sim.advance_clock(by),
            Self::Real { .. } => tokio::time::sleep(by).await,
        }
    }

    pub(crate) fn is_sim(&self) -> bool {
        matches!(self, Self::Sim(_))
    }
}

/// A simulator of the test's own, for behaviour only it can produce (faults, request counts).
pub(crate) async fn start_sim() -> RunningSim {
    gatekey_kong_sim::start(SimConfig::default())
        .await
        .expect("simulator starts")
}

/// One contract test's world: the target, a client, and a tag unique to this test run.
#[derive(Debug, Clone)]
pub(crate) struct Fixture {
    pub target: Arc<Target>,
    pub client: KongClient,
    /// Unique per test run; every entity the test creates carries it.
    pub tag: String,
}

impl Fixture {
    /// A name unique to this test run, e.g. for usernames.
    pub(crate) fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.tag)
    }

    /// The test's tag, as the `tags` of a new entity.
    #[expect(
        clippy::unnecessary_wraps,
        reason = "shaped like the `tags` field of the New* bodies"
    )]
    pub(crate) fn tags(&self) -> Option<Vec<String>> {
        Some(vec![self.tag.clone()])
    }

    /// The test's tag plus `extra`.
    #[expect(
        clippy::unnecessary_wraps,
        reason = "shaped like the `tags` field of the New* bodies"
    )]
    pub(crate) fn tags_with(&self, extra: &[&str]) -> Option<Vec<String>> {
        let mut tags = vec![self.tag.clone()];
        tags.extend(extra.iter().map(|t| (*t).to_owned()));
        Some(tags)
    }

    /// Raw Admin API access, for entities the client only reads (services, routes, plugins).
    pub(crate) async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let url = self
            .target
            .admin_url()
            .join(path.trim_start_matches('/'))
            .expect("admin path");
        let mut request = reqwest::Client::new().request(method.clone(), url);
        if let Some(auth) = self.target.auth() {
            request = request.header(auth.header, auth.token.expose_secret());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin call");
        let status = response.status();
        let text = response.text().await.expect("admin body");
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("admin JSON")
        }
    }

    /// Removes everything tagged with the test's tag: consumers (cascading to their
    /// credentials, groups and plugins), then routes, plugins and services.
    async fn cleanup(&self) {
        let tagged = ListQuery::tagged_all([self.tag.clone()]);
        match self.client.list_all_consumers(&tagged).await {
            Ok(consumers) => {
                for consumer in consumers {
                    if let Err(err) = self.client.delete_consumer(&consumer.id).await {
                        eprintln!("cleanup: consumer {}: {err}", consumer.id);
                    }
                }
            }
            Err(err) => eprintln!("cleanup: listing consumers: {err}"),
        }
        if self.target.is_sim() {
            return;
        }
        for collection in ["routes", "plugins", "services"] {
            let page = self
                .admin(
                    reqwest::Method::GET,
                    &format!("/{collection}?tags={}&size=1000", self.tag),
                    None,
                )
                .await;
            for entity in page["data"].as_array().into_iter().flatten() {
                let id = entity["id"].as_str().expect("entity id");
                self.admin(
                    reqwest::Method::DELETE,
                    &format!("/{collection}/{id}"),
                    None,
                )
                .await;
            }
        }
    }
}

/// Runs one contract test against the target, then removes what it created, also when it fails.
pub(crate) async fn contract<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    let target = Arc::new(Target::start(test).await);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let fixture = Fixture {
        client: target.client(),
        target,
        tag: format!("gk-{test}-{}", &run[..12]).replace('_', "-"),
    };
    let outcome = AssertUnwindSafe(body(fixture.clone())).catch_unwind().await;
    fixture.cleanup().await;
    if let Ok(Target::Sim(sim)) = Arc::try_unwrap(fixture.target) {
        sim.shutdown().await;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Serves `router` on a random local port until the test's runtime ends.
pub(crate) async fn serve(router: axum::Router) -> Url {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    Url::parse(&format!("http://{addr}")).expect("url")
}

/// A client for `url` with short timeouts and `retries`.
pub(crate) fn quick_client(url: Url, timeout: Duration, retries: u32) -> KongClient {
    let mut config = KongConfig::new(url);
    config.request_timeout = timeout;
    config.connect_timeout = timeout;
    config.max_retries = retries;
    KongClient::new(&config).expect("client")
}
