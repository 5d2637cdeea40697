//! The `gatekey.dev/*` annotations of a `kind: API` entity and their mapping to a Gatekey API
//! entry. Pure: the caller fetches entities and decides what to do with a skipped one.
//!
//! An entity is Gatekey-managed when it carries at least one `gatekey.dev/` annotation; then
//! `kong-service`, `gateway-url` and `scopes` are required and every value must parse, or the
//! whole entity is skipped with a [`SkipReason`]. Entities without any such annotation are not
//! Gatekey's business and are ignored silently.

use gatekey_core::policy::{
    ApiPolicy, DEFAULT_MIN_TTL_SECONDS, POLICY_VERSION, PolicyDocument, ScopePolicy,
};

use crate::entity::Entity;

/// Prefix of every Gatekey annotation.
pub const PREFIX: &str = "gatekey.dev/";
/// Gatekey API id; defaults to `metadata.name`.
pub const API_ID: &str = "gatekey.dev/api-id";
/// Name of the Kong service fronting the API (required).
pub const KONG_SERVICE: &str = "gatekey.dev/kong-service";
/// Base URL of the API on the gateway (required, absolute http(s)).
pub const GATEWAY_URL: &str = "gatekey.dev/gateway-url";
/// Header the key goes in; default `apikey`.
pub const KEY_HEADER: &str = "gatekey.dev/key-header";
/// Longest credential lifetime (a duration); default [`DEFAULT_MAX_TTL_SECONDS`].
pub const MAX_TTL: &str = "gatekey.dev/max-ttl";
/// Lifetime when the caller asks for none (a duration); default 15 minutes, capped at max-ttl.
pub const DEFAULT_TTL: &str = "gatekey.dev/default-ttl";
/// The scopes: a YAML (or JSON) list in the policy file's `scopes` format (required).
pub const SCOPES: &str = "gatekey.dev/scopes";

/// `max-ttl` when the annotation is absent: one hour.
pub const DEFAULT_MAX_TTL_SECONDS: u32 = 3600;
/// `default-ttl` when the annotation is absent (capped at max-ttl): 15 minutes.
pub const DEFAULT_DEFAULT_TTL_SECONDS: u32 = 900;

/// Why an entity was left out of the catalog; the `reason` label of
/// `gatekey_catalog_entities_skipped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// The entity JSON lacks fields every entity has (`kind`, `metadata.name`).
    MalformedEntity,
    /// A required `gatekey.dev/` annotation is absent.
    MissingAnnotation,
    /// An annotation value does not parse (bad duration, scopes not a list, ...).
    InvalidAnnotation,
    /// The values parse but break a policy rule (id format, TTL bounds, ACL group, ...).
    InvalidEntry,
    /// The entity's namespace is not in `catalog.allowed_namespaces`.
    NamespaceNotAllowed,
    /// The entity's owner is not in `catalog.allowed_owners`.
    OwnerNotAllowed,
    /// The policy file defines this API id; the file wins and the entity is not served.
    PolicyFileApiId,
    /// `gateway-url` is not at or under a base in `gateway.allowed_urls`.
    GatewayUrlNotAllowed,
    /// The Kong service does not exist or does not carry the tag binding it to this entity.
    UnboundService,
    /// A scope names an ACL group that no `acl` plugin of the service or its routes allows.
    AclGroupNotAllowed,
    /// Another entity that passed every other check claims the same API id; neither is served.
    DuplicateApiId,
    /// A scope grants a group that starts with none of the trusted issuers' `group_prefix`
    /// values, so callers of any issuer could match it.
    UnqualifiedGroup,
}

impl SkipReason {
    /// The reason's position in [`SkipReason::ALL`] (declaration order), for arrays of counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Every reason, for exporting counters that start at zero.
    pub const ALL: [SkipReason; 12] = [
        Self::MalformedEntity,
        Self::MissingAnnotation,
        Self::InvalidAnnotation,
        Self::InvalidEntry,
        Self::NamespaceNotAllowed,
        Self::OwnerNotAllowed,
        Self::PolicyFileApiId,
        Self::GatewayUrlNotAllowed,
        Self::UnboundService,
        Self::AclGroupNotAllowed,
        Self::DuplicateApiId,
        Self::UnqualifiedGroup,
    ];

