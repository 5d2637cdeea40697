//! The Admin API listener: Kong's endpoints for consumers, their key-auth credentials, ACL groups
//! and plugins, services, routes and plugins, with Kong's pagination, tag filters, status codes
//! and error bodies. Simulator controls live under `/_sim/`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use crate::Sim;
use crate::db::{Table, Tags, is_uuid};
use crate::errors::KongError;

type Params = Query<HashMap<String, String>>;
type Reply = Result<Response, KongError>;

pub fn router(sim: Arc<Sim>) -> Router {
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
            "/consumers/{consumer}/acls",
            get(list_acls).post(create_acl),
        )
        .route(
            "/consumers/{consumer}/acls/{acl}",
            get(get_acl).delete(delete_acl),
        )
        .route(
            "/consumers/{consumer}/plugins",
            get(list_consumer_plugins).post(create_consumer_plugin),
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
        .route(
            "/routes/{route}/plugins",
            get(list_route_plugins).post(create_route_plugin),
        )
        .route("/plugins", get(list_plugins).post(create_global_plugin))
        .route("/_sim/faults", post(add_fault))
        .route("/_sim/clock/advance", post(advance_clock))
        .fallback(|| async { KongError::NotFound })
        .method_not_allowed_fallback(|| async { KongError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(sim.clone(), faults))
        .with_state(sim)
}

/// Counts requests and answers armed faults before the handler runs.
async fn faults(State(sim): State<Arc<Sim>>, request: Request, next: Next) -> Response {
    sim.count_admin_request();
    let path = request.uri().path().to_owned();
    if !path.starts_with("/_sim/")
        && let Some(status) = sim.take_fault(request.method(), &path)
    {
        return match StatusCode::from_u16(status) {
            Ok(StatusCode::INTERNAL_SERVER_ERROR) | Err(_) => KongError::Internal.into_response(),
            Ok(other) => KongError::Status(other).into_response(),
        };
    }
    next.run(request).await
}

fn body_map(body: &Bytes) -> Result<Map<String, Value>, KongError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(KongError::BadBody),
    }
}

#[expect(
    clippy::unnecessary_wraps,
    reason = "handlers end with `ok(...)` in a Result chain"
)]
fn ok(status: StatusCode, value: Value) -> Reply {
    Ok((status, Json(value)).into_response())
}

/// Runs a list query with Kong's `size`, `offset` and `tags` parameters.
fn list(
    sim: &Sim,
    table: Table,
    path: &str,
    params: &HashMap<String, String>,
    filter: &dyn Fn(&Map<String, Value>) -> bool,
) -> Reply {
    let size = match params.get("size") {
        None => 100,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|s| (1..=1000).contains(s))
            .ok_or(KongError::InvalidSize)?,
    };
    let tags = Tags::parse(params.get("tags").map(String::as_str))?;
    let now = sim.now();
    let page = sim.db().list(
        table,
        filter,
        &tags,
        size,
        params.get("offset").map(String::as_str),
        now,
    )?;
    let mut body = json!({"data": page.data, "next": Value::Null});
    if let Some(offset) = page.offset {
        let mut next = format!("{path}?offset={offset}");
        if let Some(size) = params.get("size") {
            let _ = write!(next, "&size={size}");
        }
        if let Some(tags) = params.get("tags") {
            let _ = write!(next, "&tags={tags}");
        }
        body["next"] = Value::String(next);
        body["offset"] = Value::String(offset);
    }
    ok(StatusCode::OK, body)
}

fn parent_is(field: &'static str, id: String) -> impl Fn(&Map<String, Value>) -> bool {
    move |row| {
        row.get(field)
            .and_then(|p| p.get("id"))
            .and_then(Value::as_str)
            == Some(id.as_str())
    }
}

fn consumer_id(sim: &Sim, key: &str) -> Result<String, KongError> {
    let now = sim.now();
    sim.db()
        .resolve(Table::Consumers, key, now)
        .ok_or(KongError::NotFound)
}

fn entity(sim: &Sim, table: Table, id: &str) -> Reply {
    let now = sim.now();
    let db = sim.db();
    let row = db.get(table, id, now).ok_or(KongError::NotFound)?;
    ok(StatusCode::OK, crate::db::render(row, now))
}

