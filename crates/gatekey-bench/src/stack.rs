//! The system under test, as child processes on loopback: a MongoDB-protocol server (SecantusDB),
//! the Kong simulator, the development OpenID provider and the `gatekey` binary, each on a free
//! port, with their logs in a temporary directory. Children are killed when their handle drops,
//! so an interrupted run leaves nothing behind.
//!
//! The bench policy gives every `bench-user-<n>` subject (group `bench`) the `read` scope of a
//! few APIs, one of which carries a rate limit, so a mint exercises every Kong call Gatekey can
//! make: consumer, ACL group, key-auth and the consumer-scoped rate-limiting plugin. Members of
//! group [`ADMIN_GROUP`] are Gatekey admins (the bulk revocation scenario's operator).

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::error::BenchError;
use crate::instructions::Callgrind;
use crate::placement::CpuPlacement;

/// The API every mint asks for (its scope `read`, with a rate limit).
pub(crate) const MINT_API: &str = "bench-0";
/// How many APIs the bench policy lists (all visible to the bench subjects).
pub(crate) const API_COUNT: usize = 8;
/// The ACL group of [`MINT_API`]'s `read` scope.
pub(crate) const MINT_ACL_GROUP: &str = "bench-0-read";
/// The route of [`MINT_API`] in the simulator (named like its ACL group).
pub(crate) const MINT_ROUTE: &str = "bench-0-read";
/// The group the bench policy makes admins of (`admin_groups`).
pub(crate) const ADMIN_GROUP: &str = "platform-admins";
/// The group the bench policy grants the APIs' `read` scope to.
pub(crate) const USER_GROUP: &str = "bench";
/// `revocations.concurrency` of the bench's `gatekey`: Kong deletes a bulk revocation job has in
/// flight, and the concurrency of its floor.
pub(crate) const REVOCATION_CONCURRENCY: usize = 8;
/// Audience of the bench tokens.
const AUDIENCE: &str = "gatekey";
/// How long a child may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the binaries are, and the scratch directory for configuration and logs.
#[derive(Debug)]
pub(crate) struct Workspace {
    bin_dir: PathBuf,
    scratch: tempfile::TempDir,
    /// Where `gatekey` runs; `None`: every process shares every CPU.
    placement: Option<CpuPlacement>,
}

