//! The proxy listener: route matching, then the key-auth, acl and rate-limiting plugins as Kong
//! 3.7+ runs them (same status codes, bodies and headers), then forwarding to the upstream with
//! the consumer headers Kong adds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::Sim;
use crate::db::{Row, Table};
use crate::errors::KongError;

/// Rate-limiting windows and their lengths in seconds.
const WINDOWS: [(&str, u64); 4] = [
    ("second", 1),
    ("minute", 60),
    ("hour", 3600),
    ("day", 86_400),
];

/// Validates a plugin's configuration and fills Kong's defaults.
pub fn plugin_config(name: &str, config: Option<&Value>) -> Result<Value, KongError> {
    let mut config = match config {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(KongError::schema("config", "expected a record")),
    };
    let mut defaults = |pairs: &[(&str, Value)]| {
        for (k, v) in pairs {
            config.entry((*k).to_owned()).or_insert_with(|| v.clone());
        }
    };
    match name {
        "key-auth" => defaults(&[
            ("key_names", json!(["apikey"])),
            ("key_in_header", json!(true)),
            ("key_in_query", json!(true)),
            ("key_in_body", json!(false)),
            ("hide_credentials", json!(false)),
            ("realm", Value::Null),
            ("anonymous", Value::Null),
        ]),
        "acl" => {
            defaults(&[("hide_groups_header", json!(false))]);
            let allow = config.get("allow").is_some_and(|v| !v.is_null());
            let deny = config.get("deny").is_some_and(|v| !v.is_null());
            if allow == deny {
                return Err(KongError::schema(
                    "config",
                    "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'",
                ));
            }
        }
        "rate-limiting" => {
            defaults(&[
                ("policy", json!("local")),
                ("limit_by", json!("consumer")),
                ("error_code", json!(429)),
                ("error_message", json!("API rate limit exceeded")),
                ("fault_tolerant", json!(true)),
                ("hide_client_headers", json!(false)),
            ]);
            if WINDOWS
                .iter()
                .all(|(w, _)| config.get(*w).is_none_or(Value::is_null))
            {
                return Err(KongError::schema(
                    "config",
                    "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'",
                ));
            }
        }
        other => {
            return Err(KongError::schema(
                "name",
                format!(
                    "plugin '{other}' not enabled; add it to the 'plugins' configuration property"
                ),
            ));
        }
    }
    Ok(Value::Object(config))
}

#[derive(Debug, Default)]
struct Counters(HashMap<(String, String, &'static str, u64), u64>);

#[derive(Debug)]
struct Proxy {
    sim: Arc<Sim>,
    counters: Mutex<Counters>,
}

pub fn router(sim: Arc<Sim>) -> Router {
    let proxy = Arc::new(Proxy {
        sim,
        counters: Mutex::new(Counters::default()),
    });
    Router::new().fallback(handle).with_state(proxy)
}

fn request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn kong_error(
    status: StatusCode,
    message: &str,
    request_id: &str,
    extra: &[(HeaderName, String)],
) -> Response {
    let mut response = (
        status,
        axum::Json(json!({"message": message, "request_id": request_id})),
    )
        .into_response();
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().append(name.clone(), value);
        }
    }
    response
}

