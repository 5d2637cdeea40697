//! Kong entities as the Admin API returns them, the bodies Gatekey sends to create them, and list
//! queries. Reads are lenient where Kong versions differ (`tags: null`, missing `updated_at`,
//! timestamps as floats) and normalised (`tags` is always a list, timestamps whole seconds);
//! writes send only what the caller set. Credential keys are [`SecretString`]s, so `Debug`
//! output of any entity never shows one.

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::KongError;

/// A reference to a parent entity, `{"id": "<uuid>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRef {
    pub id: String,
}

/// One page of a list: `{"data": [...], "offset": "...", "next": "..."}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Opaque token for the next page ([`ListQuery::offset`]); `None` on the last page.
    #[serde(default)]
    pub offset: Option<String>,
}

/// A tag filter. Kong allows at most 5 tags, each without `,` or `/` (they are the operators);
/// the client refuses other filters rather than send one Kong would read differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    /// Entities carrying every tag (`tags=a,b`).
    All(Vec<String>),
    /// Entities carrying at least one of the tags (`tags=a/b`).
    Any(Vec<String>),
}

impl TagFilter {
    fn to_query(&self) -> Result<String, KongError> {
        let (tags, separator) = match self {
            Self::All(tags) => (tags, ","),
            Self::Any(tags) => (tags, "/"),
        };
        if tags.is_empty() || tags.len() > 5 {
            return Err(KongError::InvalidArgument(format!(
                "a tag filter needs 1 to 5 tags, not {}",
                tags.len()
            )));
        }
        if let Some(bad) = tags.iter().find(|t| t.is_empty() || t.contains([',', '/'])) {
            return Err(KongError::InvalidArgument(format!(
                "tag {bad:?} cannot be used in a filter (empty, or holds ',' or '/')"
            )));
        }
        Ok(tags.join(separator))
    }
}

/// Paging and filtering of a top-level list. Kong ignores `tags` on nested lists
/// (`/services/{s}/routes`) with a database; it orders every list by id.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub tags: Option<TagFilter>,
    /// Page size, 1 to 1000; Kong's default is 100.
    pub size: Option<u32>,
    /// The [`Page::offset`] of the previous page.
    pub offset: Option<String>,
}

impl ListQuery {
    /// Entities carrying every one of `tags`, first page.
    pub fn tagged_all(tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            tags: Some(TagFilter::All(tags.into_iter().map(Into::into).collect())),
            ..Self::default()
        }
    }

    pub(crate) fn pairs(&self) -> Result<Vec<(&'static str, String)>, KongError> {
        let mut pairs = Vec::new();
        if let Some(tags) = &self.tags {
            pairs.push(("tags", tags.to_query()?));
        }
        if let Some(size) = self.size {
            pairs.push(("size", size.to_string()));
        }
        if let Some(offset) = &self.offset {
            pairs.push(("offset", offset.clone()));
        }
        Ok(pairs)
    }
}

/// `GET /`: what the node is.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeInfo {
    /// e.g. `3.9.1`.
    pub version: String,
    /// `community` or `enterprise` (Kong 3.6+).
    #[serde(default)]
    pub edition: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub node_id: Option<String>,
    #[serde(default)]
    pub configuration: NodeConfiguration,
}

impl NodeInfo {
    /// Whether the node takes Admin API writes: a DB-mode node or a hybrid control plane, not a
    /// DB-less node or data plane (they answer every write with 405).
    pub fn accepts_writes(&self) -> bool {
        self.configuration.database.as_deref() != Some("off")
            && self.configuration.role.as_deref() != Some("data_plane")
    }
}

/// The parts of the node's (sanitised) `kong.conf` Gatekey checks.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeConfiguration {
    /// `postgres`, or `off` for DB-less.
    #[serde(default)]
    pub database: Option<String>,
    /// `traditional`, `control_plane` or `data_plane`.
    #[serde(default)]
    pub role: Option<String>,
}

