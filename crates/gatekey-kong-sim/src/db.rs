//! The simulator's database: Kong's entities as JSON rows ordered by id, with Kong's constraints
//! (unique keys, required fields, foreign keys, cascade deletes) and `ttl` rows that vanish from
//! every read once expired and are purged later.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use serde_json::{Map, Value, json};

use crate::errors::KongError;

/// Kong's `ttl` upper bound.
pub const MAX_TTL: i64 = 100_000_000;

/// Entity kinds the simulator stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    Consumers,
    KeyAuths,
    Acls,
    Plugins,
    Services,
    Routes,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub value: Map<String, Value>,
    /// Epoch seconds after which the row is invisible (key-auth `ttl`).
    pub expires_at: Option<f64>,
}

impl Row {
    fn live(&self, now: f64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// Tag filter of a list query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tags {
    Any,
    All(Vec<String>),
    OneOf(Vec<String>),
}

impl Tags {
    /// Parses `tags=a,b` (AND) or `tags=a/b` (OR); mixing both is refused, as is more than 5.
    pub fn parse(raw: Option<&str>) -> Result<Self, KongError> {
        let Some(raw) = raw else { return Ok(Self::Any) };
        if raw.contains(',') && raw.contains('/') {
            return Err(KongError::InvalidOptions(
                "invalid option (tags: invalid filter syntax)".to_owned(),
            ));
        }
        let (items, all): (Vec<String>, bool) = if raw.contains('/') {
            (raw.split('/').map(str::to_owned).collect(), false)
        } else {
            (raw.split(',').map(str::to_owned).collect(), true)
        };
        if items.len() > 5 {
            return Err(KongError::InvalidOptions(
                "invalid option (tags: cannot query more than 5 tags)".to_owned(),
            ));
        }
        if items.iter().any(String::is_empty) {
            return Err(KongError::InvalidOptions(
                "invalid option (tags: invalid filter syntax)".to_owned(),
            ));
        }
        Ok(if all {
            Self::All(items)
        } else {
            Self::OneOf(items)
        })
    }

    fn matches(&self, value: &Map<String, Value>) -> bool {
        let tags: Vec<&str> = value
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match self {
            Self::Any => true,
            Self::All(wanted) => wanted.iter().all(|t| tags.contains(&t.as_str())),
            Self::OneOf(wanted) => wanted.iter().any(|t| tags.contains(&t.as_str())),
        }
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct ListPage {
    pub data: Vec<Value>,
    pub offset: Option<String>,
}

/// All tables.
#[derive(Debug, Default)]
pub struct Db {
    tables: BTreeMap<Table, BTreeMap<String, Row>>,
}

pub fn is_uuid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok() && text.len() == 36
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[expect(clippy::cast_possible_truncation, reason = "epoch seconds fit in i64")]
fn epoch(now: f64) -> Value {
    json!(now.floor() as i64)
}

/// A 32-character key like the ones Kong generates.
fn generate_key() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    URL_SAFE_NO_PAD.encode(bytes)
}

fn tags_of(body: &Map<String, Value>) -> Result<Value, KongError> {
    match body.get("tags") {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(Value::Array(items)) => {
            for item in items {
                let Some(tag) = item.as_str() else {
                    return Err(KongError::schema("tags", "expected a string"));
                };
                if tag.is_empty() || tag.contains(',') || tag.contains('/') {
                    return Err(KongError::schema(
                        "tags",
                        "invalid tag: expected printable ascii (except `,` and `/`) or valid utf-8 sequences",
                    ));
                }
            }
            Ok(Value::Array(items.clone()))
        }
        Some(_) => Err(KongError::schema("tags", "expected a set")),
    }
}

fn optional_string(body: &Map<String, Value>, field: &str) -> Result<Value, KongError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(Value::String(s)) if !s.is_empty() => Ok(Value::String(s.clone())),
        Some(Value::String(_)) => Err(KongError::schema(field, "length must be at least 1")),
        Some(_) => Err(KongError::schema(field, "expected a string")),
    }
}

