//! The Admin API listener: Kong's endpoints for consumers, their key-auth credentials, ACL groups
//! and plugins, services, routes and plugins, with Kong's body parsing, pagination, tag filters,
//! status codes, headers and error bodies. Simulator controls live under `/_sim/` and are not
//! part of Kong's API.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use crate::db::{Row, Table, Tags, is_uuid, render};
use crate::errors::KongError;
use crate::{KONG_VERSION, Sim, plugins};

type Params = Query<HashMap<String, String>>;
type Reply = Result<Response, KongError>;
type SimState = State<Arc<Sim>>;

/// Largest Admin API request body accepted.
const BODY_LIMIT: usize = 1024 * 1024;

pub(crate) fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/", get(node_info))
        .route("/status", get(status))
        .route("/consumers", get(list_consumers).post(create_consumer))
        .route(
            "/consumers/{consumer}",
            get(get_consumer)
                .put(put_consumer)
                .patch(patch_consumer)
                .delete(delete_consumer),
        )
        .route(
            "/consumers/{consumer}/key-auth",
            get(list_consumer_keys).post(create_key),
        )
        .route(
            "/consumers/{consumer}/key-auth/{key}",
            get(get_key)
                .patch(patch_key)
                .put(put_key)
                .delete(delete_key),
        )
        .route("/key-auths", get(list_all_keys))
        .route(
            "/key-auths/{key}",
            get(get_top_level_key).delete(delete_top_level_key),
        )
        .route(
            "/consumers/{consumer}/acls",
            get(list_acls).post(create_acl),
        )
        .route(
            "/consumers/{consumer}/acls/{acl}",
            get(get_acl).put(put_acl).delete(delete_acl),
        )
        .route("/acls", get(list_all_acls))
        .route(
            "/consumers/{consumer}/plugins",
            get(list_consumer_plugins).post(create_consumer_plugin),
        )
        .route(
            "/consumers/{consumer}/plugins/{plugin}",
            get(get_consumer_plugin)
                .put(put_consumer_plugin)
                .delete(delete_consumer_plugin),
        )
        .route("/services", get(list_services).post(create_service))
        .route(
            "/services/{service}",
            get(get_service).delete(delete_service),
        )
        .route(
            "/services/{service}/routes",
            get(list_service_routes).post(create_service_route),
        )
        .route(
            "/services/{service}/plugins",
            get(list_service_plugins).post(create_service_plugin),
        )
        .route("/routes", get(list_routes).post(create_route))
        .route("/routes/{route}", get(get_route).delete(delete_route))
        .route(
            "/routes/{route}/plugins",
            get(list_route_plugins).post(create_route_plugin),
        )
        .route("/plugins", get(list_plugins).post(create_global_plugin))
        .route("/plugins/{plugin}", get(get_plugin).delete(delete_plugin))
        .route("/_sim/faults", post(add_fault))
        .route("/_sim/clock/advance", post(advance_clock))
        .route("/_sim/database", post(switch_database))
        .fallback(|| async { KongError::NotFound })
        .method_not_allowed_fallback(|| async { KongError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            kong_layer,
        ))
        .with_state(sim)
}

/// Counts Admin API requests, answers armed faults before the handler runs, and adds the
/// headers every Kong Admin API response carries.
async fn kong_layer(State(sim): State<Arc<Sim>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = request.uri().path().to_owned();
    let mut response = if path.starts_with("/_sim/") {
        next.run(request).await
    } else {
        sim.count_admin_request();
        let needs_database = !matches!(path.as_str(), "/" | "/status");
        match sim.take_fault(request.method(), &path) {
            Some(failure) => {
                tokio::time::sleep(failure.delay).await;
                KongError::for_status(failure.status).into_response()
            }
            None if needs_database && !sim.database_reachable() => {
                KongError::Internal.into_response()
            }
            None => next.run(request).await,
        }
    };
    let headers = response.headers_mut();
    if let Ok(server) = HeaderValue::from_str(&format!("kong/{KONG_VERSION}")) {
        headers.insert(header::SERVER, server);
    }
    if headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
    {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    if let Ok(latency) = HeaderValue::from_str(&started.elapsed().as_millis().to_string()) {
        headers.insert("x-kong-admin-latency", latency);
    }
    response
}

/// A request body as Kong parses it: JSON or form-urlencoded; no body is `{}`.
struct KongBody(Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for KongBody {
    type Rejection = KongError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, KongError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            });
        let body = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| KongError::BadRequest("Request body too large"))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Map::new()));
        }
        match content_type.as_deref() {
            Some("application/json") => match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(map)) => Ok(Self(map)),
                _ => Err(KongError::BadRequest("Cannot parse JSON body")),
            },
            Some("application/x-www-form-urlencoded") => Ok(Self(parse_form(&body))),
            _ => Err(KongError::UnsupportedMediaType),
        }
    }
}