/// `GET /status`. Kong answers 200 even when its database is down: read
/// [`DatabaseStatus::reachable`].
#[derive(Debug, Clone, Deserialize)]
pub struct NodeStatus {
    /// Absent on DB-less nodes and data planes, which decode as unreachable: Gatekey cannot
    /// write through them.
    #[serde(default)]
    pub database: DatabaseStatus,
    /// Present on DB-less nodes and data planes.
    #[serde(default)]
    pub configuration_hash: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DatabaseStatus {
    pub reachable: bool,
}

/// A consumer. At least one of `username` and `custom_id` is set.
#[derive(Debug, Clone, Deserialize)]
pub struct Consumer {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub custom_id: Option<String>,
    #[serde(default, deserialize_with = "tags")]
    pub tags: Vec<String>,
    /// Epoch seconds.
    #[serde(deserialize_with = "epoch_seconds")]
    pub created_at: i64,
    /// Epoch seconds (Kong 3.3+).
    #[serde(default, deserialize_with = "optional_epoch_seconds")]
    pub updated_at: Option<i64>,
}

/// A consumer to create (POST) or the full replacement sent by an upsert (PUT): with PUT, fields
/// left `None` become null.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewConsumer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// An ACL group membership of a consumer.
#[derive(Debug, Clone, Deserialize)]
pub struct Acl {
    pub id: String,
    pub group: String,
    pub consumer: EntityRef,
    #[serde(default, deserialize_with = "tags")]
    pub tags: Vec<String>,
    #[serde(deserialize_with = "epoch_seconds")]
    pub created_at: i64,
}

/// An ACL group to add to a consumer. A group the consumer already has is a
/// [`KongError::UniqueViolation`].
#[derive(Debug, Clone, Serialize)]
pub struct NewAcl {
    pub group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// A key-auth credential.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyAuth {
    pub id: String,
    /// The API key; `Debug` shows it redacted.
    pub key: SecretString,
    pub consumer: EntityRef,
    /// Whole seconds until Kong stops accepting the key (as Kong reports it, so usually one
    /// less than the `ttl` sent right after creation); `None` when it never expires. Once it
    /// runs out, the credential is gone from every read.
    #[serde(default, deserialize_with = "optional_seconds")]
    pub ttl: Option<u64>,
    #[serde(default, deserialize_with = "tags")]
    pub tags: Vec<String>,
    #[serde(deserialize_with = "epoch_seconds")]
    pub created_at: i64,
}

/// A key-auth credential to create.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewKeyAuth {
    /// The key; Kong generates a random 32-character one when `None`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_optional"
    )]
    pub key: Option<SecretString>,
    /// Seconds until Kong stops accepting the key, at most 100000000; `0` or `None` = never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// A plugin instance: global, or scoped to a service, route and/or consumer.
#[derive(Debug, Clone, Deserialize)]
pub struct Plugin {
    pub id: String,
    pub name: String,
    /// The plugin's configuration with Kong's defaults filled in.
    pub config: Value,
    #[serde(default)]
    pub consumer: Option<EntityRef>,
    #[serde(default)]
    pub service: Option<EntityRef>,
    #[serde(default)]
    pub route: Option<EntityRef>,
    pub enabled: bool,
    #[serde(default, deserialize_with = "tags")]
    pub tags: Vec<String>,
}

/// A plugin to add, e.g. `rate-limiting` with `{"minute": 60, "policy": "local"}`. Kong answers
/// [`KongError::SchemaViolation`] for a bad config or a plugin that is not enabled, and
/// [`KongError::UniqueViolation`] when the same plugin already exists for that scope.
///
/// A configuration can hold secrets (`rate-limiting`'s `redis.password`): `Debug` shows every
/// `password` value as `[redacted]`.
#[derive(Clone, Serialize)]
pub struct NewPlugin {
    pub name: String,
    pub config: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

impl fmt::Debug for NewPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewPlugin")
            .field("name", &self.name)
            .field("config", &redact_passwords(&self.config))
            .field("tags", &self.tags)
            .finish()
    }
}

/// `value` with every `password` member, at any depth, replaced by `[redacted]`.
fn redact_passwords(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(name, member)| {
                    let member = if name == "password" && !member.is_null() {
                        Value::String("[redacted]".to_owned())
                    } else {
                        redact_passwords(member)
                    };
                    (name.clone(), member)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_passwords).collect()),
        other => other.clone(),
    }
}

/// An upstream service (read-only for Gatekey).
#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub protocol: String,
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub path: Option<String>,
    /// Kong 3.0+; `None` from older nodes.
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "tags")]
    pub tags: Vec<String>,
}

/// A route (read-only for Gatekey).
#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    #[serde(default)]
    pub service: Option<EntityRef>,
    #[serde(default, deserialize_with = "tags")]
    pub tags: Vec<String>,
}