impl Workspace {
    pub(crate) fn new(
        bin_dir: PathBuf,
        placement: Option<CpuPlacement>,
    ) -> Result<Self, BenchError> {
        for what in ["gatekey", "gatekey-kong-sim", "gatekey-dev-idp"] {
            let path = bin_dir.join(what);
            if !path.is_file() {
                return Err(BenchError::MissingBinary { what, path });
            }
        }
        Ok(Self {
            bin_dir,
            scratch: tempfile::Builder::new()
                .prefix("gatekey-bench-")
                .tempdir()?,
            placement,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// A new directory `name` in the scratch directory.
    pub(crate) fn subdir(&self, name: &str) -> Result<PathBuf, BenchError> {
        let dir = self.path(name);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Keeps the scratch directory (logs, configuration) after the run and returns its path.
    pub(crate) fn keep(self) -> PathBuf {
        self.scratch.keep()
    }
}

/// One child process, killed on drop.
#[derive(Debug)]
pub(crate) struct Process {
    what: &'static str,
    child: Child,
    log: PathBuf,
    pub port: u16,
}

impl Process {
    /// The kernel's process id, for `/proc/<pid>/status`.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Peak resident set size (VmHWM) in bytes, from `/proc/<pid>/status` (Linux only).
    pub(crate) fn peak_rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the process and waits for it.
    pub(crate) async fn stop(mut self) {
        // Already gone is fine: the goal is that it no longer runs.
        let _ = self.child.kill().await;
    }

    /// Starts `program` and waits until it listens on `port`; with `own_cpu`, on `gatekey`'s CPU
    /// of that placement.
    async fn spawn(
        what: &'static str,
        program: &Path,
        args: &[String],
        envs: &[(&str, String)],
        log: PathBuf,
        port: u16,
        own_cpu: Option<&CpuPlacement>,
    ) -> Result<Self, BenchError> {
        let file = std::fs::File::create(&log)?;
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true);
        let spawned = match own_cpu {
            Some(placement) => placement
                .on_gatekey_cpu(|| command.spawn())
                .and_then(|spawned| spawned),
            None => command.spawn(),
        };
        let child = spawned.map_err(|source| BenchError::Spawn { what, source })?;
        let mut process = Self {
            what,
            child,
            log,
            port,
        };
        process.wait_listening().await?;
        Ok(process)
    }

    async fn wait_listening(&mut self) -> Result<(), BenchError> {
        let started = Instant::now();
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        while started.elapsed() < START_TIMEOUT {
            if let Some(status) = self.child.try_wait()? {
                return Err(BenchError::Exited {
                    what: self.what,
                    status,
                    log: log_tail(&self.log),
                });
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(BenchError::NotListening {
            what: self.what,
            port: self.port,
            seconds: START_TIMEOUT.as_secs(),
            log: log_tail(&self.log),
        })
    }
}

/// The last lines of a child's log, for startup errors.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A port nobody listens on right now.
fn free_port() -> Result<u16, BenchError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The `secantusd-py` server with its registry of retryable writes and its TTL sweep brought to
/// mongod's costs (the script says why).
const SECANTUSD: &str = include_str!("secantusd.py");

/// SecantusDB with in-memory storage (installed for `python3` by `scripts/lib.sh`), logging to
/// `<name>.log`.
pub(crate) async fn start_mongo(ws: &Workspace, name: &str) -> Result<Process, BenchError> {
    spawn_secantusd(ws.path(&format!("{name}.log"))).await
}

async fn spawn_secantusd(log: PathBuf) -> Result<Process, BenchError> {
    let port = free_port()?;
    let args = [
        "-c".to_owned(),
        SECANTUSD.to_owned(),
        "--port".to_owned(),
        port.to_string(),
        "--storage-path".to_owned(),
        ":memory:".to_owned(),
    ];
    Process::spawn(
        "SecantusDB (secantusd-py, from python3)",
        Path::new("python3"),
        &args,
        &[],
        log,
        port,
        None,
    )
    .await
}

/// Gatekey's store on `database` with its indexes, as a fresh Gatekey would find it: what every
/// floor connects through, so its raw writes meet the same pool, write concern and indexes.
pub(crate) async fn gatekey_store(
    mongo_uri: &str,
    database: &str,
) -> Result<gatekey_store::Store, BenchError> {
    let store = gatekey_store::Store::connect(&gatekey_store::StoreConfig {
        uri: mongo_uri.to_owned(),
        database: database.to_owned(),
        issuance_retention_days: 90,
        audit_retention_days: None,
        usage_retention_days: 30,
    })
    .await?;
    store.ensure_indexes().await?;
    Ok(store)
}

/// `mongodb://` URI of a started MongoDB-protocol server.
pub(crate) fn mongo_uri(mongo: &Process) -> String {
    format!("mongodb://127.0.0.1:{}/?directConnection=true", mongo.port)
}

/// A Kong simulator with the bench service (key-auth, one ACL-guarded route per API).
pub(crate) async fn start_kong(ws: &Workspace, name: &str) -> Result<Process, BenchError> {
    let admin = free_port()?;
    let proxy = free_port()?;
    let mut config = String::from("_format_version: \"3.0\"\nservices:\n");
    for n in 0..API_COUNT {
        let _ = write!(
            config,
            "  - name: bench-{n}\n    url: http://127.0.0.1:9\n    plugins:\n      - name: key-auth\n        config: {{key_names: [apikey]}}\n    routes:\n      - name: bench-{n}-read\n        paths: [/bench-{n}]\n        plugins:\n          - name: acl\n            config: {{allow: [bench-{n}-read]}}\n"
        );
    }
    let config_path = ws.path(&format!("{name}.yaml"));
    std::fs::write(&config_path, config)?;
    let args = [
        "--admin-listen".to_owned(),
        format!("127.0.0.1:{admin}"),
        "--proxy-listen".to_owned(),
        format!("127.0.0.1:{proxy}"),
        "--config".to_owned(),
        config_path.display().to_string(),
    ];
    Process::spawn(
        "the Kong simulator",
        &ws.bin_dir.join("gatekey-kong-sim"),
        &args,
        &[("RUST_LOG", "warn".to_owned())],
        ws.path(&format!("{name}.log")),
        admin,
        None,
    )
    .await
}

/// The development OpenID provider.
pub(crate) async fn start_idp(ws: &Workspace) -> Result<Process, BenchError> {
    let port = free_port()?;
    let args = ["--listen".to_owned(), format!("127.0.0.1:{port}")];
    Process::spawn(
        "the development OpenID provider",
        &ws.bin_dir.join("gatekey-dev-idp"),
        &args,
        &[("RUST_LOG", "warn".to_owned())],
        ws.path("dev-idp.log"),
        port,
        None,
    )
    .await
}

/// The bench policy: [`API_COUNT`] APIs with a `read` scope open to group `bench`; the first,
/// [`MINT_API`], carries a rate limit so a mint also creates the rate-limiting plugin.
fn policy() -> String {
    let mut policy = format!("version: 1\nadmin_groups: [{ADMIN_GROUP}]\napis:\n");
    for n in 0..API_COUNT {
        let rate_limit = if n == 0 {
            "    rate_limit: {minute: 120}\n"
        } else {
            ""
        };
        let _ = write!(
            policy,
            "  - id: bench-{n}\n    title: Bench API {n}\n    description: An API of the benchmark's catalog\n    owner: group:default/bench-team\n    entity_ref: api:default/bench-{n}\n    kong_service: bench-{n}\n    gateway_url: http://127.0.0.1:8000/bench-{n}\n    default_ttl_seconds: 900\n    min_ttl_seconds: 60\n    max_ttl_seconds: 3600\n{rate_limit}    scopes:\n      - name: read\n        description: GET /bench-{n}\n        acl_group: bench-{n}-read\n        allowed_groups: [{USER_GROUP}]\n"
        );
    }
    policy
}

/// Where Kong's `http-log` posts to the started `gatekey`, and with which secret.
#[derive(Debug)]
pub(crate) struct IngestAccess {
    /// `POST /v1/ingest/kong-http-log` on the operators' listener.
    pub url: String,
    pub secret: String,
}

/// What the started `gatekey` serves on its operators' listener.
#[derive(Debug)]
pub(crate) struct OperatorsListener {
    pub ingest: IngestAccess,
    /// Its Prometheus metrics.
    pub metrics_url: String,
}

/// The release (or debug) `gatekey` binary, configured like `deploy/local/` but on free ports,
/// logging JSON at `info` (the production default) to its log file, with the usage ingest on
/// its operators' listener (a random secret per run). With `callgrind`, under valgrind.
pub(crate) async fn start_gatekey(
    ws: &Workspace,
    mongo_uri: &str,
    kong: &Process,
    idp: &Process,
    callgrind: Option<&Callgrind>,
) -> Result<(Process, OperatorsListener), BenchError> {
    let port = free_port()?;
    let admin_port = free_port()?;
    let policy_path = ws.path("policy.yaml");
    std::fs::write(&policy_path, policy())?;
    let secret = format!("{}{}", ulid::Ulid::new(), ulid::Ulid::new());
    let secret_path = ws.path("ingest-secret");
    std::fs::write(&secret_path, &secret)?;
    let config = format!(
        r#"listen = "127.0.0.1:{port}"
admin_listen = "127.0.0.1:{admin_port}"
policy_file = "{policy}"
# The local IdP and Kong simulator speak plain http.
allow_insecure_http = true

[mongodb]
uri = "{mongo_uri}"
database = "gatekey_bench"

[kong]
admin_url = "{kong}"

[gateway]
allowed_urls = ["http://127.0.0.1:8000"]

[log]
format = "json"
filter = "info"

# Each bench client mints as fast as it can as one subject: every mint is counted against the
# per-subject limits (the counter update is part of the measured path), set out of reach.
[limits]
mints_per_subject_per_minute = 10000
live_credentials_per_subject_and_api = 10000

# The bulk revocation job's Kong deletes in flight (its floor uses as many).
[revocations]
concurrency = {REVOCATION_CONCURRENCY}

# Kong's http-log batches of the ingest scenarios.
[ingest]
secret_file = "{secret_file}"

[[auth.issuers]]
name = "bench-idp"
issuer = "{idp}"
audiences = ["{AUDIENCE}"]
algorithms = ["RS256"]
subject_claim = "sub"
groups_claims = [{{ path = "groups" }}]
"#,
        policy = policy_path.display(),
        secret_file = secret_path.display(),
        kong = kong.url(),
        idp = idp.url(),
    );
    let config_path = ws.path("gatekey.toml");
    std::fs::write(&config_path, config)?;
    let args = [
        "serve".to_owned(),
        "--config".to_owned(),
        config_path.display().to_string(),
    ];
    let binary = ws.bin_dir.join("gatekey");
    let (program, args) = match callgrind {
        Some(callgrind) => callgrind.command_line(&binary, &args),
        None => (binary, args.to_vec()),
    };
    let gatekey = Process::spawn(
        "gatekey",
        &program,
        &args,
        &[],
        ws.path("gatekey.log"),
        port,
        ws.placement.as_ref(),
    )
    .await?;
    wait_port("gatekey's operators' listener", admin_port).await?;
    let operators = OperatorsListener {
        ingest: IngestAccess {
            url: format!("http://127.0.0.1:{admin_port}/v1/ingest/kong-http-log"),
            secret,
        },
        metrics_url: format!("http://127.0.0.1:{admin_port}/metrics"),
    };
    Ok((gatekey, operators))
}

/// Waits until something listens on `port` (a second listener of a started process).
async fn wait_port(what: &'static str, port: u16) -> Result<(), BenchError> {
    let started = Instant::now();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while started.elapsed() < START_TIMEOUT {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(BenchError::NotListening {
        what,
        port,
        seconds: START_TIMEOUT.as_secs(),
        log: String::new(),
    })
}

/// A token for `subject` in `groups` (e.g. [`USER_GROUP`]), from the development OpenID
/// provider's token endpoint.
pub(crate) async fn token(
    http: &reqwest::Client,
    idp: &Process,
    subject: &str,
    groups: &[&str],
) -> Result<String, BenchError> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        access_token: String,
    }
    let response: TokenResponse = http
        .post(format!("{}/token", idp.url()))
        .json(&serde_json::json!({
            "sub": subject,
            "groups": groups,
            "aud": AUDIENCE,
            "ttl_seconds": 3600,
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(response.access_token)
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{Bson, DateTime, Document, doc};

    use super::*;

    /// The launcher's TTL sweep (through the index) expires exactly what SecantusDB's own sweep
    /// (every document read) does: dates before the cutoff, an array by any of its dates, within
    /// a partial index's filter only; never a document without a date.
    #[tokio::test]
    async fn the_launchers_ttl_sweep_expires_what_secantusdb_does() {
        let scratch = tempfile::tempdir().expect("scratch directory");
        let server = spawn_secantusd(scratch.path().join("secantusd.log"))
            .await
            .expect("SecantusDB starts");
        let client = mongodb::Client::with_uri_str(mongo_uri(&server))
            .await
            .expect("client");
        let db = client.database("ttl");
        let now = DateTime::now().timestamp_millis();
        let expired = Bson::DateTime(DateTime::from_millis(now - 3_600_000));
        let live = Bson::DateTime(DateTime::from_millis(now + 86_400_000));
        for (collection, partial) in [("all", None), ("partial", Some(doc! { "kind": "x" }))] {
            let mut index = doc! { "key": { "at": 1 }, "name": "at_ttl", "expireAfterSeconds": 60 };
            if let Some(partial) = partial {
                index.insert("partialFilterExpression", partial);
            }
            db.run_command(doc! { "createIndexes": collection, "indexes": [index] })
                .await
                .expect("TTL index");
        }
        let docs: Vec<Document> = vec![
            doc! { "_id": "expired", "at": expired.clone() },
            doc! { "_id": "live", "at": live.clone() },
            doc! { "_id": "array with an expired date", "at": [live.clone(), expired.clone()] },
            doc! { "_id": "not a date", "at": "yesterday" },
            doc! { "_id": "no date" },
        ];
        db.collection::<Document>("all")
            .insert_many(docs)
            .await
            .expect("insert");
        let partial_docs = vec![
            doc! { "_id": "expired, in the index", "at": expired.clone(), "kind": "x" },
            doc! { "_id": "expired, outside the index", "at": expired, "kind": "y" },
        ];
        db.collection::<Document>("partial")
            .insert_many(partial_docs)
            .await
            .expect("insert");

        let swept = client
            .database("admin")
            .run_command(doc! { "secantusAdmin.pruneTtl": 1 })
            .await
            .expect("sweep");
        assert_eq!(swept.get("pruned"), Some(&Bson::Int32(3)), "{swept}");

        let mut left = Vec::new();
        for collection in ["all", "partial"] {
            let mut ids: Vec<String> = db
                .collection::<Document>(collection)
                .distinct("_id", doc! {})
                .await
                .expect("read back")
                .into_iter()
                .filter_map(|id| id.as_str().map(str::to_owned))
                .collect();
            ids.sort();
            left.push(ids);
        }
        assert_eq!(
            left,
            [
                vec!["live", "no date", "not a date"],
                vec!["expired, outside the index"]
            ]
        );
        server.stop().await;
    }
}