/// Fields a form body sends as text that Kong's schema coerces to numbers.
const NUMERIC_FIELDS: [&str; 13] = [
    "ttl",
    "port",
    "retries",
    "connect_timeout",
    "read_timeout",
    "write_timeout",
    "second",
    "minute",
    "hour",
    "day",
    "month",
    "year",
    "error_code",
];
/// Fields a form body sends as text that Kong's schema coerces to booleans.
const BOOLEAN_FIELDS: [&str; 9] = [
    "strip_path",
    "preserve_host",
    "enabled",
    "hide_credentials",
    "key_in_header",
    "key_in_query",
    "hide_groups_header",
    "hide_client_headers",
    "fault_tolerant",
];
/// Fields that are arrays even when a form body sends them once without `[]`.
const ARRAY_FIELDS: [&str; 8] = [
    "tags",
    "paths",
    "methods",
    "hosts",
    "protocols",
    "key_names",
    "allow",
    "deny",
];

/// Kong's form decoding: `a.b=` nests records, `a[]=` (or a repeated/array field) appends.
fn parse_form(body: &Bytes) -> Map<String, Value> {
    let mut root = Map::new();
    for (raw_key, raw_value) in url::form_urlencoded::parse(body) {
        let (key, forced_array) = match raw_key.strip_suffix("[]") {
            Some(stripped) => (stripped.to_owned(), true),
            None => (raw_key.into_owned(), false),
        };
        let mut parts: Vec<&str> = key.split('.').collect();
        let Some(leaf) = parts.pop() else { continue };
        let target = nested(&mut root, &parts);
        let value = if NUMERIC_FIELDS.contains(&leaf) {
            raw_value
                .parse::<i64>()
                .map_or_else(|_| Value::String(raw_value.to_string()), Value::from)
        } else if BOOLEAN_FIELDS.contains(&leaf) && matches!(&*raw_value, "true" | "false") {
            Value::Bool(raw_value == "true")
        } else {
            Value::String(raw_value.into_owned())
        };
        if forced_array || ARRAY_FIELDS.contains(&leaf) {
            let slot = target
                .entry(leaf.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = slot {
                items.push(value);
            }
        } else {
            target.insert(leaf.to_owned(), value);
        }
    }
    root
}

/// The record at `path` below `map`, created (or replacing a scalar) as needed.
#[expect(
    clippy::expect_used,
    reason = "each level is made an object before it is borrowed as one"
)]
fn nested<'a>(map: &'a mut Map<String, Value>, path: &[&str]) -> &'a mut Map<String, Value> {
    let Some((first, rest)) = path.split_first() else {
        return map;
    };
    let entry = map
        .entry((*first).to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    let inner = entry
        .as_object_mut()
        .expect("the entry was just made an object");
    nested(inner, rest)
}

