//! The proxy listener: route matching, then the key-auth, acl and rate-limiting plugins in Kong's
//! priority order with Kong 3.7+ status codes, bodies and headers, then forwarding to the
//! service's upstream with the consumer headers Kong adds, then the log phase (`http-log`). The plugin decisions are plain
//! functions over the request and the stored rows, so each is easy to test and to read.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::db::{Db, Row, Table};
use crate::http_log::HttpLogConfig;
use crate::plugins::{self, AclConfig, KeyAuthConfig, RateLimitConfig};
use crate::{KONG_VERSION, Sim};

/// Largest request body the proxy buffers before forwarding.
const BODY_LIMIT: usize = 10 * 1024 * 1024;

/// Request-scoped refusal: status, message and extra headers of Kong's JSON error.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
    headers: Vec<(HeaderName, String)>,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    fn with_headers(mut self, headers: Vec<(HeaderName, String)>) -> Self {
        self.headers = headers;
        self
    }

    fn into_response(self, request_id: &str) -> Response {
        let mut response = (
            self.status,
            axum::Json(json!({"message": self.message, "request_id": request_id})),
        )
            .into_response();
        append_all(response.headers_mut(), &self.headers);
        response
    }
}

/// Rate-limiting counters: (plugin id, identifier, window, window start) -> requests.
type Counters = HashMap<(String, String, &'static str, u64), u64>;

#[derive(Debug)]
struct Proxy {
    sim: Arc<Sim>,
    counters: Mutex<Counters>,
}

pub(crate) fn router(sim: Arc<Sim>) -> Router {
    let proxy = Arc::new(Proxy {
        sim,
        counters: Mutex::new(HashMap::new()),
    });
    Router::new().fallback(handle).with_state(proxy)
}

fn append_all(headers: &mut HeaderMap, extra: &[(HeaderName, String)]) {
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name.clone(), value);
        }
    }
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// The route a request matched, and the parts of it the rest of the pipeline needs.
#[derive(Debug)]
struct Matched {
    route_id: String,
    service: Option<Map<String, Value>>,
    /// Request path after `strip_path`.
    upstream_path: String,
}

/// Kong's prefix router: the longest matching path wins; at equal length a route that also
/// constrains methods wins over one that does not.
fn match_route(db: &Db, method: &Method, path: &str, now: f64) -> Option<Matched> {
    let mut best: Option<((usize, bool), &Row, usize)> = None;
    for route in db.proxy_rows(Table::Routes, now) {
        let methods = route.value.get("methods").and_then(Value::as_array);
        if methods.is_some_and(|ms| !ms.iter().any(|m| m.as_str() == Some(method.as_str()))) {
            continue;
        }
        let paths: Vec<&str> = route
            .value
            .get("paths")
            .and_then(Value::as_array)
            .map_or_else(
                || vec!["/"],
                |ps| ps.iter().filter_map(Value::as_str).collect(),
            );
        for prefix in paths {
            let rank = (prefix.len(), methods.is_some());
            if path.starts_with(prefix) && best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
                best = Some((rank, route, prefix.len()));
            }
        }
    }
    let (_, route, prefix_len) = best?;
    let strip = route
        .value
        .get("strip_path")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let upstream_path = if strip { &path[prefix_len..] } else { path };
    Some(Matched {
        route_id: route.str_field("id")?.to_owned(),
        service: route
            .parent("service")
            .and_then(|id| db.proxy_get(Table::Services, id, now))
            .map(|row| row.value.clone()),
        upstream_path: upstream_path.to_owned(),
    })
}

