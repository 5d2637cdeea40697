//! One place for test fixtures: a server, a fresh database with its store, and records.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeZone as _, Utc};
use gatekey_core::audit::{AuditAction, AuditEvent, Decision};
use gatekey_core::issuance::{Issuance, IssuanceState, KongRef, NewIssuance};
use gatekey_store::{Store, StoreConfig};
use mongodb::bson::Document;
use mongodb::{Client, Collection, Database};

use crate::wire::WireProxy;

/// A MongoDB-protocol server: the shared one in `MONGODB_URI`, or a process killed on drop.
#[derive(Debug)]
struct Mongo {
    uri: String,
    child: Option<Child>,
}

impl Mongo {
    fn start() -> Self {
        if let Ok(uri) = std::env::var("MONGODB_URI") {
            return Self { uri, child: None };
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new("secantusd-py")
            .args(["--port", &port.to_string(), "--storage-path", ":memory:"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("secantusd-py starts (pip install SecantusDB==0.7.0b3, or set MONGODB_URI)");
        for _ in 0..300 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self {
                    uri: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
                    child: Some(child),
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("secantusd-py did not listen on port {port}");
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

/// A database of its own, so tests sharing one server never see each other's data.
fn unique_database() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    format!(
        "gatekey_store_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store on a fresh database, and a plain driver handle on the same database to look at
/// what was really written.
#[derive(Debug)]
pub(crate) struct TestDb {
    pub store: Store,
    pub config: StoreConfig,
    pub db: Database,
    mongo: Mongo,
}

impl TestDb {
    /// A fresh database with Gatekey's indexes (90 days of issuances, audit kept forever).
    pub(crate) async fn start() -> Self {
        let db = Self::empty(90, None).await;
        db.store.ensure_indexes().await.expect("indexes");
        db
    }

    /// A fresh database without indexes.
    pub(crate) async fn empty(
        issuance_retention_days: u32,
        audit_retention_days: Option<u32>,
    ) -> Self {
        let mongo = Mongo::start();
        let config = StoreConfig {
            uri: mongo.uri.clone(),
            database: unique_database(),
            issuance_retention_days,
            audit_retention_days,
            usage_retention_days: 30,
        };
        let store = Store::connect(&config).await.expect("store connects");
        let db = Client::with_uri_str(&mongo.uri)
            .await
            .expect("client")
            .database(&config.database);
        Self {
            store,
            config,
            db,
            mongo,
        }
    }

    /// A fresh database with Gatekey's indexes, whose store reaches the server through a
    /// [`WireProxy`] that presents it with `max_wire_version` when set.
    pub(crate) async fn through_proxy(max_wire_version: Option<i32>) -> (Self, WireProxy) {
        let mut db = Self::empty(90, None).await;
        let proxy = WireProxy::start(&db.mongo.uri, max_wire_version).await;
        db.config.uri = proxy.uri();
        db.store = Store::connect(&db.config).await.expect("store connects");
        db.store.ensure_indexes().await.expect("indexes");
        (db, proxy)
    }

    /// Another store on the same database, with other retention settings.
    pub(crate) async fn reconfigured(
        &self,
        issuance_retention_days: u32,
        audit_retention_days: Option<u32>,
    ) -> Store {
        Store::connect(&StoreConfig {
            issuance_retention_days,
            audit_retention_days,
            ..self.config.clone()
        })
        .await
        .expect("store connects")
    }

    pub(crate) fn raw(&self, collection: &str) -> Collection<Document> {
        self.db.collection(collection)
    }
}

/// A fixed instant plus `secs`, so tests control time.
pub(crate) fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + secs, 0)
        .single()
        .expect("valid instant")
}

/// The revision stamped on the records and events written here: each round trip keeps it.
pub(crate) const POLICY_REVISION: &str =
    "sha256:6a1f0e1f9d5c4b3a29180716f5e4d3c2b1a0918273645546372819a0b1c2d3e4";

/// A pending issuance for `subject` on `api_id`, issued at `issued_at`, valid 10 minutes.
pub(crate) fn issuance(subject: &str, api_id: &str, issued_at: DateTime<Utc>) -> Issuance {
    Issuance::new_pending(
        NewIssuance {
            subject: subject.to_owned(),
            issuer: "https://backstage.example".to_owned(),
            api_id: api_id.to_owned(),
            scopes: vec![format!("{api_id}:read")],
            acl_groups: vec![format!("{api_id}-read")],
            caller_groups: vec![format!("group:default/{api_id}-team")],
            granting_groups: vec![format!("group:default/{api_id}-team")],
            purpose: Some("try it".to_owned()),
            ttl_seconds: 600,
            request_id: Some("req-1".to_owned()),
            policy_revision: Some(POLICY_REVISION.to_owned()),
        },
        issued_at,
    )
}

/// Where the Kong side of credential number `n` would be.
pub(crate) fn kong_ref(n: u32) -> KongRef {
    KongRef {
        consumer_id: format!("consumer-{n}"),
        consumer_username: format!("gatekey-{n}"),
        credential_id: format!("credential-{n}"),
    }
}

/// The same issuance in another state.
pub(crate) fn in_state(mut issuance: Issuance, state: IssuanceState) -> Issuance {
    issuance.state = state;
    issuance
}

/// An audit event at `at`.
pub(crate) fn event(
    at: DateTime<Utc>,
    action: AuditAction,
    decision: Decision,
    subject: &str,
    api_id: &str,
) -> AuditEvent {
    let reason = match decision {
        Decision::Allow => "granted",
        Decision::Deny => "scope_not_allowed",
    };
    AuditEvent {
        subject: Some(subject.to_owned()),
        issuer: Some("https://backstage.example".to_owned()),
        api_id: Some(api_id.to_owned()),
        scopes: vec![format!("{api_id}:read")],
        request_id: Some("req-1".to_owned()),
        client_addr: Some("10.0.0.7".to_owned()),
        policy_revision: Some(POLICY_REVISION.to_owned()),
        ..AuditEvent::new(action, decision, reason, at)
    }
}