impl Db {
    fn table(&self, table: Table) -> Option<&BTreeMap<String, Row>> {
        self.tables.get(&table)
    }

    fn table_mut(&mut self, table: Table) -> &mut BTreeMap<String, Row> {
        self.tables.entry(table).or_default()
    }

    /// A live row by id.
    pub fn get(&self, table: Table, id: &str, now: f64) -> Option<&Row> {
        self.table(table)?.get(id).filter(|row| row.live(now))
    }

    fn find_by(&self, table: Table, field: &str, value: &str, now: f64) -> Option<String> {
        self.table(table)?
            .iter()
            .find(|(_, row)| {
                row.live(now) && row.value.get(field).and_then(Value::as_str) == Some(value)
            })
            .map(|(id, _)| id.clone())
    }

    /// Resolves an id or endpoint key (`username`, `name`, `key`) to an id.
    pub fn resolve(&self, table: Table, key: &str, now: f64) -> Option<String> {
        if is_uuid(key) {
            return self.get(table, key, now).map(|_| key.to_owned());
        }
        let field = match table {
            Table::Consumers => "username",
            Table::KeyAuths => "key",
            Table::Acls => "group",
            Table::Services | Table::Routes | Table::Plugins => "name",
        };
        self.find_by(table, field, key, now)
    }

