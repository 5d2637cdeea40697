//! The fault-test rig: the same components as [`crate::Stack`], but Gatekey reaches Kong's Admin
//! API and MongoDB through [`FaultProxy`]s, runs with short timeouts and a fast reconciler, and
//! can run either in-process or as the real `gatekey` binary (for SIGKILL, SIGTERM and several
//! replicas). Helpers read the outcome the way an operator would: Kong's consumers straight from
//! the Admin API, records and audit events through Gatekey's admin endpoints.

use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use gatekey_dev_idp::{DevIdpConfig, RunningIdp, TokenSpec};
use gatekey_kong_sim::RunningSim;
use gatekey_kong_sim::echo_upstream::RunningEcho;
use gatekey_server::config::{LogFormat, Settings};
use gatekey_server::startup::Application;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::fault_proxy::FaultProxy;
use crate::{AUDIENCE, GATEWAY_URL, Mongo, POLICY, start_kong, trusted_issuer, unique_database};

/// Group the test policy makes admin.
pub const ADMIN_GROUP: &str = "platform-admins";

/// Every component, with fault proxies in front of Kong's Admin API and MongoDB.
#[derive(Debug)]
pub struct Rig {
    pub mongo: Mongo,
    pub kong: RunningSim,
    pub upstream: RunningEcho,
    pub idp: RunningIdp,
    /// Between Gatekey and Kong's Admin API.
    pub kong_faults: FaultProxy,
    /// Between Gatekey and MongoDB.
    pub mongo_faults: FaultProxy,
    pub database: String,
    pub http: reqwest::Client,
    policy_dir: tempfile::TempDir,
}

/// `host:port` and the rest (`/?...`) of a `mongodb://` URI with a single host.
fn split_mongo_uri(uri: &str) -> anyhow::Result<(SocketAddr, String)> {
    let rest = uri
        .strip_prefix("mongodb://")
        .context("the fault rig needs a mongodb:// URI")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host = &rest[..end];
    let addr = host
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("cannot resolve {host}"))?;
    Ok((addr, rest[end..].to_owned()))
}

