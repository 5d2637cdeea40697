//! A small but real OpenID provider for tests, benchmarks and the local demo: OIDC discovery, a
//! JWKS with an RSA (RS256) and a P-256 (ES256) key, tokens signed with either, key rotation, and a
//! development-only token endpoint. Gatekey's tests verify tokens from it over real sockets exactly
//! as they would from a company IdP. Never deploy it: it signs whatever it is asked to.

mod keys;
mod token;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
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
    /// Listen address; port 0 picks a free port. Default `127.0.0.1:0`.
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
    fn keys(&self) -> std::sync::RwLockReadGuard<'_, keys::KeySet> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn sign(&self, spec: &TokenSpec) -> String {
        token::sign(&self.keys(), &self.issuer, spec)
    }
}

/// A running provider. Stop it with [`RunningIdp::shutdown`]; dropping it leaves it serving until
/// the runtime ends.
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

    /// Replaces both keys with new ones under new `kid`s; the old keys leave the JWKS, so tokens
    /// signed before stop verifying.
    pub fn rotate_keys(&self) {
        let fresh = keys::KeySet::generate();
        *self
            .provider
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner) = fresh;
    }

    /// How many times the JWKS was served.
    pub fn jwks_fetch_count(&self) -> u64 {
        self.provider.jwks_fetches.load(Ordering::Relaxed)
    }

    /// How many times the discovery document was served.
    pub fn discovery_fetch_count(&self) -> u64 {
        self.provider.discovery_fetches.load(Ordering::Relaxed)
    }

    /// The current public key for `alg` as SPKI PEM, for algorithm-confusion attack tests (an
    /// HS256 token "signed" with the public key as the HMAC secret).
    pub fn signing_public_key_pem(&self, alg: SigningAlg) -> String {
        self.provider.keys().public_key_pem(alg)
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits for the server.
    pub async fn shutdown(self) {
        // The receiver is gone only if the server already stopped, which is the goal.
        let _ = self.stop.send(());
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "dev OpenID provider task failed");
        }
    }
}

/// Binds `config.addr`, generates fresh keys and starts serving.
pub async fn start(config: DevIdpConfig) -> anyhow::Result<RunningIdp> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding the dev OpenID provider to {}", config.addr))?;
    let addr = listener.local_addr()?;
    let path = config.issuer_path.trim_end_matches('/');
    let path = if path.is_empty() || path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let provider = Arc::new(Provider {
        issuer: format!("http://{addr}{path}"),
        keys: RwLock::new(keys::KeySet::generate()),
        jwks_fetches: AtomicU64::new(0),
        discovery_fetches: AtomicU64::new(0),
    });
    let routes = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(issue_token))
        .route("/userinfo", get(userinfo))
        .with_state(Arc::clone(&provider));
    let app = if path.is_empty() {
        routes
    } else {
        Router::new().nest(&path, routes)
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // A dropped sender also means stop.
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
        // Required by OpenID Connect Discovery (and the `openidconnect` crate); this provider has
        // no interactive login, so it answers 404 there.
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code", "id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "grant_types_supported": ["urn:gatekey:dev"],
    }))
}

async fn jwks(State(provider): State<Arc<Provider>>) -> Json<Value> {
    provider.jwks_fetches.fetch_add(1, Ordering::Relaxed);
    Json(provider.keys().jwks())
}

/// Longest lifetime the development token endpoint grants.
const MAX_TTL_SECONDS: u64 = 7 * 24 * 3600;

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

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

async fn issue_token(
    State(provider): State<Arc<Provider>>,
    body: Result<Json<TokenRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!(
                    "{rejection}; send JSON {{\"sub\": \"...\", \"groups\": [...], \"aud\"?, \"ttl_seconds\"?, \"alg\"?: \"RS256\"|\"ES256\"}}"
                ),
            );
        }
    };
    if request.sub.is_empty() || request.ttl_seconds == 0 || request.ttl_seconds > MAX_TTL_SECONDS {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("sub must not be empty and ttl_seconds must be 1..={MAX_TTL_SECONDS}"),
        );
    }
    let spec = TokenSpec::new(&request.sub, [request.aud.as_str()])
        .groups(request.groups.iter().map(String::as_str))
        .alg(request.alg.unwrap_or(SigningAlg::Rs256))
        .expires_in(Duration::from_secs(request.ttl_seconds));
    Json(json!({
        "access_token": provider.sign(&spec),
        "token_type": "Bearer",
        "expires_in": request.ttl_seconds,
    }))
    .into_response()
}

/// Claims about the token itself rather than the user; left out of userinfo.
const PROTOCOL_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "iat", "nbf", "jti"];

/// OpenID Connect userinfo for the provider's own unexpired tokens: the user's claims.
async fn userinfo(State(provider): State<Arc<Provider>>, headers: HeaderMap) -> Response {
    let claims = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|token| token::verify_own(&provider.keys(), &provider.issuer, token.trim()));
    let Some(mut claims) = claims else {
        let mut response = oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "send a current token of this provider as a bearer token",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return response;
    };
    claims.retain(|name, _| !PROTOCOL_CLAIMS.contains(&name.as_str()));
    Json(Value::Object(claims)).into_response()
}