fn reply(status: StatusCode, value: Value) -> Response {
    (status, Json(value)).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn escape(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Which collection a list query reads, and how its `next` link is built.
struct Collection<'a> {
    table: Table,
    /// Path of the collection as `next` shows it.
    path: String,
    /// Rows of the parent only; `None` for top-level collections.
    parent: Option<(&'static str, &'a str)>,
}

/// Runs a list query with Kong's `size`, `offset` and `tags` parameters. Nested collections
/// ignore `tags` and do not repeat `size`/`tags` in `next`, as Postgres-backed Kong does.
fn list(sim: &Sim, collection: &Collection<'_>, params: &HashMap<String, String>) -> Reply {
    let size = match params.get("size") {
        None => 100,
        Some(raw) => {
            let size = raw
                .parse::<f64>()
                .map_err(|_| KongError::InvalidSize("size must be a number"))?;
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "range-checked before the cast"
            )]
            if size.fract() == 0.0 && (1.0..=1000.0).contains(&size) {
                size as usize
            } else {
                return Err(KongError::InvalidSize(
                    "size must be an integer between 1 and 1000",
                ));
            }
        }
    };
    let nested = collection.parent.is_some();
    let tags = if nested {
        Tags::Any
    } else {
        Tags::parse(params.get("tags").map(String::as_str))?
    };
    let filter = |row: &Row| {
        collection
            .parent
            .is_none_or(|(field, id)| row.parent(field) == Some(id))
    };
    let now = sim.now();
    let page = sim.db().list(
        collection.table,
        &filter,
        &tags,
        size,
        params.get("offset").map(String::as_str),
        now,
    )?;
    let mut body = json!({"data": page.data, "next": Value::Null});
    if let Some(offset) = page.offset {
        let mut next = format!("{}?offset={}", collection.path, escape(&offset));
        if !nested {
            if let Some(tags) = params.get("tags") {
                let _ = write!(next, "&tags={}", escape(tags));
            }
            if let Some(size) = params.get("size") {
                let _ = write!(next, "&size={}", escape(size));
            }
        }
        body["next"] = Value::String(next);
        body["offset"] = Value::String(offset);
    }
    Ok(reply(StatusCode::OK, body))
}

fn resolve(sim: &Sim, table: Table, key: &str) -> Result<String, KongError> {
    let now = sim.now();
    sim.db().resolve(table, key, now).ok_or(KongError::NotFound)
}

fn entity(sim: &Sim, table: Table, id: &str) -> Reply {
    let now = sim.now();
    let db = sim.db();
    let row = db.get(table, id, now).ok_or(KongError::NotFound)?;
    Ok(reply(StatusCode::OK, render(row, now)))
}

/// Resolves `child` (id or endpoint key) among the rows of consumer `consumer`; 404 when either
/// is missing or they do not belong together.
fn consumer_child(
    sim: &Sim,
    table: Table,
    consumer: &str,
    child: &str,
) -> Result<(String, String), KongError> {
    let now = sim.now();
    let db = sim.db();
    let consumer_id = db.consumer_id(consumer, now)?;
    let belongs = |row: &Row| row.parent("consumer") == Some(consumer_id.as_str());
    let child_id = if is_uuid(child) {
        let id = child.to_ascii_lowercase();
        db.get(table, &id, now)
            .filter(|row| belongs(row))
            .map(|_| id)
    } else {
        // ACL groups are unique per consumer only, so look the name up among this consumer's.
        let field = match table {
            Table::Acls => "group",
            Table::Plugins => "instance_name",
            _ => "key",
        };
        db.rows(table, now)
            .find(|row| belongs(row) && row.str_field(field) == Some(child))
            .and_then(|row| row.str_field("id"))
            .map(str::to_owned)
    };
    Ok((consumer_id, child_id.ok_or(KongError::NotFound)?))
}

fn delete_top_level(sim: &Sim, table: Table, key: &str) -> Response {
    let now = sim.now();
    let mut db = sim.db();
    if let Some(id) = db.resolve(table, key, now) {
        db.delete_cascade(table, &id, now);
    }
    no_content()
}

