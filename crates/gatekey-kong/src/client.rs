//! The Admin API calls Gatekey makes, and the one transport they share: a pooled HTTP client with
//! a deadline on every attempt, bounded retries of idempotent calls only (GET, PUT, DELETE; a
//! POST whose answer was lost may have created the entity), Kong's error bodies decoded into
//! [`KongError`], and a `kong_admin` debug span per call with method, path, status, attempts and
//! elapsed time. Paths are logged with credential segments redacted; bodies are never logged.
//!
//! Retries use `backon`'s exponential backoff with jitter (100 ms doubling to at most 2 s, each
//! delay stretched by a random 0-100 %, so replicas that failed together do not retry together),
//! bounded by [`KongConfig::max_retries`] and by the caller's deadline
//! ([`KongClient::with_deadline`]): no attempt outlives it and no retry starts that would sleep
//! past it. `backon` was chosen over `tower::retry` because the client is a plain async
//! function per call, not a `tower::Service`; wrapping the HTTP client in a service with a
//! cloning retry policy would add a layer of plumbing for the same loop.
//!
//! The transport is hyper's pooled client with rustls, not reqwest, which the OpenID side keeps.
//! reqwest parses every call's URL twice more (in its redirect layer, always on, and for the
//! response) and matches it against the proxy environment: with the `Url` it needs, about 37,000
//! instructions a call and four calls a mint, 18 % of a mint's instructions
//! (`docs/performance.md`, "The group commit's own command, the Kong client's transport and the
//! log lines"). A call here builds its URI once from the base and the encoded path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable as _};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument as _;
use tracing::field::Empty;
use url::form_urlencoded;

use crate::config::{HttpClient, KongConfig};
use crate::error::KongError;
use crate::model::{
    Acl, Consumer, KeyAuth, ListQuery, NewAcl, NewConsumer, NewKeyAuth, NewPlugin, NodeInfo,
    NodeStatus, Page, Plugin, Route, Service,
};
use crate::path::AdminPath;

/// First retry delay; each further one doubles, up to [`MAX_BACKOFF`], before jitter.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Exponential backoff with jitter for `retries` extra attempts.
fn backoff(retries: u32) -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(MIN_BACKOFF)
        .with_max_delay(MAX_BACKOFF)
        .with_factor(2.0)
        .with_max_times(usize::try_from(retries).unwrap_or(usize::MAX))
        .with_jitter()
}

/// Nested lists (a consumer's credentials and groups) are read in one page of Kong's maximum.
const NESTED_PAGE_SIZE: u32 = 1000;

/// A Kong Admin API client. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct KongClient {
    http: HttpClient,
    /// The user agent and the auth header, sent on every call.
    headers: Arc<HeaderMap>,
    /// The base URL without query or fragment; always ends with `/`, so relative paths keep a
    /// configured path prefix.
    base: String,
    max_retries: u32,
    /// Attempt timeout from the configuration; an attempt also ends at [`Self::deadline`].
    request_timeout: Duration,
    /// The caller's deadline, when set by [`Self::with_deadline`].
    deadline: Option<tokio::time::Instant>,
}

