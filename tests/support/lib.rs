//! One place that starts the whole stack for end-to-end tests: a MongoDB-protocol server (the one
//! in `MONGODB_URI`, or a SecantusDB process of the test's own), the Kong simulator with an echo
//! upstream behind it, the development OpenID provider, and the real `gatekey` application on a
//! random port. Tests talk HTTP to all of them, exactly like a user would.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test infrastructure: a broken rig fails the test with the expectation as its message"
)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::TryStreamExt as _;
use gatekey_dev_idp::{DevIdpConfig, RunningIdp, TokenSpec};
use gatekey_kong_sim::echo_upstream::{self, RunningEcho};
use gatekey_kong_sim::{DeclarativeConfig, RunningSim, SimConfig};
use gatekey_server::config::{GroupsClaim, IssuerConfig, LogFormat, Settings};
use gatekey_server::startup::Application;
use mongodb::bson::{Bson, Document};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

pub mod fault_proxy;
pub mod ingest;
pub mod logs;
pub mod raw_http;
pub mod rig;

/// Audience Gatekey expects in test tokens.
pub const AUDIENCE: &str = "gatekey";

/// Policy used by the end-to-end tests: one API with a read and a write scope, an admin group.
pub const POLICY: &str = r"
version: 1
admin_groups: [platform-admins]
apis:
  - id: orders
    title: Orders API
    description: Orders behind Kong
    owner: group:default/orders-team
    entity_ref: api:default/orders
    kong_service: orders
    gateway_url: http://gateway.example/orders
    default_ttl_seconds: 600
    min_ttl_seconds: 1
    max_ttl_seconds: 3600
    scopes:
      - name: read
        acl_group: orders-read
        allowed_groups: [payments-team, orders-team]
      - name: write
        acl_group: orders-write
        allowed_groups: [orders-team]
  - id: billing
    title: Billing API
    kong_service: billing
    gateway_url: http://gateway.example/billing
    default_ttl_seconds: 600
    max_ttl_seconds: 600
    scopes:
      - name: read
        acl_group: billing-read
        allowed_groups: [finance-team]
";

/// The gateway base every API of [`POLICY`] lives under (`gateway.allowed_urls` of the tests).
pub const GATEWAY_URL: &str = "http://gateway.example";

/// Kong configuration: key-auth on the service, one ACL-guarded route per scope. Each service's
/// `gatekey-entity:` tags name the catalog entities that may define Gatekey scopes for it:
/// `orders` is bound to `api:default/orders`; `payments` (allowing `payments-read` only) to
/// `api:default/payments` and to both `api:default/ledger` and `api:default/ledger-v2`, the
/// pair the catalog tests use for two entities claiming one API id.
pub const KONG_CONFIG: &str = r#"
_format_version: "3.0"
services:
  - name: orders
    url: UPSTREAM
    tags: ["gatekey-entity:api:default:orders"]
    plugins:
      - name: key-auth
        config: {key_names: [apikey]}
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
  - name: payments
    url: UPSTREAM
    tags:
      - "gatekey-entity:api:default:payments"
      - "gatekey-entity:api:default:ledger"
      - "gatekey-entity:api:default:ledger-v2"
    plugins:
      - name: key-auth
        config: {key_names: [apikey]}
    routes:
      - name: payments-read
        paths: [/payments]
        methods: [GET]
        plugins:
          - name: acl
            config: {allow: [payments-read]}
"#;

/// The Kong simulator configured with [`KONG_CONFIG`], in front of a fresh echo upstream.
pub async fn start_kong() -> anyhow::Result<(RunningSim, RunningEcho)> {
    start_kong_with(|echo_url| KONG_CONFIG.replace("UPSTREAM", echo_url)).await
}