async fn node_info(State(sim): SimState) -> Json<Value> {
    let available: Map<String, Value> = plugins::AVAILABLE
        .iter()
        .map(|(name, priority)| {
            (
                (*name).to_owned(),
                json!({"version": KONG_VERSION, "priority": priority}),
            )
        })
        .collect();
    let now = sim.now();
    let mut enabled: Vec<String> = sim
        .db()
        .rows(Table::Plugins, now)
        .filter_map(|row| row.str_field("name").map(str::to_owned))
        .collect();
    enabled.sort();
    enabled.dedup();
    Json(json!({
        "tagline": "Welcome to kong",
        "version": KONG_VERSION,
        "edition": "community",
        "hostname": "gatekey-kong-sim",
        "node_id": sim.node_id,
        "lua_version": "LuaJIT 2.1.0-20231117",
        "timers": {"running": 0, "pending": 1},
        "pids": {"master": std::process::id(), "workers": [std::process::id()]},
        "configuration": {
            "database": "postgres",
            "role": "traditional",
            "admin_listen": ["127.0.0.1:8001"],
            "proxy_listen": ["0.0.0.0:8000"],
            "router_flavor": "traditional_compatible",
            "plugins": ["bundled"],
        },
        "plugins": {"available_on_server": available, "enabled_in_cluster": enabled},
    }))
}

async fn status(State(sim): SimState) -> Json<Value> {
    let total = sim.admin_request_count();
    Json(json!({
        "database": {"reachable": sim.database_reachable()},
        "server": {
            "total_requests": total, "connections_accepted": total, "connections_handled": total,
            "connections_active": 1, "connections_reading": 0, "connections_writing": 1,
            "connections_waiting": 0,
        },
        "memory": {"workers_lua_vms": [], "lua_shared_dicts": {}},
    }))
}

async fn list_consumers(State(sim): SimState, Query(params): Params) -> Reply {
    if let Some(custom_id) = params.get("custom_id") {
        if custom_id.is_empty() {
            return Err(KongError::BadRequest("custom_id must be an unempty string"));
        }
        let now = sim.now();
        let data: Vec<Value> = sim
            .db()
            .rows(Table::Consumers, now)
            .filter(|row| row.str_field("custom_id") == Some(custom_id.as_str()))
            .map(|row| render(row, now))
            .collect();
        return Ok(reply(StatusCode::OK, json!({"data": data, "next": null})));
    }
    let collection = Collection {
        table: Table::Consumers,
        path: "/consumers".to_owned(),
        parent: None,
    };
    list(&sim, &collection, &params)
}

async fn create_consumer(State(sim): SimState, KongBody(body): KongBody) -> Reply {
    let now = sim.now();
    let created = sim.db().create_consumer(&body, now)?;
    Ok(reply(StatusCode::CREATED, created))
}

async fn get_consumer(State(sim): SimState, Path(key): Path<String>) -> Reply {
    let id = resolve(&sim, Table::Consumers, &key)?;
    entity(&sim, Table::Consumers, &id)
}

/// A UUID segment is the id; anything else is forced as the username.
async fn put_consumer(
    State(sim): SimState,
    Path(key): Path<String>,
    KongBody(mut body): KongBody,
) -> Reply {
    let now = sim.now();
    let mut db = sim.db();
    let id = if is_uuid(&key) {
        key.to_ascii_lowercase()
    } else {
        body.insert("username".to_owned(), Value::String(key.clone()));
        body.remove("id");
        db.resolve(Table::Consumers, &key, now)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    };
    let value = db.upsert_consumer(&id, &body, now)?;
    Ok(reply(StatusCode::OK, value))
}

async fn patch_consumer(
    State(sim): SimState,
    Path(key): Path<String>,
    KongBody(patch): KongBody,
) -> Reply {
    let now = sim.now();
    let mut db = sim.db();
    let id = db.consumer_id(&key, now)?;
    let value = db.patch_consumer(&id, &patch, now)?;
    Ok(reply(StatusCode::OK, value))
}

async fn delete_consumer(State(sim): SimState, Path(key): Path<String>) -> Response {
    delete_top_level(&sim, Table::Consumers, &key)
}

