//! The HTTP side: one keep-alive connection pool per client, a deadline on every call, the admin
//! token header when configured, and bounded retries of idempotent calls (GET, PUT, DELETE) on
//! connection errors, timeouts and 5xx. POSTs are never retried: a lost response could otherwise
//! create an entity twice.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::KongError;
use crate::model::{
    Acl, Consumer, KeyAuth, ListQuery, NewAcl, NewConsumer, NewKeyAuth, NewPlugin, NodeInfo,
    NodeStatus, Page, Plugin, Route, Service,
};

/// A header and token the Admin API (or the Kong route in front of it) requires.
#[derive(Debug, Clone)]
pub struct AdminAuth {
    /// e.g. `Kong-Admin-Token`.
    pub header: String,
    pub token: SecretString,
}

/// How to reach the Admin API.
#[derive(Debug, Clone)]
pub struct KongConfig {
    pub admin_url: Url,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub admin_auth: Option<AdminAuth>,
    /// Extra root CA, PEM.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Client certificate and private key, PEM, for mutual TLS.
    pub client_identity_pem: Option<Vec<u8>>,
    /// Retries of idempotent calls.
    pub max_retries: u32,
}

impl KongConfig {
    /// Defaults for `admin_url`: 5 s per call, 2 s to connect, 2 retries, no auth.
    pub fn new(admin_url: Url) -> Self {
        Self {
            admin_url,
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            admin_auth: None,
            ca_cert_pem: None,
            client_identity_pem: None,
            max_retries: 2,
        }
    }
}

/// A Kong Admin API client. Cheap to clone; clones share the connection pool.
#[derive(Debug, Clone)]
pub struct KongClient {
    http: reqwest::Client,
    base: Url,
    max_retries: u32,
}