/// Kong's plugin precedence: the most specific enabled instance of `name` wins (consumer+route+
/// service, consumer+route, consumer+service, route+service, consumer, route, service, global).
fn pick_plugin<'a>(
    rows: &'a [Row],
    name: &str,
    route: &str,
    service: Option<&str>,
    consumer: Option<&str>,
) -> Option<&'a Map<String, Value>> {
    rows.iter()
        .filter(|row| row.str_field("name") == Some(name))
        .filter(|row| row.value.get("enabled").and_then(Value::as_bool) != Some(false))
        .filter_map(|row| {
            let (c, r, s) = (
                row.parent("consumer"),
                row.parent("route"),
                row.parent("service"),
            );
            let applies = c.is_none_or(|c| Some(c) == consumer)
                && r.is_none_or(|r| r == route)
                && s.is_none_or(|s| Some(s) == service);
            let rank = match (c.is_some(), r.is_some(), s.is_some()) {
                (true, true, true) => 7,
                (true, true, false) => 6,
                (true, false, true) => 5,
                (false, true, true) => 4,
                (true, false, false) => 3,
                (false, true, false) => 2,
                (false, false, true) => 1,
                (false, false, false) => 0,
            };
            applies.then_some((rank, &row.value))
        })
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, value)| value)
}

/// Where key-auth found the key, so `hide_credentials` can remove it.
#[derive(Debug, PartialEq, Eq)]
enum KeySource {
    Header(String),
    Query(String),
}

/// What key-auth found in the request.
#[derive(Debug, PartialEq, Eq)]
enum KeyLookup {
    Missing,
    Duplicate,
    Found(String, KeySource),
}

/// key-auth's lookup: for each configured name, the header first, then the query string.
fn find_key(config: &KeyAuthConfig, headers: &HeaderMap, query: &[(String, String)]) -> KeyLookup {
    for name in &config.key_names {
        let mut found: Vec<(String, KeySource)> = Vec::new();
        if config.key_in_header {
            found.extend(
                headers
                    .get_all(name.as_str())
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .map(|v| (v.to_owned(), KeySource::Header(name.clone()))),
            );
        }
        if found.is_empty() && config.key_in_query {
            found.extend(
                query
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| (v.clone(), KeySource::Query(name.clone()))),
            );
        }
        match found.len() {
            0 => {}
            1 => {
                let (key, source) = found.remove(0);
                return if key.is_empty() {
                    KeyLookup::Missing
                } else {
                    KeyLookup::Found(key, source)
                };
            }
            _ => return KeyLookup::Duplicate,
        }
    }
    KeyLookup::Missing
}

/// The consumer key-auth identified.
#[derive(Debug)]
struct Authenticated {
    consumer: Map<String, Value>,
    consumer_id: String,
    credential_id: String,
    groups: Vec<String>,
}

/// key-auth's access phase: the consumer behind the key, or Kong's 401.
fn authenticate(
    db: &Db,
    config: &KeyAuthConfig,
    headers: &HeaderMap,
    query: &[(String, String)],
    now: f64,
) -> Result<(Authenticated, KeySource), Refusal> {
    let challenge = match &config.realm {
        Some(realm) => format!("Key realm=\"{realm}\""),
        None => "Key".to_owned(),
    };
    let unauthorized = |message: &str| {
        Refusal::new(StatusCode::UNAUTHORIZED, message)
            .with_headers(vec![(header::WWW_AUTHENTICATE, challenge.clone())])
    };
    let (key, source) = match find_key(config, headers, query) {
        KeyLookup::Missing => return Err(unauthorized("No API key found in request")),
        KeyLookup::Duplicate => return Err(unauthorized("Duplicate API key found")),
        KeyLookup::Found(key, source) => (key, source),
    };
    let credential = db
        .proxy_rows(Table::KeyAuths, now)
        .find(|row| row.str_field("key") == Some(key.as_str()))
        // key-auth's `load_credential` refuses a credential whose remaining ttl reads 0.
        .filter(|row| row.remaining_ttl(now) != Some(0))
        .ok_or_else(|| unauthorized("Unauthorized"))?;
    let consumer_id = credential
        .parent("consumer")
        .ok_or_else(|| unauthorized("Unauthorized"))?;
    let consumer = db
        .proxy_get(Table::Consumers, consumer_id, now)
        .ok_or_else(|| unauthorized("Unauthorized"))?;
    let groups = db
        .proxy_rows(Table::Acls, now)
        .filter(|acl| acl.parent("consumer") == Some(consumer_id))
        .filter_map(|acl| acl.str_field("group").map(str::to_owned))
        .collect();
    let authenticated = Authenticated {
        consumer: consumer.value.clone(),
        consumer_id: consumer_id.to_owned(),
        credential_id: credential.str_field("id").unwrap_or_default().to_owned(),
        groups,
    };
    Ok((authenticated, source))
}

