//! A tiny upstream API that answers every request with what it received, so tests can see what
//! the proxy forwarded (path after strip_path, consumer headers) and the demo has an API to call.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::Request;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Largest request body echoed back.
const BODY_LIMIT: usize = 1024 * 1024;

/// A running echo server.
#[derive(Debug)]
pub struct RunningEcho {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningEcho {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Answers with the request's method, path, query, headers (lowercase names) and body text.
async fn echo(request: Request) -> axum::Json<Value> {
    let headers: BTreeMap<String, String> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let body = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    axum::Json(json!({
        "method": method, "path": path, "query": query, "headers": headers, "body": body,
    }))
}

/// Starts the echo server on `addr` (port 0 picks one).
pub async fn start(addr: SocketAddr) -> anyhow::Result<RunningEcho> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, Router::new().fallback(echo))
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "echo upstream failed");
        }
    });
    Ok(RunningEcho { addr, stop, task })
}
