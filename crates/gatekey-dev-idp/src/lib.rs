//! A small but real OpenID provider for tests, benchmarks and the local demo: OIDC discovery, a
//! JWKS with an RSA (RS256) and a P-256 (ES256) key, tokens signed with either, key rotation, and a
//! development-only token endpoint. Gatekey's tests verify tokens from it over real sockets exactly
//! as they would from a company IdP. Never deploy it: it signs whatever it is asked to.

mod keys;
mod token;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub use keys::SigningAlg;
pub use token::TokenSpec;

/// Where to listen and under which path the issuer lives.
#[derive(Debug, Clone)]
pub struct DevIdpConfig {
    pub addr: SocketAddr,
    /// Appended to `http://host:port`; empty means the issuer is the origin itself.
    pub issuer_path: String,
}

impl Default for DevIdpConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            issuer_path: String::new(),
        }
    }
}

#[derive(Debug)]
struct Provider {
    issuer: String,
    keys: RwLock<keys::KeySet>,
    jwks_fetches: AtomicU64,
    discovery_fetches: AtomicU64,
}

impl Provider {
    fn sign(&self, spec: &TokenSpec) -> String {
        let keys = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        token::sign(&keys, &self.issuer, spec)
    }
}

/// A running provider.
#[derive(Debug)]
pub struct RunningIdp {
    provider: Arc<Provider>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningIdp {
    /// The exact `iss` of its tokens (no trailing slash).
    pub fn issuer(&self) -> String {
        self.provider.issuer.clone()
    }

    /// Signs a token now.
    pub fn sign(&self, spec: &TokenSpec) -> String {
        self.provider.sign(spec)
    }

    /// Replaces both keys with new ones under new `kid`s; tokens signed before stop verifying.
    pub fn rotate_keys(&self) {
        let fresh = keys::KeySet::generate();
        *self
            .provider
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
    }

    /// How many times the JWKS was served.
    pub fn jwks_fetch_count(&self) -> u64 {
        self.provider.jwks_fetches.load(Ordering::Relaxed)
    }

    /// How many times the discovery document was served.
    pub fn discovery_fetch_count(&self) -> u64 {
        self.provider.discovery_fetches.load(Ordering::Relaxed)
    }

    /// The RSA public key as PEM, for tests of algorithm-confusion attacks.
    pub fn rsa_public_key_pem(&self) -> String {
        self.provider
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .rsa_public_pem()
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Binds and starts serving.
pub async fn start(config: DevIdpConfig) -> anyhow::Result<RunningIdp> {
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let path = config.issuer_path.trim_end_matches('/').to_owned();
    let issuer = format!("http://{addr}{path}");
    let provider = Arc::new(Provider {
        issuer,
        keys: RwLock::new(keys::KeySet::generate()),
        jwks_fetches: AtomicU64::new(0),
        discovery_fetches: AtomicU64::new(0),
    });
    let routes = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(issue_token))
        .with_state(provider.clone());
    let app = if path.is_empty() {
        routes
    } else {
        Router::new().nest(&path, routes)
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "dev OpenID provider failed");
        }
    });
    Ok(RunningIdp {
        provider,
        stop,
        task,
    })
}

async fn discovery(State(provider): State<Arc<Provider>>) -> Json<Value> {
    provider.discovery_fetches.fetch_add(1, Ordering::Relaxed);
    let issuer = &provider.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code", "id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "grant_types_supported": ["urn:gatekey:dev"],
    }))
}

async fn jwks(State(provider): State<Arc<Provider>>) -> Json<Value> {
    provider.jwks_fetches.fetch_add(1, Ordering::Relaxed);
    let keys = provider
        .keys
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Json(keys.jwks())
}

/// Body of the development token endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    sub: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default = "default_audience")]
    aud: String,
    #[serde(default = "default_ttl")]
    ttl_seconds: u64,
    #[serde(default)]
    alg: Option<SigningAlg>,
}

fn default_audience() -> String {
    "gatekey".to_owned()
}

fn default_ttl() -> u64 {
    3600
}

async fn issue_token(
    State(provider): State<Arc<Provider>>,
    body: Result<Json<TokenRequest>, axum::extract::rejection::JsonRejection>,
) -> (StatusCode, Json<Value>) {
    let Ok(Json(request)) = body else {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"error": "invalid_request", "error_description": "send JSON {\"sub\": ..., \"groups\": [...], \"aud\"?, \"ttl_seconds\"?, \"alg\"?}"}),
            ),
        );
    };
    let spec = TokenSpec::new(&request.sub, [request.aud.as_str()])
        .groups(request.groups.iter().map(String::as_str))
        .alg(request.alg.unwrap_or(SigningAlg::Rs256))
        .expires_in(Duration::from_secs(request.ttl_seconds));
    (
        StatusCode::OK,
        Json(json!({
            "access_token": provider.sign(&spec),
            "token_type": "Bearer",
            "expires_in": request.ttl_seconds,
        })),
    )
}