/// acl's access phase: no consumer is a 401, a consumer outside the lists a 403.
fn authorize(config: &AclConfig, authenticated: Option<&Authenticated>) -> Result<(), Refusal> {
    let Some(auth) = authenticated else {
        return Err(Refusal::new(StatusCode::UNAUTHORIZED, "Unauthorized"));
    };
    if config.admits(&auth.groups) {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "You cannot consume this service",
        ))
    }
}

#[expect(
    clippy::expect_used,
    reason = "the names are Kong's constant X-RateLimit-* headers"
)]
fn header_name(name: &str) -> HeaderName {
    HeaderName::from_bytes(name.as_bytes()).expect("rate-limit header names are valid tokens")
}

impl Proxy {
    /// rate-limiting's access phase (fixed windows on the simulated clock, `policy: local`):
    /// the headers to add, or the refusal with them. Mirrors `kong/plugins/rate-limiting/handler.lua`.
    fn rate_limit(
        &self,
        plugin_id: &str,
        config: &RateLimitConfig,
        identifier: &str,
        now: f64,
    ) -> Result<Vec<(HeaderName, String)>, Refusal> {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "simulated epoch seconds are positive and fit in u64"
        )]
        let now_s = now.floor() as u64;
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let windows = config.windows();
        let key = |name: &'static str, length: u64| {
            (
                plugin_id.to_owned(),
                identifier.to_owned(),
                name,
                now_s - now_s % length,
            )
        };
        let mut stop = None;
        let usage: Vec<(&'static str, u64, u64, u64)> = windows
            .iter()
            .map(|(name, length, limit)| {
                let used = counters.get(&key(name, *length)).copied().unwrap_or(0);
                let remaining = limit.saturating_sub(used);
                if remaining == 0 {
                    stop = Some(*name);
                }
                (*name, *length, *limit, remaining)
            })
            .collect();
        let mut headers = Vec::new();
        let mut tightest: Option<(u64, u64, u64)> = None; // (limit, remaining, window length)
        let mut reset = 0;
        for (name, length, limit, remaining) in usage {
            let remaining = if stop.is_none_or(|s| s == name) {
                remaining.saturating_sub(1)
            } else {
                remaining
            };
            if tightest.is_none_or(|(_, r, w)| remaining < r || (remaining == r && length > w)) {
                tightest = Some((limit, remaining, length));
                reset = (length - now_s % length).max(1);
            }
            headers.push((
                header_name(&format!("x-ratelimit-limit-{name}")),
                limit.to_string(),
            ));
            headers.push((
                header_name(&format!("x-ratelimit-remaining-{name}")),
                remaining.to_string(),
            ));
        }
        if let Some((limit, remaining, _)) = tightest {
            headers.push((header_name("ratelimit-limit"), limit.to_string()));
            headers.push((header_name("ratelimit-remaining"), remaining.to_string()));
            headers.push((header_name("ratelimit-reset"), reset.to_string()));
        }
        if config.hide_client_headers {
            headers.clear();
        }
        if stop.is_some() {
            headers.push((header::RETRY_AFTER, reset.to_string()));
            let status =
                StatusCode::from_u16(config.error_code).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            return Err(Refusal::new(status, config.error_message.clone()).with_headers(headers));
        }
        for (name, length, _) in windows {
            *counters.entry(key(name, length)).or_insert(0) += 1;
        }
        Ok(headers)
    }
}

/// Everything the access phase decided for a request that may go upstream.
#[derive(Debug)]
struct Admitted {
    service: Map<String, Value>,
    upstream_path: String,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    response_headers: Vec<(HeaderName, String)>,
}