/// Lists one consumer's rows of `table`, under `/consumers/{segment as sent}/{nested}`.
fn list_of_consumer(
    sim: &Sim,
    table: Table,
    nested: &str,
    key: &str,
    params: &HashMap<String, String>,
) -> Reply {
    let id = resolve(sim, Table::Consumers, key)?;
    let collection = Collection {
        table,
        path: format!("/consumers/{}/{nested}", escape(key)),
        parent: Some(("consumer", &id)),
    };
    list(sim, &collection, params)
}

async fn list_consumer_keys(
    State(sim): SimState,
    Path(key): Path<String>,
    Query(params): Params,
) -> Reply {
    list_of_consumer(&sim, Table::KeyAuths, "key-auth", &key, &params)
}

async fn list_all_keys(State(sim): SimState, Query(params): Params) -> Reply {
    let collection = Collection {
        table: Table::KeyAuths,
        path: "/key-auths".to_owned(),
        parent: None,
    };
    list(&sim, &collection, &params)
}

async fn create_key(
    State(sim): SimState,
    Path(key): Path<String>,
    KongBody(body): KongBody,
) -> Reply {
    let now = sim.now();
    let mut db = sim.db();
    let consumer = db.consumer_id(&key, now)?;
    let created = db.create_key_auth(&consumer, &body, now)?;
    Ok(reply(StatusCode::CREATED, created))
}

async fn get_key(State(sim): SimState, Path((consumer, key)): Path<(String, String)>) -> Reply {
    let (_, id) = consumer_child(&sim, Table::KeyAuths, &consumer, &key)?;
    entity(&sim, Table::KeyAuths, &id)
}

async fn patch_key(
    State(sim): SimState,
    Path((consumer, key)): Path<(String, String)>,
    KongBody(body): KongBody,
) -> Reply {
    let (_, id) = consumer_child(&sim, Table::KeyAuths, &consumer, &key)?;
    let now = sim.now();
    let value = sim.db().patch_key_auth(&id, &body, now)?;
    Ok(reply(StatusCode::OK, value))
}

/// A UUID segment is the id (the key is generated when the body has none); anything else is
/// forced as the key.
async fn put_key(
    State(sim): SimState,
    Path((consumer, key)): Path<(String, String)>,
    KongBody(mut body): KongBody,
) -> Reply {
    let now = sim.now();
    let mut db = sim.db();
    let consumer = db.consumer_id(&consumer, now)?;
    let id = if is_uuid(&key) {
        key.to_ascii_lowercase()
    } else {
        body.insert("key".to_owned(), Value::String(key.clone()));
        body.remove("id");
        db.resolve(Table::KeyAuths, &key, now)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    };
    let value = db.upsert_key_auth(&consumer, &id, &body, now)?;
    Ok(reply(StatusCode::OK, value))
}

async fn delete_key(State(sim): SimState, Path((consumer, key)): Path<(String, String)>) -> Reply {
    let (_, id) = consumer_child(&sim, Table::KeyAuths, &consumer, &key)?;
    let now = sim.now();
    sim.db().delete_cascade(Table::KeyAuths, &id, now);
    Ok(no_content())
}

async fn get_top_level_key(State(sim): SimState, Path(key): Path<String>) -> Reply {
    let id = resolve(&sim, Table::KeyAuths, &key)?;
    entity(&sim, Table::KeyAuths, &id)
}

async fn delete_top_level_key(State(sim): SimState, Path(key): Path<String>) -> Response {
    delete_top_level(&sim, Table::KeyAuths, &key)
}

async fn list_acls(State(sim): SimState, Path(key): Path<String>, Query(params): Params) -> Reply {
    list_of_consumer(&sim, Table::Acls, "acls", &key, &params)
}

async fn list_all_acls(State(sim): SimState, Query(params): Params) -> Reply {
    let collection = Collection {
        table: Table::Acls,
        path: "/acls".to_owned(),
        parent: None,
    };
    list(&sim, &collection, &params)
}

async fn create_acl(
    State(sim): SimState,
    Path(key): Path<String>,
    KongBody(body): KongBody,
) -> Reply {
    let now = sim.now();
    let mut db = sim.db();
    let consumer = db.consumer_id(&key, now)?;
    let created = db.create_acl(&consumer, &body, now)?;
    Ok(reply(StatusCode::CREATED, created))
}