    /// Lists live rows matching `parent` and `tags`, paginated by id.
    pub fn list(
        &self,
        table: Table,
        filter: &dyn Fn(&Map<String, Value>) -> bool,
        tags: &Tags,
        size: usize,
        offset: Option<&str>,
        now: f64,
    ) -> Result<ListPage, KongError> {
        let after = match offset {
            None => None,
            Some(raw) => {
                let decoded = URL_SAFE_NO_PAD
                    .decode(raw)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|id| is_uuid(id))
                    .ok_or_else(|| KongError::InvalidOffset(raw.to_owned()))?;
                Some(decoded)
            }
        };
        let mut rows = self
            .table(table)
            .into_iter()
            .flatten()
            .filter(|(id, _)| after.as_ref().is_none_or(|a| id.as_str() > a.as_str()))
            .filter(|(_, row)| row.live(now) && filter(&row.value) && tags.matches(&row.value));
        let mut data = Vec::new();
        let mut last = None;
        for (id, row) in rows.by_ref().take(size) {
            data.push(render(row, now));
            last = Some(id.clone());
        }
        let offset = if rows.next().is_some() {
            last.map(|id| URL_SAFE_NO_PAD.encode(id))
        } else {
            None
        };
        Ok(ListPage { data, offset })
    }

    fn unique_violation(
        &self,
        table: Table,
        field: &str,
        value: &Value,
        except: Option<&str>,
        scope: Option<(&str, &str)>,
        now: f64,
    ) -> Option<KongError> {
        if value.is_null() {
            return None;
        }
        let clash = self.table(table)?.iter().any(|(id, row)| {
            Some(id.as_str()) != except
                && row.live(now)
                && row.value.get(field) == Some(value)
                && scope.is_none_or(|(parent, parent_id)| {
                    row.value
                        .get(parent)
                        .and_then(|p| p.get("id"))
                        .and_then(Value::as_str)
                        == Some(parent_id)
                })
        });
        clash.then(|| {
            let mut fields = Map::new();
            if let Some((parent, parent_id)) = scope {
                fields.insert(parent.to_owned(), json!({"id": parent_id}));
            }
            fields.insert(field.to_owned(), value.clone());
            KongError::Unique(fields)
        })
    }

    /// Creates or replaces (PUT) a consumer.
    pub fn put_consumer(
        &mut self,
        id: Option<String>,
        body: &Map<String, Value>,
        now: f64,
    ) -> Result<Value, KongError> {
        let username = optional_string(body, "username")?;
        let custom_id = optional_string(body, "custom_id")?;
        let tags = tags_of(body)?;
        if username.is_null() && custom_id.is_null() {
            return Err(KongError::Schema(vec![(
                "@entity".to_owned(),
                "at least one of these fields must be non-empty: 'custom_id', 'username'"
                    .to_owned(),
            )]));
        }
        let existing = id
            .as_deref()
            .and_then(|id| self.get(Table::Consumers, id, now))
            .cloned();
        let id = id.unwrap_or_else(new_id);
        for (field, value) in [("username", &username), ("custom_id", &custom_id)] {
            if let Some(err) =
                self.unique_violation(Table::Consumers, field, value, Some(&id), None, now)
            {
                return Err(err);
            }
        }
        let created_at = existing
            .as_ref()
            .and_then(|row| row.value.get("created_at").cloned())
            .unwrap_or_else(|| epoch(now));
        let value = json!({
            "id": id, "username": username, "custom_id": custom_id, "tags": tags,
            "created_at": created_at, "updated_at": epoch(now),
        });
        self.insert(Table::Consumers, &id, value, None)
    }

    fn insert(
        &mut self,
        table: Table,
        id: &str,
        value: Value,
        expires_at: Option<f64>,
    ) -> Result<Value, KongError> {
        let Value::Object(map) = value else {
            return Err(KongError::Internal);
        };
        let row = Row {
            value: map,
            expires_at,
        };
        let rendered = Value::Object(row.value.clone());
        self.table_mut(table).insert(id.to_owned(), row);
        Ok(rendered)
    }

    /// Deletes a row and everything that references it.
    pub fn delete_cascade(&mut self, table: Table, id: &str) {
        self.table_mut(table).remove(id);
        let parent_field = match table {
            Table::Consumers => "consumer",
            Table::Services => "service",
            Table::Routes => "route",
            Table::KeyAuths | Table::Acls | Table::Plugins => return,
        };
        let children = [Table::KeyAuths, Table::Acls, Table::Plugins, Table::Routes];
        for child in children {
            let doomed: Vec<String> = self
                .table(child)
                .into_iter()
                .flatten()
                .filter(|(_, row)| {
                    row.value
                        .get(parent_field)
                        .and_then(|p| p.get("id"))
                        .and_then(Value::as_str)
                        == Some(id)
                })
                .map(|(child_id, _)| child_id.clone())
                .collect();
            for child_id in doomed {
                self.delete_cascade(child, &child_id);
            }
        }
    }

    /// Creates or replaces a key-auth credential of `consumer_id`.
    pub fn put_key_auth(
        &mut self,
        consumer_id: &str,
        id: Option<String>,
        body: &Map<String, Value>,
        now: f64,
    ) -> Result<Value, KongError> {
        let key = match body.get("key") {
            None | Some(Value::Null) => Value::String(generate_key()),
            Some(Value::String(k)) if !k.is_empty() => Value::String(k.clone()),
            Some(_) => return Err(KongError::schema("key", "expected a string")),
        };
        let tags = tags_of(body)?;
        let expires_at = ttl_expiry(body, now)?;
        let existing = id
            .as_deref()
            .and_then(|id| self.get(Table::KeyAuths, id, now))
            .cloned();
        let id = id.unwrap_or_else(new_id);
        if let Some(err) = self.unique_violation(Table::KeyAuths, "key", &key, Some(&id), None, now)
        {
            return Err(err);
        }
        let created_at = existing
            .as_ref()
            .and_then(|row| row.value.get("created_at").cloned())
            .unwrap_or_else(|| epoch(now));
        let value = json!({
            "id": id, "key": key, "tags": tags, "consumer": {"id": consumer_id},
            "created_at": created_at, "ttl": Value::Null,
        });
        self.insert(Table::KeyAuths, &id, value, expires_at)?;
        Ok(self
            .get(Table::KeyAuths, &id, now)
            .map_or(Value::Null, |row| render(row, now)))
    }

    /// PATCH of a key-auth credential: `key`, `tags`, and `ttl` (which restarts the expiry).
    pub fn patch_key_auth(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
        now: f64,
    ) -> Result<Value, KongError> {
        let Some(row) = self.get(Table::KeyAuths, id, now).cloned() else {
            return Err(KongError::NotFound);
        };
        let mut merged = row.value.clone();
        for (field, value) in body {
            merged.insert(field.clone(), value.clone());
        }
        let expires_at = if body.contains_key("ttl") {
            ttl_expiry(body, now)?
        } else {
            row.expires_at
        };
        if let Some(key) = merged.get("key").cloned()
            && let Some(err) =
                self.unique_violation(Table::KeyAuths, "key", &key, Some(id), None, now)
        {
            return Err(err);
        }
        merged.insert("tags".to_owned(), tags_of(&merged)?);
        merged.insert("ttl".to_owned(), Value::Null);
        self.insert(Table::KeyAuths, id, Value::Object(merged), expires_at)?;
        Ok(self
            .get(Table::KeyAuths, id, now)
            .map_or(Value::Null, |row| render(row, now)))
    }

    /// Adds an ACL group to `consumer_id`.
    pub fn insert_acl(
        &mut self,
        consumer_id: &str,
        body: &Map<String, Value>,
        now: f64,
    ) -> Result<Value, KongError> {
        let group = match body.get("group") {
            Some(Value::String(g)) if !g.is_empty() => Value::String(g.clone()),
            None | Some(Value::Null) => {
                return Err(KongError::schema("group", "required field missing"));
            }
            Some(_) => return Err(KongError::schema("group", "expected a string")),
        };
        let tags = tags_of(body)?;
        if let Some(err) = self.unique_violation(
            Table::Acls,
            "group",
            &group,
            None,
            Some(("consumer", consumer_id)),
            now,
        ) {
            return Err(err);
        }
        let id = new_id();
        let value = json!({
            "id": id, "group": group, "tags": tags, "consumer": {"id": consumer_id},
            "created_at": epoch(now),
        });
        self.insert(Table::Acls, &id, value, None)
    }

    /// Adds a plugin scoped to any of consumer, service, route (or global).
    pub fn insert_plugin(
        &mut self,
        scope: &[(&str, &str)],
        body: &Map<String, Value>,
        now: f64,
    ) -> Result<Value, KongError> {
        let name = match body.get("name") {
            Some(Value::String(n)) => n.clone(),
            _ => return Err(KongError::schema("name", "required field missing")),
        };
        let config = crate::proxy::plugin_config(&name, body.get("config"))?;
        let tags = tags_of(body)?;
        let id = new_id();
        let mut value = json!({
            "id": id, "name": name, "config": config, "enabled": true, "tags": tags,
            "protocols": ["grpc", "grpcs", "http", "https"],
            "consumer": Value::Null, "service": Value::Null, "route": Value::Null,
            "created_at": epoch(now), "updated_at": epoch(now),
        });
        for (field, parent_id) in scope {
            value[*field] = json!({"id": parent_id});
        }
        let duplicate = self
            .table(Table::Plugins)
            .into_iter()
            .flatten()
            .any(|(_, row)| {
                row.value.get("name") == value.get("name")
                    && ["consumer", "service", "route"]
                        .iter()
                        .all(|f| row.value.get(*f) == value.get(*f))
            });
        if duplicate {
            let mut fields = Map::new();
            for f in ["consumer", "service", "route"] {
                fields.insert(f.to_owned(), value[f].clone());
            }
            fields.insert("name".to_owned(), value["name"].clone());
            return Err(KongError::Unique(fields));
        }
        self.insert(Table::Plugins, &id, value, None)
    }

    /// Creates a service from `url` or protocol/host/port/path.
    pub fn insert_service(
        &mut self,
        body: &Map<String, Value>,
        now: f64,
    ) -> Result<Value, KongError> {
        let name = optional_string(body, "name")?;
        let (protocol, host, port, path) =
            if let Some(url) = body.get("url").and_then(Value::as_str) {
                {
                    let parsed = reqwest::Url::parse(url)
                        .map_err(|_| KongError::schema("url", "missing host in url"))?;
                    let host = parsed
                        .host_str()
                        .ok_or_else(|| KongError::schema("url", "missing host in url"))?
                        .to_owned();
                    let port = parsed.port_or_known_default().unwrap_or(80);
                    let path = match parsed.path() {
                        "/" | "" => Value::Null,
                        p => Value::String(p.to_owned()),
                    };
                    (parsed.scheme().to_owned(), host, port, path)
                }
            } else {
                {
                    let host = body
                        .get("host")
                        .and_then(Value::as_str)
                        .ok_or_else(|| KongError::schema("host", "required field missing"))?
                        .to_owned();
                    let protocol = body
                        .get("protocol")
                        .and_then(Value::as_str)
                        .unwrap_or("http")
                        .to_owned();
                    let port = body
                        .get("port")
                        .and_then(Value::as_u64)
                        .and_then(|p| u16::try_from(p).ok())
                        .unwrap_or(80);
                    (
                        protocol,
                        host,
                        port,
                        body.get("path").cloned().unwrap_or(Value::Null),
                    )
                }
            };
        if let Some(err) = self.unique_violation(Table::Services, "name", &name, None, None, now) {
            return Err(err);
        }
        let id = new_id();
        let value = json!({
            "id": id, "name": name, "protocol": protocol, "host": host, "port": port, "path": path,
            "retries": 5, "connect_timeout": 60000, "write_timeout": 60000, "read_timeout": 60000,
            "enabled": true, "tags": tags_of(body)?, "created_at": epoch(now), "updated_at": epoch(now),
        });
        self.insert(Table::Services, &id, value, None)
    }

    /// Creates a route, optionally attached to a service.
    pub fn insert_route(
        &mut self,
        service_id: Option<&str>,
        body: &Map<String, Value>,
        now: f64,
    ) -> Result<Value, KongError> {
        let name = optional_string(body, "name")?;
        let paths = body.get("paths").cloned().unwrap_or(Value::Null);
        let methods = body.get("methods").cloned().unwrap_or(Value::Null);
        if paths.is_null() && methods.is_null() && body.get("hosts").is_none() {
            return Err(KongError::Schema(vec![(
                "@entity".to_owned(),
                "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'".to_owned(),
            )]));
        }
        if let Some(err) = self.unique_violation(Table::Routes, "name", &name, None, None, now) {
            return Err(err);
        }
        let id = new_id();
        let value = json!({
            "id": id, "name": name, "paths": paths, "methods": methods,
            "strip_path": body.get("strip_path").and_then(Value::as_bool).unwrap_or(true),
            "preserve_host": false, "protocols": ["http", "https"],
            "service": service_id.map(|s| json!({"id": s})),
            "tags": tags_of(body)?, "created_at": epoch(now), "updated_at": epoch(now),
        });
        self.insert(Table::Routes, &id, value, None)
    }

    /// Live rows of a table, for the proxy.
    pub fn rows(&self, table: Table, now: f64) -> impl Iterator<Item = &Row> {
        self.table(table)
            .into_iter()
            .flat_map(|t| t.values())
            .filter(move |row| row.live(now))
    }

    /// Removes expired `ttl` rows, as Kong's cleanup timer does.
    pub fn purge_expired(&mut self, now: f64) {
        for table in self.tables.values_mut() {
            table.retain(|_, row| row.live(now));
        }
    }
}

fn ttl_expiry(body: &Map<String, Value>, now: f64) -> Result<Option<f64>, KongError> {
    match body.get("ttl") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => {
            let ttl = value
                .as_i64()
                .ok_or_else(|| KongError::schema("ttl", "expected an integer"))?;
            if !(0..=MAX_TTL).contains(&ttl) {
                return Err(KongError::schema(
                    "ttl",
                    format!("value should be between 0 and {MAX_TTL}"),
                ));
            }
            #[expect(clippy::cast_precision_loss, reason = "ttl is at most 1e8")]
            Ok((ttl > 0).then_some(now + ttl as f64))
        }
    }
}

/// The row as the Admin API shows it: `ttl` is the remaining whole seconds.
pub fn render(row: &Row, now: f64) -> Value {
    let mut value = row.value.clone();
    if let Some(at) = row.expires_at {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "remaining ttl is at most 1e8"
        )]
        let remaining = (at - now).floor().max(0.0) as i64;
        value.insert("ttl".to_owned(), json!(remaining));
    }
    Value::Object(value)
}