    /// The stable label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedEntity => "malformed_entity",
            Self::MissingAnnotation => "missing_annotation",
            Self::InvalidAnnotation => "invalid_annotation",
            Self::InvalidEntry => "invalid_entry",
            Self::NamespaceNotAllowed => "namespace_not_allowed",
            Self::OwnerNotAllowed => "owner_not_allowed",
            Self::PolicyFileApiId => "policy_file_api_id",
            Self::GatewayUrlNotAllowed => "gateway_url_not_allowed",
            Self::UnboundService => "unbound_service",
            Self::AclGroupNotAllowed => "acl_group_not_allowed",
            Self::DuplicateApiId => "duplicate_api_id",
            Self::UnqualifiedGroup => "unqualified_group",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entity left out, with a sentence for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Skip {
    pub reason: SkipReason,
    pub detail: String,
}

impl Skip {
    pub(crate) fn new(reason: SkipReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

/// Whether the entity carries any Gatekey annotation.
pub fn is_managed(entity: &Entity) -> bool {
    entity
        .metadata
        .annotations
        .keys()
        .any(|key| key.starts_with(PREFIX))
}

/// The Gatekey API entry of a managed entity, validated by the same rules as a policy file entry.
pub fn api_from_entity(entity: &Entity) -> Result<ApiPolicy, Skip> {
    let annotations = &entity.metadata.annotations;
    let get = |key: &str| {
        annotations
            .get(key)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    };
    let require = |key: &str| {
        get(key).ok_or_else(|| {
            Skip::new(
                SkipReason::MissingAnnotation,
                format!("{key} is required on a Gatekey-managed API"),
            )
        })
    };
    let kong_service = require(KONG_SERVICE)?.to_owned();
    let gateway_url = require(GATEWAY_URL)?.to_owned();
    let scopes = parse_scopes(require(SCOPES)?)?;
    let max_ttl_seconds = get(MAX_TTL)
        .map(|value| parse_duration_seconds(MAX_TTL, value))
        .transpose()?
        .unwrap_or(DEFAULT_MAX_TTL_SECONDS);
    let default_ttl_seconds = get(DEFAULT_TTL)
        .map(|value| parse_duration_seconds(DEFAULT_TTL, value))
        .transpose()?
        .unwrap_or_else(|| DEFAULT_DEFAULT_TTL_SECONDS.min(max_ttl_seconds));
    let api = ApiPolicy {
        id: get(API_ID).unwrap_or(&entity.metadata.name).to_owned(),
        title: entity
            .metadata
            .title
            .clone()
            .filter(|title| !title.trim().is_empty())
            .unwrap_or_else(|| entity.metadata.name.clone()),
        description: entity.metadata.description.clone().unwrap_or_default(),
        owner: entity.owner_ref(),
        entity_ref: Some(entity.entity_ref()),
        kong_service,
        gateway_url,
        key_header: get(KEY_HEADER).unwrap_or("apikey").to_owned(),
        default_ttl_seconds,
        max_ttl_seconds,
        min_ttl_seconds: DEFAULT_MIN_TTL_SECONDS.min(max_ttl_seconds),
        rate_limit: None,
        // Explaining a scope reveals its groups to everyone; that is the platform team's call
        // (the policy file), never an entity author's.
        discoverable: false,
        scopes,
    };
    validate(api)
}

/// Runs the policy file's validation on the single entry.
fn validate(api: ApiPolicy) -> Result<ApiPolicy, Skip> {
    let document = PolicyDocument {
        version: POLICY_VERSION,
        source_revision: None,
        admin_groups: Vec::new(),
        apis: vec![api.clone()],
    };
    match document.validate() {
        Ok(_) => Ok(api),
        Err(err) => Err(Skip::new(SkipReason::InvalidEntry, err.to_string())),
    }
}

/// `gatekey.dev/scopes`: a YAML or JSON list of `{name, description?, acl_group,
/// allowed_groups}`, exactly the policy file's scope entries. Unknown keys are refused.
pub fn parse_scopes(value: &str) -> Result<Vec<ScopePolicy>, Skip> {
    serde_yaml_ng::from_str::<Vec<ScopePolicy>>(value).map_err(|err| {
        Skip::new(
            SkipReason::InvalidAnnotation,
            format!(
                "{SCOPES} is not a list of scopes ({{name, acl_group, allowed_groups}}): {err}"
            ),
        )
    })
}

/// A duration in whole seconds: `900`, `90s`, `15m`, `1h 30m`, `2d`
/// ([`gatekey_core::duration::parse_whole_seconds`]).
pub fn parse_duration_seconds(key: &str, value: &str) -> Result<u32, Skip> {
    gatekey_core::duration::parse_whole_seconds(value).map_err(|err| {
        Skip::new(
            SkipReason::InvalidAnnotation,
            format!("{key} = {value:?} is not a duration like 900, 90s, 15m, 1h 30m or 2d: {err}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_sits_at_its_index_in_all() {
        for (position, reason) in SkipReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), position, "{reason:?}");
        }
    }

    fn entity(annotations: &[(&str, &str)]) -> Entity {
        let annotations: serde_json::Map<String, serde_json::Value> = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
            .collect();
        serde_json::from_value(serde_json::json!({
            "kind": "API",
            "metadata": {"name": "orders", "title": "Orders API", "annotations": annotations},
            "spec": {"owner": "orders-team"}
        }))
        .expect("entity")
    }

    const SCOPES_YAML: &str =
        "- name: read\n  acl_group: orders-read\n  allowed_groups: [group:default/payments-team]\n";

    fn complete() -> Vec<(&'static str, &'static str)> {
        vec![
            (KONG_SERVICE, "orders"),
            (GATEWAY_URL, "http://gw.example/orders"),
            (SCOPES, SCOPES_YAML),
        ]
    }

    #[test]
    fn a_complete_entity_becomes_an_api_with_defaults() {
        let api = api_from_entity(&entity(&complete())).expect("api");
        assert_eq!(api.id, "orders");
        assert_eq!(api.title, "Orders API");
        assert_eq!(api.entity_ref.as_deref(), Some("api:default/orders"));
        assert_eq!(api.owner.as_deref(), Some("group:default/orders-team"));
        assert_eq!(api.key_header, "apikey");
        assert_eq!(
            (
                api.min_ttl_seconds,
                api.default_ttl_seconds,
                api.max_ttl_seconds
            ),
            (60, 900, 3600)
        );
        assert_eq!(api.scopes[0].acl_group, "orders-read");
        assert_eq!(
            api.scopes[0].allowed_groups,
            ["group:default/payments-team"]
        );
    }

    #[test]
    fn optional_annotations_override_the_defaults() {
        let mut annotations = complete();
        annotations.extend([
            (API_ID, "orders-v2"),
            (KEY_HEADER, "X-Api-Key"),
            (MAX_TTL, "2h"),
            (DEFAULT_TTL, "600"),
            (
                SCOPES,
                r#"[{"name": "write", "description": "POST", "acl_group": "w", "allowed_groups": ["group:default/a"]}]"#,
            ),
        ]);
        let api = api_from_entity(&entity(&annotations)).expect("api");
        assert_eq!(api.id, "orders-v2");
        assert_eq!(api.key_header, "X-Api-Key");
        assert_eq!((api.default_ttl_seconds, api.max_ttl_seconds), (600, 7200));
        assert_eq!(api.scopes[0].description, "POST");
    }

    #[test]
    fn each_problem_has_its_reason() {
        let without_service: Vec<_> = complete()
            .into_iter()
            .filter(|(k, _)| *k != KONG_SERVICE)
            .collect();
        let cases = [
            (without_service, SkipReason::MissingAnnotation),
            (
                [complete(), vec![(MAX_TTL, "soon")]].concat(),
                SkipReason::InvalidAnnotation,
            ),
            (
                [complete(), vec![(SCOPES, "read: everyone")]].concat(),
                SkipReason::InvalidAnnotation,
            ),
            (
                [complete(), vec![(DEFAULT_TTL, "2h")]].concat(),
                SkipReason::InvalidEntry,
            ),
            (
                [complete(), vec![(API_ID, "Not An Id")]].concat(),
                SkipReason::InvalidEntry,
            ),
        ];
        for (annotations, reason) in cases {
            let skip = api_from_entity(&entity(&annotations)).expect_err("skipped");
            assert_eq!(skip.reason, reason, "{skip}");
        }
    }

    #[test]
    fn durations_accept_seconds_and_human_units() {
        for (text, seconds) in [
            ("900", 900),
            ("90s", 90),
            ("15m", 900),
            ("1h", 3600),
            ("1h 30m", 5400),
            ("2d", 172_800),
        ] {
            assert_eq!(parse_duration_seconds(MAX_TTL, text).expect(text), seconds);
        }
        for text in ["", "500ms", "-5", "soon", "99999999999"] {
            assert!(parse_duration_seconds(MAX_TTL, text).is_err(), "{text}");
        }
    }

    #[test]
    fn only_entities_with_a_gatekey_annotation_are_managed() {
        assert!(is_managed(&entity(&[(KEY_HEADER, "apikey")])));
        assert!(!is_managed(&entity(&[(
            "backstage.io/techdocs-ref",
            "dir:."
        )])));
    }

    #[test]
    fn the_documented_example_entity_is_valid() {
        let text = include_str!("../../../deploy/backstage/api-entity.example.yaml");
        let entity: Entity = serde_yaml_ng::from_str(text).expect("example entity");
        let api = api_from_entity(&entity).expect("example maps to an API");
        assert_eq!(api.id, "orders");
        assert_eq!(api.entity_ref.as_deref(), Some("api:default/orders"));
        assert_eq!((api.default_ttl_seconds, api.max_ttl_seconds), (900, 3600));
        assert_eq!(api.scopes.len(), 2);
    }
}