async fn get_acl(State(sim): SimState, Path((consumer, acl)): Path<(String, String)>) -> Reply {
    let (_, id) = consumer_child(&sim, Table::Acls, &consumer, &acl)?;
    entity(&sim, Table::Acls, &id)
}

/// `PUT /consumers/{c}/acls/{id or group}` (Kong's `kong/plugins/acl/api.lua`): a UUID segment
/// is the id; a group name addresses the consumer's membership of that group (a new id when it
/// has none) and is the `group` unless the body names one.
async fn put_acl(
    State(sim): SimState,
    Path((consumer, acl)): Path<(String, String)>,
    KongBody(mut body): KongBody,
) -> Reply {
    let now = sim.now();
    let mut db = sim.db();
    let consumer = db.consumer_id(&consumer, now)?;
    let id = if is_uuid(&acl) {
        acl.to_ascii_lowercase()
    } else {
        if body.get("group").is_none_or(Value::is_null) {
            body.insert("group".to_owned(), Value::String(acl.clone()));
        }
        db.rows(Table::Acls, now)
            .find(|row| {
                row.parent("consumer") == Some(consumer.as_str())
                    && row.str_field("group") == Some(acl.as_str())
            })
            .and_then(|row| row.str_field("id"))
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
    };
    body.remove("id");
    let value = db.upsert_acl(&consumer, &id, &body, now)?;
    Ok(reply(StatusCode::OK, value))
}

async fn delete_acl(State(sim): SimState, Path((consumer, acl)): Path<(String, String)>) -> Reply {
    let (_, id) = consumer_child(&sim, Table::Acls, &consumer, &acl)?;
    let now = sim.now();
    sim.db().delete_cascade(Table::Acls, &id, now);
    Ok(no_content())
}

async fn list_consumer_plugins(
    State(sim): SimState,
    Path(key): Path<String>,
    Query(params): Params,
) -> Reply {
    list_of_consumer(&sim, Table::Plugins, "plugins", &key, &params)
}

async fn create_consumer_plugin(
    State(sim): SimState,
    Path(key): Path<String>,
    KongBody(body): KongBody,
) -> Reply {
    create_scoped_plugin(&sim, Table::Consumers, "consumer", &key, &body)
}

async fn get_consumer_plugin(
    State(sim): SimState,
    Path((consumer, plugin)): Path<(String, String)>,
) -> Reply {
    let (_, id) = consumer_child(&sim, Table::Plugins, &consumer, &plugin)?;
    entity(&sim, Table::Plugins, &id)
}

/// `PUT /consumers/{c}/plugins/{id or instance_name}` (Kong's generic nested PUT in
/// `kong/api/endpoints.lua`): the consumer is forced from the path; a UUID segment is the id, any
/// other segment the `instance_name` (plugins' endpoint key).
async fn put_consumer_plugin(
    State(sim): SimState,
    Path((consumer, plugin)): Path<(String, String)>,
    KongBody(mut body): KongBody,
) -> Reply {
    let now = sim.now();
    let mut db = sim.db();
    let consumer = db.consumer_id(&consumer, now)?;
    let id = if is_uuid(&plugin) {
        plugin.to_ascii_lowercase()
    } else {
        body.insert("instance_name".to_owned(), Value::String(plugin.clone()));
        db.rows(Table::Plugins, now)
            .find(|row| row.str_field("instance_name") == Some(plugin.as_str()))
            .and_then(|row| row.str_field("id"))
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
    };
    body.remove("id");
    let value = db.upsert_plugin(&[("consumer", &consumer)], &id, &body, now)?;
    Ok(reply(StatusCode::OK, value))
}

async fn delete_consumer_plugin(
    State(sim): SimState,
    Path((consumer, plugin)): Path<(String, String)>,
) -> Reply {
    let (_, id) = consumer_child(&sim, Table::Plugins, &consumer, &plugin)?;
    let now = sim.now();
    sim.db().delete_cascade(Table::Plugins, &id, now);
    Ok(no_content())
}