async fn node_info() -> Json<Value> {
    Json(json!({
        "version": "3.9.1",
        "edition": "community",
        "hostname": "gatekey-kong-sim",
        "tagline": "Welcome to kong",
        "configuration": {"database": "postgres", "role": "traditional"},
        "plugins": {"available_on_server": {"key-auth": {"version": "3.9.1"}, "acl": {"version": "3.9.1"}, "rate-limiting": {"version": "3.9.1"}}},
    }))
}

async fn status(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(json!({
        "database": {"reachable": true},
        "server": {"connections_accepted": sim.admin_requests.load(std::sync::atomic::Ordering::Relaxed), "connections_active": 1, "connections_handled": 0, "connections_reading": 0, "connections_waiting": 0, "connections_writing": 1, "total_requests": 0},
        "memory": {"workers_lua_vms": [], "lua_shared_dicts": {}},
    }))
}

async fn list_consumers(State(sim): State<Arc<Sim>>, Query(params): Params) -> Reply {
    list(&sim, Table::Consumers, "/consumers", &params, &|_| true)
}

async fn create_consumer(State(sim): State<Arc<Sim>>, body: Bytes) -> Reply {
    let body = body_map(&body)?;
    let now = sim.now();
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| is_uuid(id))
        .map(str::to_owned);
    let created = sim.db().put_consumer(id, &body, now)?;
    ok(StatusCode::CREATED, created)
}

async fn get_consumer(State(sim): State<Arc<Sim>>, Path(key): Path<String>) -> Reply {
    let id = consumer_id(&sim, &key)?;
    entity(&sim, Table::Consumers, &id)
}

async fn put_consumer(State(sim): State<Arc<Sim>>, Path(key): Path<String>, body: Bytes) -> Reply {
    let mut body = body_map(&body)?;
    let now = sim.now();
    let mut db = sim.db();
    let id = if is_uuid(&key) {
        key
    } else {
        body.insert("username".to_owned(), Value::String(key.clone()));
        db.resolve(Table::Consumers, &key, now)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    };
    let value = db.put_consumer(Some(id), &body, now)?;
    ok(StatusCode::OK, value)
}