/// The Kong simulator configured with the decK-format text `config` makes of a fresh echo
/// upstream's URL (a test may point its services elsewhere).
pub async fn start_kong_with(
    config: impl FnOnce(&str) -> String,
) -> anyhow::Result<(RunningSim, RunningEcho)> {
    let upstream = echo_upstream::start("127.0.0.1:0".parse()?).await?;
    let declarative = DeclarativeConfig::from_yaml_str(&config(&upstream.url()))?;
    let kong = gatekey_kong_sim::start(SimConfig {
        declarative: Some(declarative),
        ..SimConfig::default()
    })
    .await?;
    Ok((kong, upstream))
}

/// A trusted issuer as the tests configure it: tokens for [`AUDIENCE`], subject from `sub`,
/// groups from `groups`, signed with one of `algorithms`.
pub fn trusted_issuer(name: &str, issuer: String, algorithms: &[&str]) -> IssuerConfig {
    IssuerConfig {
        name: name.to_owned(),
        issuer,
        audiences: vec![AUDIENCE.to_owned()],
        algorithms: algorithms.iter().map(|alg| (*alg).to_owned()).collect(),
        groups_claims: vec![GroupsClaim {
            path: "groups".to_owned(),
            prefix: None,
        }],
        ..IssuerConfig::default()
    }
}

/// The `group_prefix` of the stack's own issuer once a test trusts a second one.
pub const OWN_GROUP_PREFIX: &str = "test-idp:";
/// Name of the second issuer of [`trust_second_issuer`]; its `group_prefix` is `idp-b:`.
pub const SECOND_ISSUER: &str = "idp-b";

/// [`POLICY`]'s `orders` API for a stack trusting two issuers ([`trust_second_issuer`]): every
/// group names its issuer. Both issuers' `payments-team` may read; only the stack's own issuer's
/// `orders-team` may write, and only its `platform-admins` are admins.
pub const TWO_ISSUER_POLICY: &str = r"
version: 1
admin_groups: [test-idp:platform-admins]
apis:
  - id: orders
    title: Orders API
    kong_service: orders
    gateway_url: http://gateway.example/orders
    default_ttl_seconds: 600
    min_ttl_seconds: 1
    max_ttl_seconds: 3600
    scopes:
      - name: read
        acl_group: orders-read
        allowed_groups: [test-idp:payments-team, idp-b:payments-team]
      - name: write
        acl_group: orders-write
        allowed_groups: [test-idp:orders-team]
";

/// Trusts `issuer` as [`SECOND_ISSUER`] next to the stack's own issuer. With more than one
/// issuer each must declare a group prefix: [`OWN_GROUP_PREFIX`] and `idp-b:`.
pub fn trust_second_issuer(settings: &mut Settings, issuer: String) {
    settings.auth.issuers[0].group_prefix = Some(OWN_GROUP_PREFIX.to_owned());
    settings.auth.issuers.push(IssuerConfig {
        group_prefix: Some(format!("{SECOND_ISSUER}:")),
        ..trusted_issuer(SECOND_ISSUER, issuer, &["RS256"])
    });
}

/// The Prometheus text `/metrics` serves on the operators' listener at `admin_url`.
pub async fn operators_metrics(http: &reqwest::Client, admin_url: &str) -> anyhow::Result<String> {
    Ok(http
        .get(format!("{admin_url}/metrics"))
        .send()
        .await?
        .text()
        .await?)
}

/// The value of the first sample whose line starts with `series` (name plus label set) in a
/// Prometheus text exposition.
pub fn metric_sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// A MongoDB-protocol server: the shared one from `MONGODB_URI`, or a process of our own.
#[derive(Debug)]
pub struct Mongo {
    pub uri: String,
    child: Option<Child>,
}

impl Mongo {
    pub fn start() -> anyhow::Result<Self> {
        if let Ok(uri) = std::env::var("MONGODB_URI") {
            return Ok(Self { uri, child: None });
        }
        Self::start_private()
    }