/// `POST /{parents}/{p}/plugins`: the parent is forced from the path (404 when missing).
fn create_scoped_plugin(
    sim: &Sim,
    parent: Table,
    field: &'static str,
    key: &str,
    body: &Map<String, Value>,
) -> Reply {
    let now = sim.now();
    let mut db = sim.db();
    let parent_id = db.resolve(parent, key, now).ok_or(KongError::NotFound)?;
    let created = db.create_plugin(&[(field, &parent_id)], body, now)?;
    Ok(reply(StatusCode::CREATED, created))
}

/// Lists the rows of `table` whose `field` points at the `parent` entity `key`.
fn list_of_parent(
    sim: &Sim,
    parent: (Table, &str, &'static str),
    table: Table,
    key: &str,
    params: &HashMap<String, String>,
) -> Reply {
    let (parent_table, parent_path, field) = parent;
    let id = resolve(sim, parent_table, key)?;
    let nested = if table == Table::Routes {
        "routes"
    } else {
        "plugins"
    };
    let collection = Collection {
        table,
        path: format!("/{parent_path}/{}/{nested}", escape(key)),
        parent: Some((field, &id)),
    };
    list(sim, &collection, params)
}

async fn list_services(State(sim): SimState, Query(params): Params) -> Reply {
    let collection = Collection {
        table: Table::Services,
        path: "/services".to_owned(),
        parent: None,
    };
    list(&sim, &collection, &params)
}

async fn create_service(State(sim): SimState, KongBody(body): KongBody) -> Reply {
    let now = sim.now();
    let created = sim.db().create_service(&body, now)?;
    Ok(reply(StatusCode::CREATED, created))
}

async fn get_service(State(sim): SimState, Path(key): Path<String>) -> Reply {
    let id = resolve(&sim, Table::Services, &key)?;
    entity(&sim, Table::Services, &id)
}

async fn delete_service(State(sim): SimState, Path(key): Path<String>) -> Response {
    delete_top_level(&sim, Table::Services, &key)
}

async fn list_service_routes(
    State(sim): SimState,
    Path(key): Path<String>,
    Query(params): Params,
) -> Reply {
    let parent = (Table::Services, "services", "service");
    list_of_parent(&sim, parent, Table::Routes, &key, &params)
}

async fn create_service_route(
    State(sim): SimState,
    Path(key): Path<String>,
    KongBody(body): KongBody,
) -> Reply {
    let now = sim.now();
    let mut db = sim.db();
    let service = db
        .resolve(Table::Services, &key, now)
        .ok_or(KongError::NotFound)?;
    let created = db.create_route(Some(&service), &body, now)?;
    Ok(reply(StatusCode::CREATED, created))
}

async fn list_service_plugins(
    State(sim): SimState,
    Path(key): Path<String>,
    Query(params): Params,
) -> Reply {
    let parent = (Table::Services, "services", "service");
    list_of_parent(&sim, parent, Table::Plugins, &key, &params)
}

async fn create_service_plugin(
    State(sim): SimState,
    Path(key): Path<String>,
    KongBody(body): KongBody,
) -> Reply {
    create_scoped_plugin(&sim, Table::Services, "service", &key, &body)
}

async fn list_routes(State(sim): SimState, Query(params): Params) -> Reply {
    let collection = Collection {
        table: Table::Routes,
        path: "/routes".to_owned(),
        parent: None,
    };
    list(&sim, &collection, &params)
}

/// `POST /routes`: `service` is `{"id": ...}` or `{"name": ...}`; a missing one is a foreign
/// key violation.
async fn create_route(State(sim): SimState, KongBody(body): KongBody) -> Reply {
    let now = sim.now();
    let mut db = sim.db();
    let service = match body.get("service") {
        None | Some(Value::Null) => None,
        Some(reference) => {
            let key = reference
                .get("id")
                .or_else(|| reference.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| KongError::schema("service", "expected a record"))?;
            let found = db.resolve(Table::Services, key, now);
            Some(found.ok_or_else(|| KongError::ForeignKey {
                field: "service".to_owned(),
                key: reference.clone(),
            })?)
        }
    };
    let created = db.create_route(service.as_deref(), &body, now)?;
    Ok(reply(StatusCode::CREATED, created))
}

async fn get_route(State(sim): SimState, Path(key): Path<String>) -> Reply {
    let id = resolve(&sim, Table::Routes, &key)?;
    entity(&sim, Table::Routes, &id)
}

async fn delete_route(State(sim): SimState, Path(key): Path<String>) -> Response {
    delete_top_level(&sim, Table::Routes, &key)
}

async fn list_route_plugins(
    State(sim): SimState,
    Path(key): Path<String>,
    Query(params): Params,
) -> Reply {
    let parent = (Table::Routes, "routes", "route");
    list_of_parent(&sim, parent, Table::Plugins, &key, &params)
}

async fn create_route_plugin(
    State(sim): SimState,
    Path(key): Path<String>,
    KongBody(body): KongBody,
) -> Reply {
    create_scoped_plugin(&sim, Table::Routes, "route", &key, &body)
}

/// `GET /plugins`: every plugin; like Kong it has no filter by service (use
/// `/services/{s}/plugins`), only `tags`.
async fn list_plugins(State(sim): SimState, Query(params): Params) -> Reply {
    let collection = Collection {
        table: Table::Plugins,
        path: "/plugins".to_owned(),
        parent: None,
    };
    list(&sim, &collection, &params)
}

/// `POST /plugins`: scoped by `consumer`/`service`/`route` references (`{"id": ...}`) in the body.
async fn create_global_plugin(State(sim): SimState, KongBody(body): KongBody) -> Reply {
    let now = sim.now();
    let mut db = sim.db();
    let mut scope = Vec::new();
    for (field, table) in [
        ("consumer", Table::Consumers),
        ("service", Table::Services),
        ("route", Table::Routes),
    ] {
        let Some(reference) = body.get(field).filter(|v| !v.is_null()) else {
            continue;
        };
        let id = reference
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| db.resolve(table, id, now))
            .ok_or_else(|| KongError::ForeignKey {
                field: field.to_owned(),
                key: reference.clone(),
            })?;
        scope.push((field, id));
    }
    let scope: Vec<(&str, &str)> = scope.iter().map(|(f, id)| (*f, id.as_str())).collect();
    let created = db.create_plugin(&scope, &body, now)?;
    Ok(reply(StatusCode::CREATED, created))
}