impl Rig {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(Mongo::start()?).await
    }

    /// A rig on `mongo` (e.g. a [`Mongo::start_private`] server a test freezes).
    pub async fn start_on(mongo: Mongo) -> anyhow::Result<Self> {
        let (kong, upstream) = start_kong().await?;
        let idp = gatekey_dev_idp::start(DevIdpConfig::default()).await?;
        let kong_admin: SocketAddr = kong
            .admin_url()
            .trim_start_matches("http://")
            .parse()
            .context("simulator admin address")?;
        let kong_faults = FaultProxy::start(kong_admin).await?;
        let (mongo_addr, _) = split_mongo_uri(&mongo.uri)?;
        let mongo_faults = FaultProxy::start(mongo_addr).await?;
        let policy_dir = tempfile::tempdir()?;
        std::fs::write(policy_dir.path().join("policy.yaml"), POLICY)?;
        Ok(Self {
            mongo,
            kong,
            upstream,
            idp,
            kong_faults,
            mongo_faults,
            database: unique_database("faults"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            policy_dir,
        })
    }

    /// Gatekey settings for this rig: dependencies behind the proxies, a 3 s request timeout, a
    /// reconciler pass every second (an orphan sweep too) with a 4 s orphan grace and pending
    /// timeout.
    pub fn settings(&self) -> Settings {
        let (_, mongo_rest) = split_mongo_uri(&self.mongo.uri).expect("checked at start");
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().expect("valid"),
            policy_file: self.policy_dir.path().join("policy.yaml"),
            ..Settings::default()
        };
        settings.mongodb.uri = format!("mongodb://{}{mongo_rest}", self.mongo_faults.addr());
        settings.mongodb.database.clone_from(&self.database);
        settings.kong.admin_url = format!("http://{}", self.kong_faults.addr());
        settings.allow_insecure_http = true;
        settings.kong.max_retries = 0;
        settings.gateway.allowed_urls = vec![GATEWAY_URL.to_owned()];
        settings.kong.request_timeout_ms = 1_500;
        settings.kong.connect_timeout_ms = 500;
        settings.http.request_timeout_seconds = 3;
        settings.reconciler.interval_seconds = 1;
        settings.reconciler.lease_seconds = 3;
        settings.reconciler.orphan_grace_seconds = 4;
        settings.reconciler.pending_timeout_seconds = 4;
        settings.reconciler.pass_budget_seconds = 2;
        settings.reconciler.orphan_interval_seconds = 1;
        settings.log.format = LogFormat::Pretty;
        settings.auth.issuers = vec![trusted_issuer("test-idp", self.idp.issuer(), &["RS256"])];
        settings
    }

    /// Runs Gatekey in this process.
    pub async fn serve(&self, settings: &Settings) -> anyhow::Result<InProcess> {
        let app = Application::build(settings).await?;
        let url = format!("http://{}", app.local_addr());
        let admin_url = app.admin_addr().map(|addr| format!("http://{addr}"));
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = signal.await;
        }));
        Ok(InProcess {
            url,
            admin_url,
            shutdown: Some(shutdown),
            server: Some(server),
        })
    }

    /// Runs the real `gatekey` binary with `settings` (its own port) and waits until it answers.
    pub async fn spawn(&self, settings: &Settings, name: &str) -> anyhow::Result<GatekeyProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut settings = settings.clone();
        settings.listen = SocketAddr::from(([127, 0, 0, 1], port));
        let config = self.policy_dir.path().join(format!("{name}.toml"));
        std::fs::write(&config, toml::to_string(&settings)?)?;
        let log = std::fs::File::create(self.policy_dir.path().join(format!("{name}.log")))?;
        let child = Command::new(gatekey_binary()?)
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start the gatekey binary")?;
        let url = format!("http://127.0.0.1:{port}");
        let process = GatekeyProcess { url, child };
        let ready = eventually(Duration::from_secs(20), || async {
            self.http
                .get(format!("{}/healthz", process.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        if !ready {
            bail!("gatekey {name} did not start; see its log");
        }
        Ok(process)
    }

    /// A token for `subject` in `groups`.
    pub fn token(&self, subject: &str, groups: &[&str]) -> String {
        self.idp
            .sign(&TokenSpec::new(subject, [AUDIENCE]).groups(groups.iter().copied()))
    }

    /// A token of an admin (reads everyone's records and the audit trail).
    pub fn admin_token(&self) -> String {
        self.token("user:default/admin", &[ADMIN_GROUP])
    }

    /// Consumers tagged `gatekey`, straight from Kong (not through the fault proxy), every page.
    pub async fn consumers(&self) -> anyhow::Result<Vec<Value>> {
        let mut consumers = Vec::new();
        let mut offset: Option<String> = None;
        loop {
            let mut request = self
                .http
                .get(format!("{}/consumers", self.kong.admin_url()))
                .query(&[("tags", "gatekey"), ("size", "1000")]);
            if let Some(offset) = &offset {
                request = request.query(&[("offset", offset)]);
            }
            let body: Value = request.send().await?.json().await?;
            consumers.extend(body["data"].as_array().cloned().unwrap_or_default());
            match body["offset"].as_str() {
                Some(next) => offset = Some(next.to_owned()),
                None => return Ok(consumers),
            }
        }
    }

    /// A consumer that looks like Gatekey's but has no record (a leftover of a lost mint).
    pub async fn create_orphan(&self) -> anyhow::Result<String> {
        let id = ulid::Ulid::new().to_string();
        let response = self
            .http
            .post(format!("{}/consumers", self.kong.admin_url()))
            .json(&json!({
                "username": format!("gatekey-{id}"),
                "custom_id": id,
                "tags": ["gatekey", "gatekey-api:orders", format!("gatekey-issuance:{id}")],
            }))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("cannot create an orphan: {}", response.status());
        }
        Ok(id)
    }

    /// Mints on `gatekey` with an optional `Idempotency-Key`.
    pub async fn mint(
        &self,
        gatekey: &str,
        token: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<Reply> {
        let mut request = self
            .http
            .post(format!("{gatekey}/v1/apis/orders/credentials"))
            .bearer_auth(token)
            .json(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        Reply::read(request.send().await?).await
    }

    /// Starts `count` mints at once, spread round-robin over the `replicas` (Gatekey base URLs);
    /// the replies in the order the mints were started.
    pub async fn mint_concurrently(
        &self,
        replicas: &[&str],
        token: &str,
        body: &Value,
        count: usize,
    ) -> anyhow::Result<Vec<Reply>> {
        futures::future::try_join_all(
            (0..count).map(|n| self.mint(replicas[n % replicas.len()], token, body, None)),
        )
        .await
    }

    /// Gatekey's store on this rig's database, reached directly (not through the fault proxy),
    /// to set up what a replica that crashed would have left behind.
    pub async fn store(&self) -> anyhow::Result<gatekey_store::Store> {
        Ok(gatekey_store::Store::connect(&gatekey_store::StoreConfig {
            uri: self.mongo.uri.clone(),
            database: self.database.clone(),
            issuance_retention_days: 90,
            audit_retention_days: None,
            usage_retention_days: 30,
        })
        .await?)
    }

    /// The status of `GET /orders` through the Kong simulator's proxy with `key`.
    pub async fn gateway_status(&self, key: &str) -> anyhow::Result<StatusCode> {
        Ok(self
            .http
            .get(format!("{}/orders", self.kong.proxy_url()))
            .header("apikey", key)
            .send()
            .await?
            .status())
    }

    /// Any call to `gatekey`.
    pub async fn call(
        &self,
        gatekey: &str,
        method: Method,
        path: &str,
        token: &str,
    ) -> anyhow::Result<Reply> {
        let response = self
            .http
            .request(method, format!("{gatekey}{path}"))
            .bearer_auth(token)
            .send()
            .await?;
        Reply::read(response).await
    }

    /// Any call to `gatekey` with a JSON body.
    pub async fn call_json(
        &self,
        gatekey: &str,
        method: Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> anyhow::Result<Reply> {
        let response = self
            .http
            .request(method, format!("{gatekey}{path}"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await?;
        Reply::read(response).await
    }

    /// Every issuance record (admin view), newest first.
    pub async fn records(&self, gatekey: &str) -> anyhow::Result<Vec<Value>> {
        let reply = self
            .call(
                gatekey,
                Method::GET,
                "/v1/credentials?limit=200",
                &self.admin_token(),
            )
            .await?;
        if reply.status != StatusCode::OK {
            bail!("cannot list records: {} {}", reply.status, reply.body);
        }
        Ok(reply.body["items"].as_array().cloned().unwrap_or_default())
    }

    /// Audit events matching `query` (e.g. `action=reconcile`), newest first.
    pub async fn audit(&self, gatekey: &str, query: &str) -> anyhow::Result<Vec<Value>> {
        let reply = self
            .call(
                gatekey,
                Method::GET,
                &format!("/v1/audit?limit=200&{query}"),
                &self.admin_token(),
            )
            .await?;
        if reply.status != StatusCode::OK {
            bail!(
                "cannot read the audit trail: {} {}",
                reply.status,
                reply.body
            );
        }
        Ok(reply.body["items"].as_array().cloned().unwrap_or_default())
    }

    /// Every audit event matching `query`, following the pages, newest first.
    pub async fn audit_all(&self, gatekey: &str, query: &str) -> anyhow::Result<Vec<Value>> {
        let mut events = Vec::new();
        let mut cursor = String::new();
        loop {
            let reply = self
                .call(
                    gatekey,
                    Method::GET,
                    &format!("/v1/audit?limit=200&{query}{cursor}"),
                    &self.admin_token(),
                )
                .await?;
            if reply.status != StatusCode::OK {
                bail!(
                    "cannot read the audit trail: {} {}",
                    reply.status,
                    reply.body
                );
            }
            events.extend(reply.body["items"].as_array().cloned().unwrap_or_default());
            match reply.body["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return Ok(events),
            }
        }
    }

    /// Guarantee 1: every consumer Gatekey created in Kong belongs to a `pending` or `active`
    /// record (`expired` is an active record past its lifetime). Returns the consumers' ids.
    pub async fn assert_every_consumer_has_a_live_record(
        &self,
        gatekey: &str,
    ) -> anyhow::Result<Vec<String>> {
        let records = self.records(gatekey).await?;
        let mut ids = Vec::new();
        for consumer in self.consumers().await? {
            let id = consumer["custom_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let record = records.iter().find(|r| r["id"] == id.as_str());
            let state = record.and_then(|r| r["state"].as_str()).unwrap_or("none");
            if !matches!(state, "pending" | "active" | "expired") {
                bail!("Kong consumer {consumer} has a {state} record");
            }
            ids.push(id);
        }
        Ok(ids)
    }
}

/// A response: status, headers and JSON body (`null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    async fn read(response: reqwest::Response) -> anyhow::Result<Self> {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?
        };
        Ok(Self {
            status,
            headers,
            body,
        })
    }

    /// A header's text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Gatekey running inside the test process.
#[derive(Debug)]
pub struct InProcess {
    pub url: String,
    /// The operators' listener (`/metrics`, the ingest), when the settings configure one.
    pub admin_url: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl InProcess {
    /// Stops it gracefully and waits.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

/// The `gatekey` binary running as a child process; killed when dropped.
#[derive(Debug)]
pub struct GatekeyProcess {
    pub url: String,
    child: Child,
}

impl GatekeyProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no shutdown code runs.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn terminate(&self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        Ok(())
    }

    /// Sends SIGHUP (re-read the policy file now).
    pub fn hang_up(&self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -HUP failed");
        }
        Ok(())
    }

    /// Waits up to `limit` for the process to exit; its exit code, or `None` if still running.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for GatekeyProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Polls `check` every 100 ms until it holds or `limit` passes; whether it held.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `gatekey` binary of this workspace, built once per test process (a no-op when fresh:
/// `cargo test` of a dependent crate does not build other packages' binaries).
pub fn gatekey_binary() -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // <target>/debug/deps/<test binary>
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let profile_dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .ok_or("unexpected test binary location")?;
            let target_dir = profile_dir.parent().ok_or("unexpected target layout")?;
            let mut cargo = Command::new(option_env!("CARGO").unwrap_or("cargo"));
            // `cargo test` runs this process with the test package's variables (its manifest
            // directory, package name, ...). Inherited, they differ from a build started in a
            // shell, and build scripts that track them (ring's) would make every switch between
            // the two rebuild everything above them.
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy();
                if name.starts_with("CARGO_PKG_")
                    || [
                        "CARGO_MANIFEST_DIR",
                        "CARGO_MANIFEST_PATH",
                        "CARGO_CRATE_NAME",
                        "CARGO_BIN_NAME",
                        "CARGO_PRIMARY_PACKAGE",
                        "CARGO_TARGET_TMPDIR",
                        "OUT_DIR",
                    ]
                    .contains(&name.as_ref())
                {
                    cargo.env_remove(name.as_ref());
                }
            }
            let status = cargo
                // The same package set as the scripts build, so every build shares one set of
                // compiled dependencies (another set of packages can unify other features).
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "gatekey",
                    "-p",
                    "gatekey-kong-sim",
                    "-p",
                    "gatekey-dev-idp",
                    "--bins",
                ])
                .env("CARGO_TARGET_DIR", target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !status.success() {
                return Err("cargo build of the gatekey binary failed".to_owned());
            }
            Ok(profile_dir.join("gatekey"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}