async fn patch_consumer(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Reply {
    let patch = body_map(&body)?;
    let now = sim.now();
    let mut db = sim.db();
    let id = db
        .resolve(Table::Consumers, &key, now)
        .ok_or(KongError::NotFound)?;
    let mut merged = db
        .get(Table::Consumers, &id, now)
        .map(|r| r.value.clone())
        .unwrap_or_default();
    merged.extend(patch);
    let value = db.put_consumer(Some(id), &merged, now)?;
    ok(StatusCode::OK, value)
}

async fn delete_consumer(State(sim): State<Arc<Sim>>, Path(key): Path<String>) -> Reply {
    let now = sim.now();
    let mut db = sim.db();
    if let Some(id) = db.resolve(Table::Consumers, &key, now) {
        db.delete_cascade(Table::Consumers, &id);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_consumer_keys(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    Query(params): Params,
) -> Reply {
    let id = consumer_id(&sim, &key)?;
    list(
        &sim,
        Table::KeyAuths,
        &format!("/consumers/{id}/key-auth"),
        &params,
        &parent_is("consumer", id.clone()),
    )
}

async fn list_all_keys(State(sim): State<Arc<Sim>>, Query(params): Params) -> Reply {
    list(&sim, Table::KeyAuths, "/key-auths", &params, &|_| true)
}

async fn create_key(State(sim): State<Arc<Sim>>, Path(key): Path<String>, body: Bytes) -> Reply {
    let body = body_map(&body)?;
    let id = consumer_id(&sim, &key)?;
    let now = sim.now();
    let created = sim.db().put_key_auth(&id, None, &body, now)?;
    ok(StatusCode::CREATED, created)
}

/// Resolves a credential of a consumer; 404 when either is missing or they do not belong together.
fn consumer_child(
    sim: &Sim,
    table: Table,
    consumer: &str,
    child: &str,
) -> Result<String, KongError> {
    let consumer = consumer_id(sim, consumer)?;
    let now = sim.now();
    let db = sim.db();
    let id = db.resolve(table, child, now).ok_or(KongError::NotFound)?;
    let owner = db.get(table, &id, now).and_then(|row| {
        row.value
            .get("consumer")
            .and_then(|c| c.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    if owner.as_deref() == Some(consumer.as_str()) {
        Ok(id)
    } else {
        Err(KongError::NotFound)
    }
}

async fn get_key(
    State(sim): State<Arc<Sim>>,
    Path((consumer, key)): Path<(String, String)>,
) -> Reply {
    let id = consumer_child(&sim, Table::KeyAuths, &consumer, &key)?;
    entity(&sim, Table::KeyAuths, &id)
}

async fn patch_key(
    State(sim): State<Arc<Sim>>,
    Path((consumer, key)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let body = body_map(&body)?;
    let id = consumer_child(&sim, Table::KeyAuths, &consumer, &key)?;
    let now = sim.now();
    let value = sim.db().patch_key_auth(&id, &body, now)?;
    ok(StatusCode::OK, value)
}

async fn put_key(
    State(sim): State<Arc<Sim>>,
    Path((consumer, key)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let mut body = body_map(&body)?;
    let consumer = consumer_id(&sim, &consumer)?;
    let now = sim.now();
    let mut db = sim.db();
    let id = if is_uuid(&key) {
        key
    } else {
        body.insert("key".to_owned(), Value::String(key.clone()));
        db.resolve(Table::KeyAuths, &key, now)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    };
    let value = db.put_key_auth(&consumer, Some(id), &body, now)?;
    ok(StatusCode::OK, value)
}

async fn delete_key(
    State(sim): State<Arc<Sim>>,
    Path((consumer, key)): Path<(String, String)>,
) -> Reply {
    let id = consumer_child(&sim, Table::KeyAuths, &consumer, &key)?;
    sim.db().delete_cascade(Table::KeyAuths, &id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_acls(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    Query(params): Params,
) -> Reply {
    let id = consumer_id(&sim, &key)?;
    list(
        &sim,
        Table::Acls,
        &format!("/consumers/{id}/acls"),
        &params,
        &parent_is("consumer", id.clone()),
    )
}

async fn create_acl(State(sim): State<Arc<Sim>>, Path(key): Path<String>, body: Bytes) -> Reply {
    let body = body_map(&body)?;
    let id = consumer_id(&sim, &key)?;
    let now = sim.now();
    let created = sim.db().insert_acl(&id, &body, now)?;
    ok(StatusCode::CREATED, created)
}

async fn get_acl(
    State(sim): State<Arc<Sim>>,
    Path((consumer, acl)): Path<(String, String)>,
) -> Reply {
    let id = consumer_child(&sim, Table::Acls, &consumer, &acl)?;
    entity(&sim, Table::Acls, &id)
}

async fn delete_acl(
    State(sim): State<Arc<Sim>>,
    Path((consumer, acl)): Path<(String, String)>,
) -> Reply {
    let id = consumer_child(&sim, Table::Acls, &consumer, &acl)?;
    sim.db().delete_cascade(Table::Acls, &id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_consumer_plugins(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    Query(params): Params,
) -> Reply {
    let id = consumer_id(&sim, &key)?;
    list(
        &sim,
        Table::Plugins,
        &format!("/consumers/{id}/plugins"),
        &params,
        &parent_is("consumer", id.clone()),
    )
}

async fn create_consumer_plugin(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Reply {
    let body = body_map(&body)?;
    let id = consumer_id(&sim, &key)?;
    let now = sim.now();
    let created = sim.db().insert_plugin(&[("consumer", &id)], &body, now)?;
    ok(StatusCode::CREATED, created)
}

fn resolve(sim: &Sim, table: Table, key: &str) -> Result<String, KongError> {
    let now = sim.now();
    sim.db().resolve(table, key, now).ok_or(KongError::NotFound)
}

async fn list_services(State(sim): State<Arc<Sim>>, Query(params): Params) -> Reply {
    list(&sim, Table::Services, "/services", &params, &|_| true)
}

async fn create_service(State(sim): State<Arc<Sim>>, body: Bytes) -> Reply {
    let body = body_map(&body)?;
    let now = sim.now();
    let created = sim.db().insert_service(&body, now)?;
    ok(StatusCode::CREATED, created)
}

async fn get_service(State(sim): State<Arc<Sim>>, Path(key): Path<String>) -> Reply {
    let id = resolve(&sim, Table::Services, &key)?;
    entity(&sim, Table::Services, &id)
}

async fn delete_service(State(sim): State<Arc<Sim>>, Path(key): Path<String>) -> Reply {
    let now = sim.now();
    let mut db = sim.db();
    if let Some(id) = db.resolve(Table::Services, &key, now) {
        db.delete_cascade(Table::Services, &id);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_service_routes(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    Query(params): Params,
) -> Reply {
    let id = resolve(&sim, Table::Services, &key)?;
    list(
        &sim,
        Table::Routes,
        &format!("/services/{id}/routes"),
        &params,
        &parent_is("service", id.clone()),
    )
}

async fn create_service_route(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Reply {
    let body = body_map(&body)?;
    let id = resolve(&sim, Table::Services, &key)?;
    let now = sim.now();
    let created = sim.db().insert_route(Some(&id), &body, now)?;
    ok(StatusCode::CREATED, created)
}

async fn list_service_plugins(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    Query(params): Params,
) -> Reply {
    let id = resolve(&sim, Table::Services, &key)?;
    list(
        &sim,
        Table::Plugins,
        &format!("/services/{id}/plugins"),
        &params,
        &parent_is("service", id.clone()),
    )
}

async fn create_service_plugin(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Reply {
    let body = body_map(&body)?;
    let id = resolve(&sim, Table::Services, &key)?;
    let now = sim.now();
    let created = sim.db().insert_plugin(&[("service", &id)], &body, now)?;
    ok(StatusCode::CREATED, created)
}

async fn list_routes(State(sim): State<Arc<Sim>>, Query(params): Params) -> Reply {
    list(&sim, Table::Routes, "/routes", &params, &|_| true)
}

async fn create_route(State(sim): State<Arc<Sim>>, body: Bytes) -> Reply {
    let body = body_map(&body)?;
    let now = sim.now();
    let service = match body
        .get("service")
        .and_then(|s| s.get("id"))
        .and_then(Value::as_str)
    {
        Some(service) => {
            let found = sim.db().resolve(Table::Services, service, now);
            Some(found.ok_or_else(|| KongError::ForeignKey {
                field: "service".to_owned(),
                key: json!({"id": service}),
            })?)
        }
        None => None,
    };
    let created = sim.db().insert_route(service.as_deref(), &body, now)?;
    ok(StatusCode::CREATED, created)
}

async fn list_route_plugins(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    Query(params): Params,
) -> Reply {
    let id = resolve(&sim, Table::Routes, &key)?;
    list(
        &sim,
        Table::Plugins,
        &format!("/routes/{id}/plugins"),
        &params,
        &parent_is("route", id.clone()),
    )
}

async fn create_route_plugin(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Reply {
    let body = body_map(&body)?;
    let id = resolve(&sim, Table::Routes, &key)?;
    let now = sim.now();
    let created = sim.db().insert_plugin(&[("route", &id)], &body, now)?;
    ok(StatusCode::CREATED, created)
}

async fn list_plugins(State(sim): State<Arc<Sim>>, Query(params): Params) -> Reply {
    list(&sim, Table::Plugins, "/plugins", &params, &|_| true)
}

async fn create_global_plugin(State(sim): State<Arc<Sim>>, body: Bytes) -> Reply {
    let body = body_map(&body)?;
    let now = sim.now();
    let created = sim.db().insert_plugin(&[], &body, now)?;
    ok(StatusCode::CREATED, created)
}

async fn add_fault(State(sim): State<Arc<Sim>>, body: Bytes) -> Reply {
    let fault: crate::Fault = serde_json::from_slice(&body).map_err(|_| KongError::BadBody)?;
    sim.add_fault(fault);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn advance_clock(State(sim): State<Arc<Sim>>, body: Bytes) -> Reply {
    let body = body_map(&body)?;
    let seconds = body
        .get("seconds")
        .and_then(Value::as_u64)
        .ok_or_else(|| KongError::schema("seconds", "expected a non-negative integer"))?;
    sim.advance(Duration::from_secs(seconds));
    Ok(StatusCode::NO_CONTENT.into_response())
}