/// Percent-encodes one path segment.
fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl KongClient {
    pub fn new(config: &KongConfig) -> Result<Self, KongError> {
        let mut headers = HeaderMap::new();
        if let Some(auth) = &config.admin_auth {
            let name = HeaderName::from_bytes(auth.header.as_bytes())
                .map_err(|_| KongError::Config(format!("invalid header name {:?}", auth.header)))?;
            let mut value = HeaderValue::from_str(auth.token.expose_secret()).map_err(|_| {
                KongError::Config("the admin token is not a valid header value".to_owned())
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gatekey/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.ca_cert_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| KongError::Config(format!("invalid CA certificate PEM: {e}")))?;
            if certificates.is_empty() {
                return Err(KongError::Config(
                    "the CA certificate PEM holds no certificate".to_owned(),
                ));
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if let Some(pem) = &config.client_identity_pem {
            let identity = reqwest::Identity::from_pem(pem).map_err(|e| {
                KongError::Config(format!("invalid client certificate/key PEM: {e}"))
            })?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| KongError::Config(format!("cannot build the HTTP client: {e}")))?;
        let mut base = config.admin_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Self {
            http,
            base,
            max_retries: config.max_retries,
        })
    }

    fn url(&self, path: &str, query: &[(&'static str, String)]) -> Result<Url, KongError> {
        let mut url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| KongError::Config(format!("bad path {path}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Sends one call (retrying idempotent ones) and returns status and body.
    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&'static str, String)],
        body: Option<&B>,
    ) -> Result<(StatusCode, Vec<u8>), KongError> {
        let url = self.url(path, query)?;
        let idempotent = matches!(method, Method::GET | Method::PUT | Method::DELETE);
        let attempts = if idempotent { self.max_retries + 1 } else { 1 };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(body) = body {
                request = request.json(body);
            }
            let result = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    match response.bytes().await {
                        Ok(bytes) if status.is_success() => Ok((status, bytes.to_vec())),
                        Ok(bytes) => Err(KongError::from_response(status.as_u16(), &bytes)),
                        Err(err) => Err(transport(err)),
                    }
                }
                Err(err) => Err(transport(err)),
            };
            tracing::debug!(
                %method,
                path,
                status = result.as_ref().map_or_else(|e| e.status().unwrap_or(0), |(s, _)| s.as_u16()),
                elapsed_ms = started.elapsed().as_millis(),
                attempt,
                "kong admin call"
            );
            match result {
                Err(err) if err.is_retryable() && attempt < attempts => {
                    tokio::time::sleep(Duration::from_millis(50 * (1 << attempt.min(6)))).await;
                }
                other => return other,
            }
        }
    }

    async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&'static str, String)],
        body: Option<&B>,
    ) -> Result<T, KongError> {
        let (_, bytes) = self.send(method, path, query, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| KongError::Decode(format!("{path}: {e}")))
    }

    async fn get_optional<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, KongError> {
        match self.call::<T, ()>(Method::GET, path, &[], None).await {
            Ok(value) => Ok(Some(value)),
            Err(KongError::NotFound) => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn delete(&self, path: &str) -> Result<(), KongError> {
        self.send::<()>(Method::DELETE, path, &[], None)
            .await
            .map(|_| ())
    }

    /// `GET /`: node information.
    pub async fn node_info(&self) -> Result<NodeInfo, KongError> {
        self.call::<_, ()>(Method::GET, "", &[], None).await
    }

    /// `GET /status`: answers 200 even when the database is down; read `database.reachable`.
    pub async fn status(&self) -> Result<NodeStatus, KongError> {
        self.call::<_, ()>(Method::GET, "status", &[], None).await
    }

    pub async fn create_consumer(&self, consumer: &NewConsumer) -> Result<Consumer, KongError> {
        self.call(Method::POST, "consumers", &[], Some(consumer))
            .await
    }

    /// `PUT /consumers/{username}`: creates or replaces (an existing consumer keeps its id).
    pub async fn upsert_consumer(
        &self,
        username: &str,
        consumer: &NewConsumer,
    ) -> Result<Consumer, KongError> {
        self.call(
            Method::PUT,
            &format!("consumers/{}", segment(username)),
            &[],
            Some(consumer),
        )
        .await
    }

    pub async fn get_consumer(&self, id_or_username: &str) -> Result<Option<Consumer>, KongError> {
        self.get_optional(&format!("consumers/{}", segment(id_or_username)))
            .await
    }

    /// Deletes a consumer and, by cascade, its credentials, ACL groups and plugins. A missing
    /// consumer is not an error.
    pub async fn delete_consumer(&self, id_or_username: &str) -> Result<(), KongError> {
        self.delete(&format!("consumers/{}", segment(id_or_username)))
            .await
    }

    pub async fn list_consumers(&self, query: &ListQuery) -> Result<Page<Consumer>, KongError> {
        self.call::<_, ()>(Method::GET, "consumers", &query.pairs(), None)
            .await
    }

    /// Every consumer matching `query`'s tags, following all pages.
    pub async fn list_all_consumers(&self, query: &ListQuery) -> Result<Vec<Consumer>, KongError> {
        let mut query = query.clone();
        let mut all = Vec::new();
        loop {
            let page = self.list_consumers(&query).await?;
            all.extend(page.data);
            match page.offset {
                Some(offset) => query.offset = Some(offset),
                None => return Ok(all),
            }
        }
    }

    pub async fn add_acl_group(&self, consumer: &str, acl: &NewAcl) -> Result<Acl, KongError> {
        self.call(
            Method::POST,
            &format!("consumers/{}/acls", segment(consumer)),
            &[],
            Some(acl),
        )
        .await
    }

    pub async fn list_acl_groups(&self, consumer: &str) -> Result<Page<Acl>, KongError> {
        self.call::<_, ()>(
            Method::GET,
            &format!("consumers/{}/acls", segment(consumer)),
            &[],
            None,
        )
        .await
    }

    pub async fn create_key_auth(
        &self,
        consumer: &str,
        key_auth: &NewKeyAuth,
    ) -> Result<KeyAuth, KongError> {
        self.call(
            Method::POST,
            &format!("consumers/{}/key-auth", segment(consumer)),
            &[],
            Some(key_auth),
        )
        .await
    }

    /// A credential by id or key; `None` once it is gone, including after its `ttl`.
    pub async fn get_key_auth(
        &self,
        consumer: &str,
        id_or_key: &str,
    ) -> Result<Option<KeyAuth>, KongError> {
        self.get_optional(&format!(
            "consumers/{}/key-auth/{}",
            segment(consumer),
            segment(id_or_key)
        ))
        .await
    }

    pub async fn list_key_auths(&self, consumer: &str) -> Result<Page<KeyAuth>, KongError> {
        self.call::<_, ()>(
            Method::GET,
            &format!("consumers/{}/key-auth", segment(consumer)),
            &[],
            None,
        )
        .await
    }

    pub async fn delete_key_auth(&self, consumer: &str, id: &str) -> Result<(), KongError> {
        self.delete(&format!(
            "consumers/{}/key-auth/{}",
            segment(consumer),
            segment(id)
        ))
        .await
    }

    pub async fn add_consumer_plugin(
        &self,
        consumer: &str,
        plugin: &NewPlugin,
    ) -> Result<Plugin, KongError> {
        self.call(
            Method::POST,
            &format!("consumers/{}/plugins", segment(consumer)),
            &[],
            Some(plugin),
        )
        .await
    }

    pub async fn get_service(&self, name_or_id: &str) -> Result<Option<Service>, KongError> {
        self.get_optional(&format!("services/{}", segment(name_or_id)))
            .await
    }

    pub async fn list_services(&self, query: &ListQuery) -> Result<Page<Service>, KongError> {
        self.call::<_, ()>(Method::GET, "services", &query.pairs(), None)
            .await
    }

    /// Routes, of one service when given.
    pub async fn list_routes(&self, service: Option<&str>) -> Result<Page<Route>, KongError> {
        let path = service.map_or_else(
            || "routes".to_owned(),
            |s| format!("services/{}/routes", segment(s)),
        );
        self.call::<_, ()>(Method::GET, &path, &[], None).await
    }

    /// Plugins, of one service when given.
    pub async fn list_plugins(&self, service: Option<&str>) -> Result<Page<Plugin>, KongError> {
        let path = service.map_or_else(
            || "plugins".to_owned(),
            |s| format!("services/{}/plugins", segment(s)),
        );
        self.call::<_, ()>(Method::GET, &path, &[], None).await
    }
}

fn transport(err: reqwest::Error) -> KongError {
    if err.is_timeout() {
        KongError::Timeout
    } else {
        KongError::Transport(err)
    }
}