#[expect(
    clippy::ref_option,
    reason = "serde's serialize_with hands over a reference to the field"
)]
fn expose_optional<S: Serializer>(key: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match key {
        Some(key) => s.serialize_str(key.expose_secret()),
        None => s.serialize_none(),
    }
}

/// `tags: null` (never set) reads as no tags.
fn tags<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// A JSON number of seconds, integer or float (some strategies return fractions), as whole
/// seconds rounded down.
#[derive(Deserialize)]
#[serde(untagged)]
enum Seconds {
    Int(i64),
    Float(f64),
}

impl Seconds {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "epoch seconds and ttls are far below i64::MAX; `as` saturates otherwise"
    )]
    fn whole(self) -> i64 {
        match self {
            Self::Int(i) => i,
            Self::Float(f) => f.floor() as i64,
        }
    }
}

fn epoch_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Seconds::deserialize(d).map(Seconds::whole)
}

fn optional_epoch_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Seconds>::deserialize(d)?.map(Seconds::whole))
}

/// A remaining duration; a negative value (a row read as it expires) counts as 0.
fn optional_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<Seconds>::deserialize(d)?.map(|s| u64::try_from(s.whole()).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;
    use serde_json::json;

    use super::*;

    #[test]
    fn null_tags_and_float_timestamps_are_normalised() {
        let consumer: Consumer = serde_json::from_value(json!({
            "id": "c1", "username": "alice", "custom_id": null, "tags": null,
            "created_at": 1_700_000_000.75,
        }))
        .expect("consumer");
        assert!(consumer.tags.is_empty());
        assert_eq!(consumer.created_at, 1_700_000_000);
        assert_eq!(consumer.updated_at, None);
    }

    #[test]
    fn key_auth_key_is_redacted_in_debug_and_ttl_is_whole_seconds() {
        let key: KeyAuth = serde_json::from_value(json!({
            "id": "k1", "key": "very-secret", "consumer": {"id": "c1"}, "ttl": 9,
            "tags": ["t"], "created_at": 1_700_000_000,
        }))
        .expect("key-auth");
        assert_eq!(key.key.expose_secret(), "very-secret");
        assert_eq!(key.ttl, Some(9));
        assert!(!format!("{key:?}").contains("very-secret"));
        let new = NewKeyAuth {
            key: Some(SecretString::from("very-secret")),
            ttl: Some(60),
            tags: None,
        };
        assert!(!format!("{new:?}").contains("very-secret"));
        assert_eq!(
            serde_json::to_value(&new).expect("serialise"),
            json!({"key": "very-secret", "ttl": 60})
        );
    }

    #[test]
    fn tag_filters_render_kongs_operators() {
        let all = ListQuery::tagged_all(["a", "b"]);
        assert_eq!(
            all.pairs().expect("valid"),
            vec![("tags", "a,b".to_owned())]
        );
        let any = ListQuery {
            tags: Some(TagFilter::Any(vec!["a".into(), "b".into()])),
            size: Some(2),
            offset: Some("xyz".into()),
        };
        assert_eq!(
            any.pairs().expect("valid"),
            vec![
                ("tags", "a/b".to_owned()),
                ("size", "2".to_owned()),
                ("offset", "xyz".to_owned())
            ]
        );
    }

    #[test]
    fn tag_filters_kong_would_misread_are_refused() {
        for tags in [
            TagFilter::All(vec!["a/b".into()]),
            TagFilter::Any(vec!["a,b".into()]),
            TagFilter::All(vec![]),
            TagFilter::All(vec![String::new()]),
            TagFilter::Any((0..6).map(|i| i.to_string()).collect()),
        ] {
            let query = ListQuery {
                tags: Some(tags),
                ..ListQuery::default()
            };
            assert!(matches!(query.pairs(), Err(KongError::InvalidArgument(_))));
        }
    }

    #[test]
    fn db_less_nodes_do_not_accept_writes() {
        let node: NodeInfo = serde_json::from_value(json!({
            "version": "3.9.1", "configuration": {"database": "off", "role": "traditional"},
        }))
        .expect("node");
        assert!(!node.accepts_writes());
        let status: NodeStatus =
            serde_json::from_value(json!({"configuration_hash": "abc"})).expect("status");
        assert!(!status.database.reachable);
    }
}