fn id_of(value: &Map<String, Value>, field: &str) -> Option<String> {
    value
        .get(field)
        .and_then(|p| p.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The most specific enabled plugin of `name` for this route/service/consumer.
fn plugin<'a>(
    rows: &[&'a Row],
    name: &str,
    route: &str,
    service: Option<&str>,
    consumer: Option<&str>,
) -> Option<&'a Map<String, Value>> {
    rows.iter()
        .map(|row| &row.value)
        .filter(|p| p.get("name").and_then(Value::as_str) == Some(name))
        .filter_map(|p| {
            let (c, r, s) = (id_of(p, "consumer"), id_of(p, "route"), id_of(p, "service"));
            let matches = c.as_deref().is_none_or(|c| Some(c) == consumer)
                && r.as_deref().is_none_or(|r| r == route)
                && s.as_deref().is_none_or(|s| Some(s) == service);
            let specificity =
                u8::from(c.is_some()) * 4 + u8::from(r.is_some()) * 2 + u8::from(s.is_some());
            matches.then_some((specificity, p))
        })
        .max_by_key(|(specificity, _)| *specificity)
        .map(|(_, p)| p)
}

struct Matched {
    route_id: String,
    service: Option<Map<String, Value>>,
    upstream_path: String,
}

fn match_route(sim: &Sim, method: &str, path: &str, now: f64) -> Option<Matched> {
    let db = sim.db();
    let mut best: Option<(usize, &Row, String)> = None;
    for route in db.rows(Table::Routes, now) {
        let methods_ok = route
            .value
            .get("methods")
            .and_then(Value::as_array)
            .is_none_or(|ms| ms.iter().any(|m| m.as_str() == Some(method)));
        if !methods_ok {
            continue;
        }
        let paths: Vec<String> = route
            .value
            .get("paths")
            .and_then(Value::as_array)
            .map_or_else(
                || vec!["/".to_owned()],
                |ps| {
                    ps.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                },
            );
        for prefix in paths {
            if path.starts_with(&prefix)
                && best.as_ref().is_none_or(|(len, _, _)| prefix.len() > *len)
            {
                best = Some((prefix.len(), route, prefix));
            }
        }
    }
    let (_, route, prefix) = best?;
    let strip = route
        .value
        .get("strip_path")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let rest = if strip { &path[prefix.len()..] } else { path };
    let service = id_of(&route.value, "service")
        .and_then(|id| db.get(Table::Services, &id, now))
        .map(|row| row.value.clone());
    Some(Matched {
        route_id: route
            .value
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        service,
        upstream_path: rest.to_owned(),
    })
}

/// The key sent by the client, per key-auth's configuration.
enum KeyLookup {
    Missing,
    Duplicate,
    Found(String, Option<String>),
}

fn find_key(config: &Map<String, Value>, headers: &HeaderMap, query: Option<&str>) -> KeyLookup {
    let names: Vec<&str> = config
        .get("key_names")
        .and_then(Value::as_array)
        .map(|n| n.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if config
        .get("key_in_header")
        .and_then(Value::as_bool)
        .unwrap_or(true)
    {
        for name in &names {
            let values: Vec<_> = headers.get_all(*name).iter().collect();
            if values.len() > 1 {
                return KeyLookup::Duplicate;
            }
            if let Some(value) = values.first().and_then(|v| v.to_str().ok()) {
                return KeyLookup::Found(value.to_owned(), Some((*name).to_owned()));
            }
        }
    }
    if config
        .get("key_in_query")
        .and_then(Value::as_bool)
        .unwrap_or(true)
    {
        let pairs: Vec<(String, String)> = query
            .unwrap_or_default()
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        for name in &names {
            let values: Vec<&String> = pairs
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v)
                .collect();
            if values.len() > 1 {
                return KeyLookup::Duplicate;
            }
            if let Some(value) = values.first() {
                return KeyLookup::Found((*value).clone(), None);
            }
        }
    }
    KeyLookup::Missing
}

struct Authenticated {
    consumer: Map<String, Value>,
    credential_id: String,
    groups: Vec<String>,
}

#[expect(
    clippy::too_many_lines,
    reason = "Kong's access phase, plugin by plugin, reads top to bottom"
)]
async fn handle(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let request_id = request_id();
    let sim = &proxy.sim;
    let now = sim.now();
    let (parts, body) = request.into_parts();
    let Some(matched) = match_route(sim, parts.method.as_str(), parts.uri.path(), now) else {
        return kong_error(
            StatusCode::NOT_FOUND,
            "no Route matched with those values",
            &request_id,
            &[],
        );
    };
    let service_id = matched
        .service
        .as_ref()
        .and_then(|s| s.get("id").and_then(Value::as_str).map(str::to_owned));
    let mut headers = parts.headers.clone();

    let plugins: Vec<Row> = sim.db().rows(Table::Plugins, now).cloned().collect();
    let plugin_rows: Vec<&Row> = plugins.iter().collect();
    let mut authenticated: Option<Authenticated> = None;
    if let Some(key_auth) = plugin(
        &plugin_rows,
        "key-auth",
        &matched.route_id,
        service_id.as_deref(),
        None,
    ) {
        let config = key_auth
            .get("config")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let challenge = match config.get("realm").and_then(Value::as_str) {
            Some(realm) => format!("Key realm=\"{realm}\""),
            None => "Key".to_owned(),
        };
        let www = [(axum::http::header::WWW_AUTHENTICATE, challenge)];
        let (key, header) = match find_key(&config, &parts.headers, parts.uri.query()) {
            KeyLookup::Missing => {
                return kong_error(
                    StatusCode::UNAUTHORIZED,
                    "No API key found in request",
                    &request_id,
                    &www,
                );
            }
            KeyLookup::Duplicate => {
                return kong_error(
                    StatusCode::UNAUTHORIZED,
                    "Duplicate API key found",
                    &request_id,
                    &www,
                );
            }
            KeyLookup::Found(key, header) => (key, header),
        };
        let db = sim.db();
        let Some(credential) = db
            .rows(Table::KeyAuths, now)
            .find(|row| row.value.get("key").and_then(Value::as_str) == Some(key.as_str()))
        else {
            return kong_error(StatusCode::UNAUTHORIZED, "Unauthorized", &request_id, &www);
        };
        let consumer_id = id_of(&credential.value, "consumer").unwrap_or_default();
        let Some(consumer) = db.get(Table::Consumers, &consumer_id, now) else {
            return kong_error(StatusCode::UNAUTHORIZED, "Unauthorized", &request_id, &www);
        };
        let groups = db
            .rows(Table::Acls, now)
            .filter(|acl| id_of(&acl.value, "consumer").as_deref() == Some(consumer_id.as_str()))
            .filter_map(|acl| {
                acl.value
                    .get("group")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        authenticated = Some(Authenticated {
            consumer: consumer.value.clone(),
            credential_id: credential
                .value
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            groups,
        });
        if config
            .get("hide_credentials")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            && let Some(header) = header
        {
            headers.remove(header.as_str());
        }
    }
    let consumer_id = authenticated.as_ref().and_then(|a| {
        a.consumer
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });

    if let Some(acl) = plugin(
        &plugin_rows,
        "acl",
        &matched.route_id,
        service_id.as_deref(),
        consumer_id.as_deref(),
    ) {
        let config = acl
            .get("config")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let Some(auth) = &authenticated else {
            return kong_error(StatusCode::UNAUTHORIZED, "Unauthorized", &request_id, &[]);
        };
        let list = |field: &str| -> Vec<String> {
            config
                .get(field)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let allowed = if config.get("allow").is_some_and(|v| !v.is_null()) {
            let allow = list("allow");
            auth.groups.iter().any(|g| allow.contains(g))
        } else {
            let deny = list("deny");
            !auth.groups.iter().any(|g| deny.contains(g))
        };
        if !allowed {
            return kong_error(
                StatusCode::FORBIDDEN,
                "You cannot consume this service",
                &request_id,
                &[],
            );
        }
        if !config
            .get("hide_groups_header")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            && !auth.groups.is_empty()
        {
            insert(&mut headers, "x-consumer-groups", &auth.groups.join(", "));
        }
    }

    let mut rate_headers = Vec::new();
    if let Some(limit) = plugin(
        &plugin_rows,
        "rate-limiting",
        &matched.route_id,
        service_id.as_deref(),
        consumer_id.as_deref(),
    ) {
        match proxy.rate_limit(limit, consumer_id.as_deref().unwrap_or("anonymous"), now) {
            Ok(headers) => rate_headers = headers,
            Err((status, message, headers)) => {
                return kong_error(status, &message, &request_id, &headers);
            }
        }
    }

    if let Some(auth) = &authenticated {
        for (name, field) in [
            ("x-consumer-id", "id"),
            ("x-consumer-username", "username"),
            ("x-consumer-custom-id", "custom_id"),
        ] {
            if let Some(value) = auth.consumer.get(field).and_then(Value::as_str) {
                insert(&mut headers, name, value);
            }
        }
        insert(&mut headers, "x-credential-identifier", &auth.credential_id);
    }
    let Some(service) = matched.service else {
        return kong_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "failure to get a peer from the ring-balancer",
            &request_id,
            &[],
        );
    };
    let Ok(body) = axum::body::to_bytes(body, 10 * 1024 * 1024).await else {
        return kong_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request size limit exceeded",
            &request_id,
            &[],
        );
    };
    let mut response = forward(
        sim,
        &service,
        &matched.upstream_path,
        parts.uri.query(),
        parts.method,
        headers,
        body,
        &request_id,
    )
    .await;
    for (name, value) in rate_headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

#[expect(clippy::too_many_arguments, reason = "one forwarded request's parts")]
async fn forward(
    sim: &Sim,
    service: &Map<String, Value>,
    rest: &str,
    query: Option<&str>,
    method: axum::http::Method,
    mut headers: HeaderMap,
    body: Bytes,
    request_id: &str,
) -> Response {
    let text = |field: &str| {
        service
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let port = service.get("port").and_then(Value::as_u64).unwrap_or(80);
    let base_path = service
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    let rest = if rest.is_empty() || rest.starts_with('/') {
        rest.to_owned()
    } else {
        format!("/{rest}")
    };
    let mut url = format!(
        "{}://{}:{port}{base_path}{rest}",
        text("protocol"),
        text("host")
    );
    if url.ends_with(&format!(":{port}")) {
        url.push('/');
    }
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    for hop in ["host", "connection", "content-length", "transfer-encoding"] {
        headers.remove(hop);
    }
    insert(&mut headers, "x-kong-request-id", request_id);
    let upstream = sim
        .http
        .request(method, &url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    match upstream {
        Ok(response) => {
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response.bytes().await.unwrap_or_default();
            let mut out = Response::new(Body::from(bytes));
            *out.status_mut() = status;
            for (name, value) in &headers {
                if !matches!(
                    name.as_str(),
                    "content-length" | "transfer-encoding" | "connection"
                ) {
                    out.headers_mut().append(name.clone(), value.clone());
                }
            }
            out
        }
        Err(_) => kong_error(
            StatusCode::BAD_GATEWAY,
            "An invalid response was received from the upstream server",
            request_id,
            &[],
        ),
    }
}

type Refusal = (StatusCode, String, Vec<(HeaderName, String)>);

impl Proxy {
    /// Fixed-window counting on the simulated clock; returns the headers Kong adds.
    fn rate_limit(
        &self,
        plugin: &Map<String, Value>,
        identifier: &str,
        now: f64,
    ) -> Result<Vec<(HeaderName, String)>, Refusal> {
        let config = plugin
            .get("config")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let plugin_id = plugin
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "epoch seconds"
        )]
        let now_s = now.floor() as u64;
        let mut counters = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut headers = Vec::new();
        let mut exceeded = false;
        let mut tightest: Option<(u64, u64, u64)> = None; // (limit, remaining, reset)
        let mut retry_after = 0;
        let windows: Vec<(&'static str, u64, u64)> = WINDOWS
            .iter()
            .filter_map(|(name, length)| {
                config
                    .get(*name)
                    .and_then(Value::as_u64)
                    .map(|limit| (*name, *length, limit))
            })
            .collect();
        for (name, length, limit) in &windows {
            let start = now_s - now_s % length;
            let used = counters
                .0
                .get(&(plugin_id.clone(), identifier.to_owned(), *name, start))
                .copied()
                .unwrap_or(0);
            let reset = start + length - now_s;
            if used >= *limit {
                exceeded = true;
                retry_after = retry_after.max(reset);
            }
            let remaining = limit.saturating_sub(used + 1);
            headers.push((
                header(&format!("x-ratelimit-limit-{name}")),
                limit.to_string(),
            ));
            headers.push((
                header(&format!("x-ratelimit-remaining-{name}")),
                if used >= *limit {
                    "0".to_owned()
                } else {
                    remaining.to_string()
                },
            ));
            if tightest.is_none_or(|(_, r, _)| remaining < r) {
                tightest = Some((*limit, if used >= *limit { 0 } else { remaining }, reset));
            }
        }
        if let Some((limit, remaining, reset)) = tightest {
            headers.push((header("ratelimit-limit"), limit.to_string()));
            headers.push((header("ratelimit-remaining"), remaining.to_string()));
            headers.push((header("ratelimit-reset"), reset.to_string()));
        }
        if exceeded {
            headers.push((header("retry-after"), retry_after.to_string()));
            let status = config
                .get("error_code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            let message = config
                .get("error_message")
                .and_then(Value::as_str)
                .unwrap_or("API rate limit exceeded")
                .to_owned();
            return Err((status, message, headers));
        }
        for (name, length, _) in windows {
            let start = now_s - now_s % length;
            *counters
                .0
                .entry((plugin_id.clone(), identifier.to_owned(), name, start))
                .or_insert(0) += 1;
        }
        Ok(headers)
    }
}

fn header(name: &str) -> HeaderName {
    HeaderName::from_bytes(name.as_bytes()).unwrap_or(HeaderName::from_static("x-ratelimit"))
}