async fn get_plugin(State(sim): SimState, Path(key): Path<String>) -> Reply {
    let id = resolve(&sim, Table::Plugins, &key)?;
    entity(&sim, Table::Plugins, &id)
}

async fn delete_plugin(State(sim): SimState, Path(key): Path<String>) -> Response {
    delete_top_level(&sim, Table::Plugins, &key)
}

/// `POST /_sim/faults` (simulator only): arms a [`crate::Fault`].
async fn add_fault(State(sim): SimState, body: Bytes) -> Reply {
    let fault: crate::Fault = serde_json::from_slice(&body)
        .map_err(|_| KongError::BadRequest("Cannot parse JSON body"))?;
    sim.add_fault(fault);
    Ok(no_content())
}

/// `POST /_sim/database` `{"reachable": bool}` (simulator only): the database switch.
async fn switch_database(State(sim): SimState, KongBody(body): KongBody) -> Reply {
    let reachable = body
        .get("reachable")
        .and_then(Value::as_bool)
        .ok_or_else(|| KongError::schema("reachable", "expected a boolean"))?;
    sim.set_database_reachable(reachable);
    Ok(no_content())
}

/// `POST /_sim/clock/advance` `{"seconds": N}` (simulator only).
async fn advance_clock(State(sim): SimState, KongBody(body): KongBody) -> Reply {
    let seconds = body
        .get("seconds")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| KongError::schema("seconds", "expected a non-negative number"))?;
    sim.advance(Duration::from_secs_f64(seconds));
    Ok(no_content())
}
