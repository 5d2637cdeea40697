//! The part of a Backstage catalog entity Gatekey reads, as `/api/catalog/entities/by-query`
//! returns it. Everything else in the entity (notably `spec.definition`) is not requested.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The `fields` query parameter: only what [`Entity`] holds crosses the wire.
pub(crate) const ENTITY_FIELDS: &str = "kind,metadata.name,metadata.namespace,metadata.title,\
metadata.description,metadata.annotations,spec.owner";

/// A catalog entity, reduced to what the annotations mapping needs.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Entity {
    pub kind: String,
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: Spec,
}

/// `metadata` of an entity.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// `spec` of an API entity; only the owner is used.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Spec {
    #[serde(default)]
    pub owner: Option<String>,
}

impl Entity {
    /// `metadata.namespace`, `default` when absent.
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("default")
    }

    /// The entity ref the way Backstage writes it: kind lowercased, namespace and name as they
    /// are (`api:default/orders`).
    pub fn entity_ref(&self) -> String {
        format!(
            "{}:{}/{}",
            self.kind.to_lowercase(),
            self.namespace(),
            self.metadata.name
        )
    }

    /// `spec.owner` as a full entity ref: a bare `team-a` means `group:<namespace>/team-a`, and
    /// `group:team-a` gains the entity's namespace.
    pub fn owner_ref(&self) -> Option<String> {
        let owner = self.spec.owner.as_deref()?.trim();
        if owner.is_empty() {
            return None;
        }
        let (kind, rest) = owner.split_once(':').unwrap_or(("group", owner));
        let full = if rest.contains('/') {
            format!("{}:{rest}", kind.to_lowercase())
        } else {
            format!("{}:{}/{rest}", kind.to_lowercase(), self.namespace())
        };
        Some(full)
    }
}

/// One page of `GET /api/catalog/entities/by-query`.
#[derive(Debug, Deserialize)]
pub(crate) struct QueryPage {
    pub items: Vec<serde_json::Value>,
    #[serde(rename = "pageInfo", default)]
    pub page_info: PageInfo,
}

/// Cursor pagination: no `nextCursor` on the last page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageInfo {
    #[serde(rename = "nextCursor", default)]
    pub next_cursor: Option<String>,
}
