//! Kong entities as the Admin API sends them, and the bodies Gatekey sends to create them.

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// A reference to a parent entity: `{"id": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRef {
    pub id: String,
}

/// One page of a list: `{"data": [...], "next": ..., "offset": ...}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Opaque token for the next page; absent on the last.
    #[serde(default)]
    pub offset: Option<String>,
}

/// `tags=a,b` (all of) or `tags=a/b` (any of).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TagFilter {
    #[default]
    None,
    All(Vec<String>),
    Any(Vec<String>),
}

/// Paging and filtering of a list call.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub tags: TagFilter,
    /// Page size, 1 to 1000 (Kong's default is 100).
    pub size: Option<u32>,
    pub offset: Option<String>,
}

impl ListQuery {
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        match &self.tags {
            TagFilter::None => {}
            TagFilter::All(tags) => pairs.push(("tags", tags.join(","))),
            TagFilter::Any(tags) => pairs.push(("tags", tags.join("/"))),
        }
        if let Some(size) = self.size {
            pairs.push(("size", size.to_string()));
        }
        if let Some(offset) = &self.offset {
            pairs.push(("offset", offset.clone()));
        }
        pairs
    }
}

/// `GET /`.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeInfo {
    pub version: String,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub configuration: Value,
}

/// `GET /status`.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeStatus {
    pub database: DatabaseStatus,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseStatus {
    pub reachable: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Consumer {
    pub id: String,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    pub tags: Option<Vec<String>>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NewConsumer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Acl {
    pub id: String,
    pub group: String,
    pub consumer: EntityRef,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewAcl {
    pub group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// A key-auth credential. `ttl` is the remaining lifetime in whole seconds, as Kong reports it.
#[derive(Clone, Deserialize)]
pub struct KeyAuth {
    pub id: String,
    pub key: SecretString,
    pub consumer: EntityRef,
    pub ttl: Option<u64>,
    pub tags: Option<Vec<String>>,
    pub created_at: i64,
}

impl fmt::Debug for KeyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyAuth")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .field("consumer", &self.consumer)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A key-auth credential to create. Without `key`, Kong generates one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewKeyAuth {
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_optional"
    )]
    pub key: Option<SecretString>,
    /// Seconds until Kong stops accepting the key (0 = never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

#[expect(clippy::ref_option, reason = "serde serialize_with signature")]
fn expose_optional<S: Serializer>(key: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match key {
        Some(key) => s.serialize_str(key.expose_secret()),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Plugin {
    pub id: String,
    pub name: String,
    pub config: Value,
    pub consumer: Option<EntityRef>,
    pub service: Option<EntityRef>,
    pub route: Option<EntityRef>,
    pub enabled: bool,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewPlugin {
    pub name: String,
    pub config: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    pub id: String,
    pub name: Option<String>,
    pub protocol: String,
    pub host: String,
    pub port: u16,
    pub path: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    pub id: String,
    pub name: Option<String>,
    pub paths: Option<Vec<String>>,
    pub methods: Option<Vec<String>>,
    pub service: Option<EntityRef>,
}