/// Route matching and the plugins' access phase.
fn access(
    proxy: &Proxy,
    method: &Method,
    path: &str,
    mut headers: HeaderMap,
    mut query: Vec<(String, String)>,
    client: SocketAddr,
) -> Result<Admitted, Refusal> {
    let sim = &proxy.sim;
    let now = sim.now();
    let db = sim.db();
    let matched = match_route(&db, method, path, now)
        .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, "no Route matched with those values"))?;
    let service = matched.service.ok_or_else(|| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no Service found with those values",
        )
    })?;
    let service_id = service.get("id").and_then(Value::as_str);
    let rows: Vec<Row> = db.proxy_rows(Table::Plugins, now).cloned().collect();
    let route = matched.route_id.as_str();

    let mut authenticated = None;
    if let Some(plugin) = pick_plugin(&rows, "key-auth", route, service_id, None) {
        let config: KeyAuthConfig = plugins::config_of(plugin).ok_or_else(|| {
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unexpected error occurred",
            )
        })?;
        let (auth, source) = authenticate(&db, &config, &headers, &query, now)?;
        if config.hide_credentials {
            match source {
                KeySource::Header(name) => {
                    headers.remove(name.as_str());
                }
                KeySource::Query(name) => query.retain(|(k, _)| *k != name),
            }
        }
        authenticated = Some(auth);
    }
    drop(db);
    let consumer_id = authenticated.as_ref().map(|a| a.consumer_id.as_str());

    if let Some(plugin) = pick_plugin(&rows, "acl", route, service_id, consumer_id) {
        let config: AclConfig = plugins::config_of(plugin).ok_or_else(|| {
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unexpected error occurred",
            )
        })?;
        authorize(&config, authenticated.as_ref())?;
        if let Some(auth) = &authenticated
            && !config.hide_groups_header
            && !auth.groups.is_empty()
        {
            set(&mut headers, "x-consumer-groups", &auth.groups.join(", "));
        }
    }

    let mut response_headers = Vec::new();
    if let Some(plugin) = pick_plugin(&rows, "rate-limiting", route, service_id, consumer_id) {
        let config: RateLimitConfig = plugins::config_of(plugin).ok_or_else(|| {
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unexpected error occurred",
            )
        })?;
        let ip = client.ip().to_string();
        let identifier = match config.limit_by.as_str() {
            "consumer" => consumer_id.unwrap_or(&ip),
            "credential" => authenticated
                .as_ref()
                .map_or(ip.as_str(), |a| a.credential_id.as_str()),
            "service" => service_id.unwrap_or(&ip),
            _ => &ip,
        };
        let plugin_id = plugin.get("id").and_then(Value::as_str).unwrap_or_default();
        response_headers = proxy.rate_limit(plugin_id, &config, identifier, now)?;
    }

    if let Some(auth) = &authenticated {
        for (name, field) in [
            ("x-consumer-id", "id"),
            ("x-consumer-username", "username"),
            ("x-consumer-custom-id", "custom_id"),
        ] {
            match auth.consumer.get(field).and_then(Value::as_str) {
                Some(value) => set(&mut headers, name, value),
                None => {
                    headers.remove(name);
                }
            }
        }
        set(&mut headers, "x-credential-identifier", &auth.credential_id);
        headers.remove("x-anonymous-consumer");
    }
    Ok(Admitted {
        service,
        upstream_path: matched.upstream_path,
        headers,
        query,
        response_headers,
    })
}