    /// A SecantusDB process of this test's own, even when `MONGODB_URI` names a shared server:
    /// for tests that [`Mongo::freeze`] it.
    pub fn start_private() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("secantusd-py")
            .args(["--port", &port.to_string(), "--storage-path", ":memory:"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start secantusd-py (run scripts/test.sh, or set MONGODB_URI)")?;
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Self {
                    uri: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
                    child: Some(child),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("secantusd-py did not listen on port {port}")
    }

    /// Freezes the server process (SIGSTOP): connections stay open and requests queue in its
    /// sockets unanswered, as with a stalled disk or a paused VM, until [`Mongo::thaw`].
    pub fn freeze(&self) -> anyhow::Result<()> {
        self.signal("-STOP")
    }

    /// Resumes a frozen server (SIGCONT); it then works through what queued meanwhile.
    pub fn thaw(&self) -> anyhow::Result<()> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let child = self
            .child
            .as_ref()
            .context("only a server of the test's own (Mongo::start_private) can be signalled")?;
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .context("cannot run kill")?;
        if !status.success() {
            bail!("kill {signal} {} failed: {status}", child.id());
        }
        Ok(())
    }
}

impl Drop for Mongo {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A unique database name per test, so tests sharing one server never see each other's data.
pub fn unique_database(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The whole stack, running.
#[derive(Debug)]
pub struct Stack {
    pub mongo: Mongo,
    pub database: String,
    pub kong: RunningSim,
    pub upstream: RunningEcho,
    pub idp: RunningIdp,
    pub gatekey_url: String,
    /// The `admin_listen` listener (`/metrics`, probes), when the settings configure one.
    pub admin_url: Option<String>,
    pub http: reqwest::Client,
    /// The policy file Gatekey reads (and re-reads when it changes).
    pub policy_file: PathBuf,
    _policy_dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Stack {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with_policy(POLICY).await
    }

    pub async fn start_with_policy(policy: &str) -> anyhow::Result<Self> {
        Self::start_with(policy, |_| {}).await
    }

    /// Starts with `policy`, letting `configure` adjust Gatekey's settings (e.g. an issuer preset)
    /// before the application is built.
    pub async fn start_with(
        policy: &str,
        configure: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<Self> {
        Self::start_with_kong(
            policy,
            |echo_url| KONG_CONFIG.replace("UPSTREAM", echo_url),
            configure,
        )
        .await
    }

    /// [`Stack::start_with`], the Kong simulator configured by what `kong_config` makes of the
    /// echo upstream's URL instead of [`KONG_CONFIG`].
    pub async fn start_with_kong(
        policy: &str,
        kong_config: impl FnOnce(&str) -> String,
        configure: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<Self> {
        Self::start_on(Mongo::start()?, policy, kong_config, configure).await
    }

    /// [`Stack::start_with_kong`] on `mongo`, e.g. a [`Mongo::start_private`] server the test
    /// freezes.
    pub async fn start_on(
        mongo: Mongo,
        policy: &str,
        kong_config: impl FnOnce(&str) -> String,
        configure: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<Self> {
        let (kong, upstream) = start_kong_with(kong_config).await?;
        let idp = gatekey_dev_idp::start(DevIdpConfig::default()).await?;
        let policy_dir = tempfile::tempdir()?;
        let policy_file: PathBuf = policy_dir.path().join("policy.yaml");
        std::fs::write(&policy_file, policy)?;
        let database = unique_database("e2e");

        let defaults = Settings::default();
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse()?,
            policy_file: policy_file.clone(),
            ..defaults
        };
        settings.mongodb.uri.clone_from(&mongo.uri);
        settings.mongodb.database.clone_from(&database);
        settings.kong.admin_url = kong.admin_url();
        settings.kong.max_retries = 0;
        settings.gateway.allowed_urls = vec![GATEWAY_URL.to_owned()];
        // Every local dependency (dev IdP, Kong simulator) speaks plain http.
        settings.allow_insecure_http = true;
        settings.log.format = LogFormat::Pretty;
        settings.auth.issuers = vec![trusted_issuer(
            "test-idp",
            idp.issuer(),
            &["RS256", "ES256"],
        )];
        configure(&mut settings);
        let app = Application::build(&settings).await?;
        let gatekey_url = format!("http://{}", app.local_addr());
        let admin_url = app.admin_addr().map(|addr| format!("http://{addr}"));
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = signal.await;
        }));
        Ok(Self {
            mongo,
            database,
            kong,
            upstream,
            idp,
            gatekey_url,
            admin_url,
            http: reqwest::Client::new(),
            policy_file,
            _policy_dir: policy_dir,
            shutdown: Some(shutdown),
            server: Some(server),
        })
    }

    /// Replaces the policy file as a Kubernetes ConfigMap update does: the new contents are
    /// written next to it and renamed over it, so a reader sees the old file or the new one.
    pub fn replace_policy(&self, policy: &str) -> anyhow::Result<()> {
        let staged = self.policy_file.with_extension("yaml.new");
        std::fs::write(&staged, policy)?;
        std::fs::rename(&staged, &self.policy_file)?;
        Ok(())
    }

    /// A valid RS256 token for `subject` in `groups`.
    pub fn token(&self, subject: &str, groups: &[&str]) -> String {
        self.idp
            .sign(&TokenSpec::new(subject, [AUDIENCE]).groups(groups.iter().copied()))
    }

    /// Calls Gatekey with an optional bearer token and JSON body; returns status and JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.gatekey_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?
        };
        Ok((status, json))
    }

