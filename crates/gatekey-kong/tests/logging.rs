//! What the Kong client logs, at every level down to TRACE: the calls, their status and their
//! retries, never a key or the Admin API token. In a test binary of its own: tracing caches
//! whether a log line is wanted per call site, process-wide, and a test running in parallel on
//! another thread of the same process, without this test's subscriber, could reach a call site
//! first and leave it unwanted here (seen once as a missing `retrying` line).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use axum::http::Method as AxumMethod;
use gatekey_kong::{AdminAuth, KongClient, KongConfig, NewConsumer, NewKeyAuth};
use gatekey_kong_sim::{Fault, SimConfig};
use secrecy::SecretString;
use url::Url;

/// Collects every log line of the test's thread.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn debug_logs_show_calls_but_never_keys_or_the_admin_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = gatekey_kong_sim::start(SimConfig::default())
        .await
        .expect("simulator starts");
    let mut config = KongConfig::new(Url::parse(&sim.admin_url()).expect("url"));
    config.admin_auth = Some(AdminAuth {
        header: "Kong-Admin-Token".to_owned(),
        token: SecretString::from("admin-t0ken-never-logged"),
    });
    let client = KongClient::new(&config).expect("client");
    let key = "k3y-never-logged-0123456789abcdef";
    let owner = client
        .create_consumer(&NewConsumer {
            username: Some("logged".to_owned()),
            ..NewConsumer::default()
        })
        .await
        .expect("consumer");
    let new_key = NewKeyAuth {
        key: Some(SecretString::from(key)),
        ttl: Some(60),
        tags: None,
    };
    let credential = client
        .create_key_auth(&owner.id, &new_key)
        .await
        .expect("key");
    let duplicate = client
        .create_key_auth(&owner.id, &new_key)
        .await
        .expect_err("dup");
    tracing::error!(error = %duplicate, debug = ?duplicate, "what a caller would log");
    tracing::error!(?credential, ?config, "what a careless caller would log");
    client
        .get_key_auth("logged", key)
        .await
        .expect("get by key");
    sim.inject_fault(Fault {
        method: AxumMethod::DELETE,
        path_contains: "/key-auth/".to_owned(),
        status: 500,
        times: 1,
    });
    client
        .delete_key_auth("logged", key)
        .await
        .expect("delete after a retry");
    sim.shutdown().await;

    let logs = String::from_utf8(captured.0.lock().expect("logs").clone()).expect("utf-8");
    assert!(logs.contains("kong_admin"), "{logs}");
    assert!(
        logs.contains("path=/consumers/logged/key-auth/{redacted}"),
        "{logs}"
    );
    assert!(logs.contains("status=201"), "{logs}");
    assert!(logs.contains("retrying"), "{logs}");
    assert!(!logs.contains(key), "{logs}");
    assert!(!logs.contains("admin-t0ken-never-logged"), "{logs}");
}