async fn handle(
    State(proxy): State<Arc<Proxy>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let started_at_ms = proxy.sim.now() * 1000.0;
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let (parts, body) = request.into_parts();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let admitted = access(
        &proxy,
        &parts.method,
        parts.uri.path(),
        parts.headers.clone(),
        query,
        client,
    );
    let mut response = match admitted {
        Err(refusal) => refusal.into_response(&request_id),
        Ok(admitted) => match axum::body::to_bytes(body, BODY_LIMIT).await {
            Err(_) => Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "Request size limit exceeded")
                .into_response(&request_id),
            Ok(body) => {
                let forwarded = Forwarded {
                    client,
                    request_id: &request_id,
                    original_host: parts.headers.get(header::HOST),
                    original_path: parts.uri.path(),
                };
                let extra = admitted.response_headers.clone();
                let mut response =
                    forward(&proxy.sim, admitted, parts.method.clone(), body, &forwarded).await;
                append_all(response.headers_mut(), &extra);
                response
            }
        },
    };
    let headers = response.headers_mut();
    set(headers, "x-kong-request-id", &request_id);
    if !headers.contains_key(header::VIA) {
        set(
            headers,
            "x-kong-response-latency",
            &started.elapsed().as_millis().to_string(),
        );
        set(headers, "server", &format!("kong/{KONG_VERSION}"));
    }
    let logged = LoggedRequest {
        id: &request_id,
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        client,
        started_at_ms,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    log_phase(&proxy, &logged, &response);
    response
}

/// What the log phase knows of the client's request.
struct LoggedRequest<'a> {
    id: &'a str,
    method: &'a Method,
    uri: &'a axum::http::Uri,
    headers: &'a HeaderMap,
    client: SocketAddr,
    started_at_ms: f64,
    elapsed_ms: f64,
}

/// The log phase: the `http-log` instance that applies (by the same precedence as every plugin)
/// gets the request's entry queued.
fn log_phase(proxy: &Proxy, request: &LoggedRequest<'_>, response: &Response) {
    let sim = &proxy.sim;
    let now = sim.now();
    let db = sim.db();
    let rows: Vec<Row> = db.proxy_rows(Table::Plugins, now).cloned().collect();
    if !rows
        .iter()
        .any(|row| row.str_field("name") == Some("http-log"))
    {
        return;
    }
    let path = request.uri.path();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(request.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let (route_id, service) = match_route(&db, request.method, path, now)
        .map_or((String::new(), None), |m| (m.route_id, m.service));
    let route_id = route_id.as_str();
    let route = db
        .proxy_get(Table::Routes, route_id, now)
        .map(|row| row.value.clone());
    let service_id = service
        .as_ref()
        .and_then(|s| s.get("id"))
        .and_then(Value::as_str);
    let key_auth = pick_plugin(&rows, "key-auth", route_id, service_id, None)
        .and_then(plugins::config_of::<KeyAuthConfig>);
    let authenticated = key_auth.as_ref().and_then(|config| {
        authenticate(&db, config, request.headers, &query, now)
            .ok()
            .map(|(auth, source)| (auth, source, config.hide_credentials))
    });
    drop(db);
    let consumer_id = authenticated
        .as_ref()
        .map(|(auth, _, _)| auth.consumer_id.as_str());
    let Some(config) = pick_plugin(&rows, "http-log", route_id, service_id, consumer_id)
        .and_then(plugins::config_of::<HttpLogConfig>)
    else {
        return;
    };
    let mut headers = request.headers.clone();
    let mut querystring = query;
    if let Some((_, source, true)) = &authenticated {
        match source {
            KeySource::Header(name) => {
                headers.remove(name.as_str());
            }
            KeySource::Query(name) => querystring.retain(|(k, _)| k != name),
        }
    }
    let entry = serialize(
        request,
        response,
        &headers,
        &querystring,
        route,
        service,
        authenticated.map(|(auth, _, _)| auth),
    );
    sim.http_logs.enqueue(&sim.http, config, entry);
}

/// Header names in lowercase with their value, or their values when repeated, as
/// `kong.request.get_headers()` returns them; `authorization` and `proxy-authorization` read
/// `REDACTED`, as `kong.log.serialize()` writes them.
fn logged_headers(headers: &HeaderMap, redact: bool) -> Value {
    let mut out = Map::new();
    for name in headers.keys() {
        let redacted = redact && matches!(name.as_str(), "authorization" | "proxy-authorization");
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|value| {
                if redacted {
                    json!("REDACTED")
                } else {
                    json!(String::from_utf8_lossy(value.as_bytes()))
                }
            })
            .collect();
        let value = if values.len() == 1 {
            values.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(values)
        };
        out.insert(name.as_str().to_owned(), value);
    }
    Value::Object(out)
}