type Query = Vec<(&'static str, String)>;

impl KongClient {
    /// Builds the client; fails with [`KongError::Config`] on an unusable header, CA or client
    /// certificate. Does not contact Kong: call [`Self::node_info`] or [`Self::status`] for that.
    pub fn new(config: &KongConfig) -> Result<Self, KongError> {
        if !matches!(config.admin_url.scheme(), "http" | "https") {
            return Err(KongError::Config(format!(
                "admin_url {} is not an http(s) URL",
                config.admin_url
            )));
        }
        if !config.admin_url.username().is_empty() || config.admin_url.password().is_some() {
            return Err(KongError::Config(
                "admin_url must not carry credentials: send them with admin_token_header and \
                 admin_token_file (e.g. `Authorization` and `Basic …`)"
                    .to_owned(),
            ));
        }
        let mut base = config.admin_url.clone();
        base.set_query(None);
        base.set_fragment(None);
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            http: config.http_client()?,
            headers: Arc::new(config.default_headers()?),
            base: base.into(),
            max_retries: config.max_retries,
            request_timeout: config.request_timeout,
            deadline: None,
        })
    }

    /// This client (sharing its connection pool) with every call bounded by `deadline`: an
    /// attempt is cut off there and answers [`KongError::Timeout`], and no retry starts whose
    /// backoff would end after it. A mint passes its one deadline here, so its Kong calls and
    /// their retries together never outlast it.
    #[must_use]
    pub fn with_deadline(&self, deadline: tokio::time::Instant) -> Self {
        Self {
            deadline: Some(deadline),
            ..self.clone()
        }
    }

    /// How long the next attempt may take: the attempt timeout, cut to the caller's deadline;
    /// `None` once the deadline has passed.
    fn attempt_timeout(&self) -> Option<Duration> {
        match self.deadline {
            None => Some(self.request_timeout),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                (!left.is_zero()).then(|| left.min(self.request_timeout))
            }
        }
    }

    /// Whether a retry after `delay` would still start before the caller's deadline.
    fn retry_fits(&self, delay: Duration) -> bool {
        self.deadline
            .is_none_or(|deadline| tokio::time::Instant::now() + delay < deadline)
    }

    /// One attempt of a call: the request, then the whole answer, within the attempt timeout.
    async fn attempt(
        &self,
        method: &Method,
        uri: &Uri,
        path: &AdminPath,
        body: Option<&Bytes>,
    ) -> Result<(StatusCode, Bytes), KongError> {
        let timeout = self.attempt_timeout().ok_or(KongError::Timeout)?;
        let mut request = Request::new(Full::new(body.cloned().unwrap_or_default()));
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri.clone();
        let headers = request.headers_mut();
        for (name, value) in self.headers.iter() {
            headers.insert(name, value.clone());
        }
        if body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|err| self.transport_error(&err, method, path))?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|err| self.transport_error(&err, method, path))?
                .to_bytes();
            Ok::<_, KongError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| KongError::Timeout)??;
        if status.is_success() {
            Ok((status, bytes))
        } else {
            Err(KongError::from_response(status.as_u16(), &bytes))
        }
    }

    /// A transport failure of the call `method` `path`, named with the base URL.
    fn transport_error(
        &self,
        err: &(dyn std::error::Error + 'static),
        method: &Method,
        path: &AdminPath,
    ) -> KongError {
        transport(err, || {
            // `logged` starts with `/`, the base ends with one.
            format!(
                "{method} {}{}",
                self.base.trim_end_matches('/'),
                path.logged()
            )
        })
    }

    /// The URL of `path` (with `query`) under the base. The path is appended as it is: every
    /// segment is percent-encoded and none is `.` or `..` ([`AdminPath`]), so it is the URL a
    /// join would give, without parsing the base again.
    fn url(&self, path: &AdminPath, query: &Query) -> String {
        let mut url = format!("{}{}", self.base, path.encoded());
        if !query.is_empty() {
            url.push('?');
            url.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(query)
                    .finish(),
            );
        }
        url
    }

    /// Sends one call, retrying idempotent ones, and returns the body of a 2xx answer.
    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &AdminPath,
        query: &Query,
        body: Option<&B>,
    ) -> Result<(StatusCode, Bytes), KongError> {
        let uri = Uri::try_from(self.url(path, query)).map_err(|e| {
            KongError::InvalidArgument(format!("{} is not a valid URI: {e}", path.logged()))
        })?;
        let body = body
            .map(|body| serde_json::to_vec(body).map(Bytes::from))
            .transpose()
            .map_err(|e| {
                KongError::InvalidArgument(format!(
                    "the body of {} cannot be sent: {e}",
                    path.logged()
                ))
            })?;
        let span = tracing::debug_span!(
            "kong_admin",
            method = %method,
            path = %path.logged(),
            status = Empty,
            attempts = Empty,
            elapsed_ms = Empty,
        );
        let retries = match method {
            Method::GET | Method::PUT | Method::DELETE => self.max_retries,
            _ => 0,
        };
        async move {
            let started = Instant::now();
            let attempts = AtomicU32::new(0);
            let outcome = (|| {
                attempts.fetch_add(1, Ordering::Relaxed);
                self.attempt(&method, &uri, path, body.as_ref())
            })
            .retry(backoff(retries))
            .sleep(tokio::time::sleep)
            .when(KongError::is_retryable)
            .adjust(|_, delay| delay.filter(|delay| self.retry_fits(*delay)))
            .notify(|err, delay| {
                tracing::debug!(error = %err, retry_in_ms = delay.as_millis(), "kong admin call failed; retrying");
            })
            .await;
            let attempt = attempts.load(Ordering::Relaxed);
            let status = match &outcome {
                Ok((status, _)) => Some(status.as_u16()),
                Err(err) => err.status(),
            };
            metrics::histogram!(
                "gatekey_kong_request_duration_seconds",
                "operation" => format!("{method} {}", path.template()),
            )
            .record(started.elapsed().as_secs_f64());
            let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let span = tracing::Span::current();
            span.record("status", status);
            span.record("attempts", attempt);
            span.record("elapsed_ms", elapsed_ms);
            match &outcome {
                Ok(_) => tracing::debug!(status, elapsed_ms, attempts = attempt, "kong admin call"),
                Err(err) => tracing::debug!(
                    status,
                    elapsed_ms,
                    attempts = attempt,
                    error = %err,
                    "kong admin call failed"
                ),
            }
            outcome
        }
        .instrument(span)
        .await
    }

    async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &AdminPath,
        query: &Query,
        body: Option<&B>,
    ) -> Result<T, KongError> {
        let call = format!("{method} {}", path.logged());
        let (_, body) = self.send(method, path, query, body).await?;
        serde_json::from_slice(&body).map_err(|source| KongError::Decode { call, source })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &AdminPath,
        query: &Query,
    ) -> Result<T, KongError> {
        self.call::<T, ()>(Method::GET, path, query, None).await
    }

    /// GET that turns 404 into `None`.
    async fn find<T: DeserializeOwned>(&self, path: &AdminPath) -> Result<Option<T>, KongError> {
        match self.get(path, &Query::new()).await {
            Ok(value) => Ok(Some(value)),
            Err(KongError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// DELETE that treats 404 as done: the entity is absent either way, and a retried DELETE
    /// whose first attempt succeeded gets a 404 on nested endpoints.
    async fn delete(&self, path: &AdminPath) -> Result<(), KongError> {
        match self
            .send::<()>(Method::DELETE, path, &Query::new(), None)
            .await
        {
            Ok(_) | Err(KongError::NotFound { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }

    fn consumer(id_or_username: &str) -> Result<AdminPath, KongError> {
        AdminPath::root("consumers").seg(id_or_username)
    }

    /// `GET /`: version, edition, hostname and whether the node takes writes.
    pub async fn node_info(&self) -> Result<NodeInfo, KongError> {
        self.get(&AdminPath::node(), &Query::new()).await
    }

    /// `GET /status`: 200 even when Kong's database is down; read `database.reachable`.
    pub async fn status(&self) -> Result<NodeStatus, KongError> {
        self.get(&AdminPath::root("status"), &Query::new()).await
    }

    /// `POST /consumers` (never retried). A taken username or custom_id is a
    /// [`KongError::UniqueViolation`]; neither given is a [`KongError::SchemaViolation`].
    pub async fn create_consumer(&self, consumer: &NewConsumer) -> Result<Consumer, KongError> {
        let path = AdminPath::root("consumers");
        self.call(Method::POST, &path, &Query::new(), Some(consumer))
            .await
    }

    /// `PUT /consumers/{username}`: creates the consumer or replaces it whole (fields left `None`
    /// become null; an existing consumer keeps its id). The path wins over `consumer.username`.
    /// A username shaped like a UUID is taken by Kong as an id.
    pub async fn upsert_consumer(
        &self,
        username: &str,
        consumer: &NewConsumer,
    ) -> Result<Consumer, KongError> {
        self.call(
            Method::PUT,
            &Self::consumer(username)?,
            &Query::new(),
            Some(consumer),
        )
        .await
    }

    /// `PUT /consumers/{id}` with an id the caller chose ([`crate::EntityIds`]): creates the
    /// consumer or replaces it whole, so a repeat (a retry whose first answer was lost, a mint
    /// run again) lands on the same consumer instead of creating a second one.
    pub async fn put_consumer(
        &self,
        id: &uuid::Uuid,
        consumer: &NewConsumer,
    ) -> Result<Consumer, KongError> {
        self.upsert_consumer(&id.to_string(), consumer).await
    }

    /// `GET /consumers/{id or username}`; `None` when absent.
    pub async fn get_consumer(&self, id_or_username: &str) -> Result<Option<Consumer>, KongError> {
        self.find(&Self::consumer(id_or_username)?).await
    }

    /// `DELETE /consumers/{id or username}`; also `Ok` when absent. Kong cascades the delete to
    /// the consumer's key-auth credentials, ACL groups and consumer-scoped plugins.
    pub async fn delete_consumer(&self, id_or_username: &str) -> Result<(), KongError> {
        self.delete(&Self::consumer(id_or_username)?).await
    }

    /// `GET /consumers`: one page, ordered by id.
    pub async fn list_consumers(&self, query: &ListQuery) -> Result<Page<Consumer>, KongError> {
        self.get(&AdminPath::root("consumers"), &query.pairs()?)
            .await
    }

    /// Every consumer matching `query` (from its `offset`, in pages of its `size`), following
    /// all pages.
    pub async fn list_all_consumers(&self, query: &ListQuery) -> Result<Vec<Consumer>, KongError> {
        self.list_all(&AdminPath::root("consumers"), query).await
    }

    /// Follows `offset` from page to page of a top-level list until the last page. A node that
    /// hands out the same offset twice is an error rather than an endless loop.
    async fn list_all<T: DeserializeOwned>(
        &self,
        path: &AdminPath,
        query: &ListQuery,
    ) -> Result<Vec<T>, KongError> {
        let mut query = query.clone();
        let mut all = Vec::new();
        loop {
            let page: Page<T> = self.get(path, &query.pairs()?).await?;
            all.extend(page.data);
            match page.offset {
                Some(offset) if query.offset.as_ref() != Some(&offset) => {
                    query.offset = Some(offset);
                }
                Some(_) => {
                    return Err(KongError::Decode {
                        call: format!("GET {}", path.logged()),
                        source: serde::de::Error::custom(
                            "the same offset came back twice; stopping instead of looping",
                        ),
                    });
                }
                None => return Ok(all),
            }
        }
    }

    /// `POST /consumers/{c}/acls` (never retried). A group the consumer already has is a
    /// [`KongError::UniqueViolation`]; an unknown consumer is [`KongError::NotFound`].
    pub async fn add_acl_group(&self, consumer: &str, acl: &NewAcl) -> Result<Acl, KongError> {
        let path = Self::consumer(consumer)?.lit("acls");
        self.call(Method::POST, &path, &Query::new(), Some(acl))
            .await
    }

    /// `PUT /consumers/{c}/acls/{id}` with an id the caller chose: adds the group or replaces
    /// the membership whole; repeating it keeps one membership. The same group under another id
    /// of the consumer is a [`KongError::UniqueViolation`]; an unknown consumer
    /// [`KongError::NotFound`].
    pub async fn put_acl_group(
        &self,
        consumer: &str,
        id: &uuid::Uuid,
        acl: &NewAcl,
    ) -> Result<Acl, KongError> {
        let path = Self::consumer(consumer)?.lit("acls").seg(&id.to_string())?;
        self.call(Method::PUT, &path, &Query::new(), Some(acl))
            .await
    }

    /// `GET /consumers/{c}/acls`: the consumer's groups (up to 1000); [`KongError::NotFound`]
    /// when the consumer is absent.
    pub async fn list_acl_groups(&self, consumer: &str) -> Result<Page<Acl>, KongError> {
        let path = Self::consumer(consumer)?.lit("acls");
        self.get(&path, &nested_page()).await
    }

    /// `GET /acls`: ACL groups of every consumer, e.g. by tag to find leftovers.
    pub async fn list_top_level_acls(&self, query: &ListQuery) -> Result<Page<Acl>, KongError> {
        self.get(&AdminPath::root("acls"), &query.pairs()?).await
    }

    /// `POST /consumers/{c}/key-auth` (never retried). Without a key Kong generates one (read it
    /// from the answer); a key already in use is a [`KongError::UniqueViolation`] (Kong may still
    /// hold an expired key until its purge timer runs).
    pub async fn create_key_auth(
        &self,
        consumer: &str,
        key_auth: &NewKeyAuth,
    ) -> Result<KeyAuth, KongError> {
        let path = Self::consumer(consumer)?.lit("key-auth");
        self.call(Method::POST, &path, &Query::new(), Some(key_auth))
            .await
    }

    /// `PUT /consumers/{c}/key-auth/{id}` with an id the caller chose: creates the credential or
    /// replaces it whole; repeating it keeps one credential. A `ttl` restarts from the PUT that
    /// lands last, so a retried PUT moves the expiry by the retry's delay.
    pub async fn put_key_auth(
        &self,
        consumer: &str,
        id: &uuid::Uuid,
        key_auth: &NewKeyAuth,
    ) -> Result<KeyAuth, KongError> {
        let path = Self::consumer(consumer)?
            .lit("key-auth")
            .seg(&id.to_string())?;
        self.call(Method::PUT, &path, &Query::new(), Some(key_auth))
            .await
    }

    /// `GET /consumers/{c}/key-auth/{id or key}`; `None` when the consumer or credential is
    /// absent, belongs elsewhere, or its `ttl` has run out.
    pub async fn get_key_auth(
        &self,
        consumer: &str,
        id_or_key: &str,
    ) -> Result<Option<KeyAuth>, KongError> {
        let path = Self::consumer(consumer)?
            .lit("key-auth")
            .secret_seg(id_or_key)?;
        self.find(&path).await
    }

    /// `GET /consumers/{c}/key-auth`: the consumer's live credentials (up to 1000);
    /// [`KongError::NotFound`] when the consumer is absent.
    pub async fn list_key_auths(&self, consumer: &str) -> Result<Page<KeyAuth>, KongError> {
        let path = Self::consumer(consumer)?.lit("key-auth");
        self.get(&path, &nested_page()).await
    }

    /// `GET /key-auths`: live credentials of every consumer, e.g. by tag to find leftovers.
    pub async fn list_top_level_key_auths(
        &self,
        query: &ListQuery,
    ) -> Result<Page<KeyAuth>, KongError> {
        self.get(&AdminPath::root("key-auths"), &query.pairs()?)
            .await
    }

    /// `DELETE /consumers/{c}/key-auth/{id or key}`; `Ok` also when the consumer or credential
    /// is absent (Kong answers 404 there), so revoking twice is fine.
    pub async fn delete_key_auth(&self, consumer: &str, id: &str) -> Result<(), KongError> {
        let path = Self::consumer(consumer)?.lit("key-auth").secret_seg(id)?;
        self.delete(&path).await
    }

    /// `POST /consumers/{c}/plugins` (never retried), e.g. `rate-limiting`.
    pub async fn add_consumer_plugin(
        &self,
        consumer: &str,
        plugin: &NewPlugin,
    ) -> Result<Plugin, KongError> {
        let path = Self::consumer(consumer)?.lit("plugins");
        self.call(Method::POST, &path, &Query::new(), Some(plugin))
            .await
    }

    /// `PUT /consumers/{c}/plugins/{id}` with an id the caller chose, e.g. `rate-limiting`:
    /// creates the plugin or replaces it whole; repeating it keeps one plugin. The same plugin
    /// for the consumer under another id is a [`KongError::UniqueViolation`].
    pub async fn put_consumer_plugin(
        &self,
        consumer: &str,
        id: &uuid::Uuid,
        plugin: &NewPlugin,
    ) -> Result<Plugin, KongError> {
        let path = Self::consumer(consumer)?
            .lit("plugins")
            .seg(&id.to_string())?;
        self.call(Method::PUT, &path, &Query::new(), Some(plugin))
            .await
    }

    /// `GET /services/{name or id}`; `None` when absent.
    pub async fn get_service(&self, name_or_id: &str) -> Result<Option<Service>, KongError> {
        self.find(&AdminPath::root("services").seg(name_or_id)?)
            .await
    }

    /// `GET /services`: one page.
    pub async fn list_services(&self, query: &ListQuery) -> Result<Page<Service>, KongError> {
        self.get(&AdminPath::root("services"), &query.pairs()?)
            .await
    }

    /// Every service matching `query`, all pages.
    pub async fn list_all_services(&self, query: &ListQuery) -> Result<Vec<Service>, KongError> {
        self.list_all(&AdminPath::root("services"), query).await
    }

    /// Every route matching `query` (of every service), all pages.
    pub async fn list_all_routes(&self, query: &ListQuery) -> Result<Vec<Route>, KongError> {
        self.list_all(&AdminPath::root("routes"), query).await
    }

    /// Every plugin matching `query` (global, service, route and consumer scoped), all pages.
    pub async fn list_all_plugins(&self, query: &ListQuery) -> Result<Vec<Plugin>, KongError> {
        self.list_all(&AdminPath::root("plugins"), query).await
    }

    /// `GET /routes`, or `GET /services/{s}/routes` ([`KongError::NotFound`] when the service is
    /// absent): one page.
    pub async fn list_routes(
        &self,
        service: Option<&str>,
        query: &ListQuery,
    ) -> Result<Page<Route>, KongError> {
        let path = match service {
            Some(service) => AdminPath::root("services").seg(service)?.lit("routes"),
            None => AdminPath::root("routes"),
        };
        self.get(&path, &query.pairs()?).await
    }

    /// `GET /plugins`, or `GET /services/{s}/plugins` (plugins attached to that service itself,
    /// not to its routes): one page.
    pub async fn list_plugins(
        &self,
        service: Option<&str>,
        query: &ListQuery,
    ) -> Result<Page<Plugin>, KongError> {
        let path = match service {
            Some(service) => AdminPath::root("services").seg(service)?.lit("plugins"),
            None => AdminPath::root("plugins"),
        };
        self.get(&path, &query.pairs()?).await
    }
}

fn nested_page() -> Query {
    vec![("size", NESTED_PAGE_SIZE.to_string())]
}

/// Classifies a transport failure of `call`: one whose cause is a timed-out socket (the
/// connection within `connect_timeout`) is [`KongError::Timeout`], as an attempt past its timeout
/// is; any other names the call and every cause, for operators.
fn transport(err: &(dyn std::error::Error + 'static), call: impl FnOnce() -> String) -> KongError {
    let mut message = call();
    let mut cause = Some(err);
    while let Some(current) = cause {
        if current
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return KongError::Timeout;
        }
        let text = current.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = current.source();
    }
    KongError::Transport(message)
}

impl std::fmt::Debug for KongClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KongClient")
            .field("base", &self.base)
            .field("max_retries", &self.max_retries)
            .field("request_timeout", &self.request_timeout)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        use backon::BackoffBuilder as _;
        let delays: Vec<Duration> = backoff(7).build().collect();
        assert_eq!(delays.len(), 7);
        for (delay, floor) in delays.iter().zip([100, 200, 400, 800, 1600, 2000, 2000]) {
            let floor = Duration::from_millis(floor);
            assert!(
                *delay >= floor && *delay < floor * 2,
                "{delay:?} vs {floor:?}"
            );
        }
        assert_eq!(backoff(0).build().count(), 0);
    }

    #[tokio::test]
    async fn a_passed_deadline_leaves_no_time_for_an_attempt_or_a_retry() {
        let config = KongConfig::new(Url::parse("http://127.0.0.1:9").expect("url"));
        let client = KongClient::new(&config).expect("client");
        assert_eq!(client.attempt_timeout(), Some(config.request_timeout));
        let soon = client.with_deadline(tokio::time::Instant::now() + Duration::from_secs(1));
        assert!(
            soon.attempt_timeout()
                .is_some_and(|t| t <= Duration::from_secs(1))
        );
        assert!(soon.retry_fits(Duration::from_millis(100)));
        assert!(!soon.retry_fits(Duration::from_secs(2)));
        let passed = client.with_deadline(tokio::time::Instant::now());
        assert_eq!(passed.attempt_timeout(), None);
        assert!(matches!(
            passed.get_consumer("anyone").await,
            Err(KongError::Timeout)
        ));
    }

    #[test]
    fn base_url_keeps_its_path_prefix() {
        let base = Url::parse("https://gw.internal/kong-admin").expect("url");
        let client = KongClient::new(&KongConfig::new(base)).expect("client");
        let joined = Url::parse(&client.base).expect("base");
        assert_eq!(joined.as_str(), "https://gw.internal/kong-admin/");
        let path = AdminPath::root("consumers")
            .seg("a b/c?d#e%f+\u{e9}")
            .expect("seg")
            .lit("acls");
        let url = client.url(&path, &Query::new());
        assert_eq!(
            url,
            "https://gw.internal/kong-admin/consumers/a%20b%2Fc%3Fd%23e%25f%2B%C3%A9/acls"
        );
        assert_eq!(url, joined.join(path.encoded()).expect("join").as_str());
        Uri::try_from(url).expect("a valid URI");
        // A name spelling a dot segment in percent-encoding stays one segment under the base.
        let dots = AdminPath::root("consumers").seg("%2e%2e").expect("seg");
        let url = client.url(&dots, &Query::new());
        assert_eq!(url, "https://gw.internal/kong-admin/consumers/%252e%252e");
        assert_eq!(url, joined.join(dots.encoded()).expect("join").as_str());
        assert_eq!(client.url(&AdminPath::node(), &Query::new()), client.base);
        let query = vec![
            ("tags", "gatekey,api one".to_owned()),
            ("size", "10".to_owned()),
        ];
        assert_eq!(
            client.url(&AdminPath::root("consumers"), &query),
            "https://gw.internal/kong-admin/consumers?tags=gatekey%2Capi+one&size=10"
        );
    }

    #[test]
    fn admin_urls_carrying_credentials_are_refused() {
        let config = KongConfig::new(Url::parse("https://gatekey:pa55@gw.internal/").expect("url"));
        assert!(matches!(
            KongClient::new(&config),
            Err(KongError::Config(m)) if m.contains("credentials") && !m.contains("pa55")
        ));
    }

    #[test]
    fn non_http_admin_urls_are_refused() {
        let config = KongConfig::new(Url::parse("mailto:kong@example.com").expect("url"));
        assert!(matches!(
            KongClient::new(&config),
            Err(KongError::Config(_))
        ));
    }
}
