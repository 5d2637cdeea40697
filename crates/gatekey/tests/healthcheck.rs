//! `gatekey healthcheck`, the container health probe: exit status follows what a real HTTP server
//! answers on `/healthz`, and an unreachable service is unhealthy with a reason on stderr.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::process::Command;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

async fn serve(status: StatusCode) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().route("/healthz", get(move || async move { status }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/healthz")
}

fn healthcheck(url: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gatekey"))
        .args(["healthcheck", "--url", url])
        .output()
        .expect("run gatekey")
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_unhealthy_and_unreachable_services_are_told_apart() {
    let healthy = serve(StatusCode::OK).await;
    let unhealthy = serve(StatusCode::SERVICE_UNAVAILABLE).await;
    let (ok, bad) =
        tokio::task::spawn_blocking(move || (healthcheck(&healthy), healthcheck(&unhealthy)))
            .await
            .expect("probes");
    assert!(ok.status.success(), "{ok:?}");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("503"),
        "{bad:?}"
    );

    let closed = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        socket.local_addr().expect("addr")
    };
    let down =
        tokio::task::spawn_blocking(move || healthcheck(&format!("http://{closed}/healthz")))
            .await
            .expect("probe");
    assert!(!down.status.success());
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("unhealthy"),
        "{down:?}"
    );
}