    /// Calls the API through the Kong simulator's proxy with `key` in the `apikey` header.
    pub async fn call_gateway(
        &self,
        method: Method,
        path: &str,
        key: &str,
    ) -> anyhow::Result<StatusCode> {
        let response = self
            .http
            .request(method, format!("{}{path}", self.kong.proxy_url()))
            .header("apikey", key)
            .send()
            .await?;
        Ok(response.status())
    }

    /// The documents of `collection` matching `filter`, read straight from the stack's database.
    pub async fn stored(
        &self,
        collection: &str,
        filter: Document,
    ) -> anyhow::Result<Vec<Document>> {
        let client = mongodb::Client::with_uri_str(&self.mongo.uri).await?;
        let documents = client
            .database(&self.database)
            .collection::<Document>(collection)
            .find(filter)
            .await?
            .try_collect()
            .await?;
        Ok(documents)
    }

    /// Gatekey's `/metrics` text.
    pub async fn metrics_text(&self) -> anyhow::Result<String> {
        Ok(self
            .http
            .get(format!("{}/metrics", self.gatekey_url))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?)
    }

    /// Kong consumers carrying a tag, read straight from the simulator's Admin API.
    pub async fn kong_consumers_tagged(&self, tag: &str) -> anyhow::Result<Vec<Value>> {
        let body: Value = self
            .http
            .get(format!("{}/consumers?tags={tag}", self.kong.admin_url()))
            .send()
            .await?
            .json()
            .await?;
        Ok(body["data"].as_array().cloned().unwrap_or_default())
    }

    /// Every document of every collection of the stack's database, one relaxed extended JSON
    /// document per line, and the collection names: for scans of what was stored.
    pub async fn every_stored_document(&self) -> anyhow::Result<(String, Vec<String>)> {
        let client = mongodb::Client::with_uri_str(&self.mongo.uri).await?;
        let database = client.database(&self.database);
        let names = database.list_collection_names().await?;
        let mut all = String::new();
        for name in &names {
            let documents: Vec<Document> = database
                .collection::<Document>(name)
                .find(Document::new())
                .await?
                .try_collect()
                .await?;
            for document in documents {
                all.push_str(&Bson::Document(document).into_relaxed_extjson().to_string());
                all.push('\n');
            }
        }
        Ok((all, names))
    }

    /// Stops the service gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}