/// The entry `kong.log.serialize()` builds for an HTTP request.
fn serialize(
    request: &LoggedRequest<'_>,
    response: &Response,
    headers: &HeaderMap,
    querystring: &[(String, String)],
    route: Option<Map<String, Value>>,
    service: Option<Map<String, Value>>,
    authenticated: Option<Authenticated>,
) -> Value {
    let uri = request
        .uri
        .path_and_query()
        .map_or_else(|| request.uri.path().to_owned(), ToString::to_string);
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost");
    let upstream_latency = response
        .headers()
        .get("x-kong-upstream-latency")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<f64>().ok());
    let size = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0);
    let querystring: Map<String, Value> = querystring
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut entry = json!({
        "request": {
            "id": request.id,
            "uri": uri,
            "url": format!("http://{host}{uri}"),
            "querystring": querystring,
            "method": request.method.as_str(),
            "headers": logged_headers(headers, true),
            "size": 0,
        },
        "upstream_uri": uri,
        "upstream_status": upstream_latency.map_or(String::new(), |_| response.status().as_u16().to_string()),
        "response": {
            "status": response.status().as_u16(),
            "headers": logged_headers(response.headers(), false),
            "size": size,
        },
        "latencies": {
            "kong": 0,
            "proxy": upstream_latency.unwrap_or(-1.0),
            "request": request.elapsed_ms.round(),
            "receive": 0,
        },
        "tries": [],
        "client_ip": request.client.ip().to_string(),
        "started_at": request.started_at_ms.round(),
        "source": if upstream_latency.is_some() { "upstream" } else { "kong" },
        "workspace": "00000000-0000-0000-0000-000000000000",
        "workspace_name": "default",
    });
    if let Some(route) = route {
        entry["route"] = Value::Object(route);
    }
    if let Some(service) = service {
        entry["service"] = Value::Object(service);
    }
    if let Some(auth) = authenticated {
        entry["authenticated_entity"] = json!({"id": auth.credential_id});
        entry["consumer"] = Value::Object(auth.consumer);
    }
    entry
}

/// Facts about the client request Kong passes upstream in `X-Forwarded-*` headers.
struct Forwarded<'a> {
    client: SocketAddr,
    request_id: &'a str,
    original_host: Option<&'a HeaderValue>,
    original_path: &'a str,
}

/// The upstream URL: service base path + the (stripped) request path, then the query.
fn upstream_url(
    service: &Map<String, Value>,
    upstream_path: &str,
    query: &[(String, String)],
) -> String {
    let text = |field: &str| {
        service
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let port = service.get("port").and_then(Value::as_u64).unwrap_or(80);
    let base_path = text("path").trim_end_matches('/');
    let separator = if upstream_path.is_empty() || upstream_path.starts_with('/') {
        ""
    } else {
        "/"
    };
    let mut path = format!("{base_path}{separator}{upstream_path}");
    if path.is_empty() {
        path.push('/');
    }
    let mut url = format!("{}://{}:{port}{path}", text("protocol"), text("host"));
    if !query.is_empty() {
        let encoded: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        url.push('?');
        url.push_str(&encoded);
    }
    url
}

/// Drops hop-by-hop headers and adds the `X-Forwarded-*` and request-id headers Kong sends.
fn upstream_headers(headers: &mut HeaderMap, forwarded: &Forwarded<'_>) {
    for hop in [
        "host",
        "connection",
        "content-length",
        "transfer-encoding",
        "keep-alive",
        "te",
        "upgrade",
    ] {
        headers.remove(hop);
    }
    let client_ip = forwarded.client.ip().to_string();
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(previous) => format!("{previous}, {client_ip}"),
        None => client_ip.clone(),
    };
    set(headers, "x-forwarded-for", &forwarded_for);
    set(headers, "x-real-ip", &client_ip);
    set(headers, "x-forwarded-proto", "http");
    if let Some(host) = forwarded.original_host.and_then(|h| h.to_str().ok()) {
        let (name, port) = host.rsplit_once(':').unwrap_or((host, "80"));
        set(headers, "x-forwarded-host", name);
        set(headers, "x-forwarded-port", port);
    }
    set(headers, "x-forwarded-path", forwarded.original_path);
    set(headers, "x-kong-request-id", forwarded.request_id);
}

/// Sends the admitted request to the service's upstream and relays the answer.
async fn forward(
    sim: &Sim,
    admitted: Admitted,
    method: Method,
    body: axum::body::Bytes,
    forwarded: &Forwarded<'_>,
) -> Response {
    let Admitted {
        service,
        upstream_path,
        mut headers,
        query,
        ..
    } = admitted;
    let url = upstream_url(&service, &upstream_path, &query);
    upstream_headers(&mut headers, forwarded);
    let started = Instant::now();
    let upstream = sim
        .http
        .request(method, &url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let response = match upstream {
        Ok(response) => response,
        Err(err) if err.is_timeout() => {
            return Refusal::new(
                StatusCode::GATEWAY_TIMEOUT,
                "The upstream server is timing out",
            )
            .into_response(forwarded.request_id);
        }
        Err(_) => {
            return Refusal::new(
                StatusCode::BAD_GATEWAY,
                "An invalid response was received from the upstream server",
            )
            .into_response(forwarded.request_id);
        }
    };
    let status = response.status();
    let upstream_headers = response.headers().clone();
    let Ok(bytes) = response.bytes().await else {
        return Refusal::new(
            StatusCode::BAD_GATEWAY,
            "An invalid response was received from the upstream server",
        )
        .into_response(forwarded.request_id);
    };
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = status;
    for (name, value) in &upstream_headers {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    let headers = out.headers_mut();
    set(headers, "via", &format!("1.1 kong/{KONG_VERSION}"));
    set(
        headers,
        "x-kong-upstream-latency",
        &started.elapsed().as_millis().to_string(),
    );
    set(headers, "x-kong-proxy-latency", "0");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_auth(names: &[&str], in_query: bool) -> KeyAuthConfig {
        KeyAuthConfig {
            key_names: names.iter().map(|n| (*n).to_owned()).collect(),
            key_in_header: true,
            key_in_query: in_query,
            hide_credentials: false,
            realm: None,
        }
    }

    #[test]
    fn header_key_wins_over_query_key() {
        let mut headers = HeaderMap::new();
        headers.insert("apikey", HeaderValue::from_static("from-header"));
        let query = vec![("apikey".to_owned(), "from-query".to_owned())];
        assert_eq!(
            find_key(&key_auth(&["apikey"], true), &headers, &query),
            KeyLookup::Found("from-header".into(), KeySource::Header("apikey".into()))
        );
    }

    #[test]
    fn query_key_is_ignored_unless_key_in_query() {
        let query = vec![("apikey".to_owned(), "k".to_owned())];
        assert_eq!(
            find_key(&key_auth(&["apikey"], false), &HeaderMap::new(), &query),
            KeyLookup::Missing
        );
    }

    #[test]
    fn repeated_key_is_a_duplicate_and_empty_key_is_missing() {
        let query = vec![
            ("apikey".to_owned(), "a".to_owned()),
            ("apikey".to_owned(), "b".to_owned()),
        ];
        assert_eq!(
            find_key(&key_auth(&["apikey"], true), &HeaderMap::new(), &query),
            KeyLookup::Duplicate
        );
        let empty = vec![("apikey".to_owned(), String::new())];
        assert_eq!(
            find_key(&key_auth(&["apikey"], true), &HeaderMap::new(), &empty),
            KeyLookup::Missing
        );
    }
}
