//! The Backstage catalog as a source of Gatekey API entries.
//!
//! Gatekey reads every `kind: API` entity through `GET /api/catalog/entities/by-query` (all
//! pages, as a service with a static external access token) and turns the ones carrying
//! `gatekey.dev/*` annotations into the same API entries a policy file holds, but only those the
//! platform side admits ([`trust`]): a Kong service bound to the entity by tag, ACL groups that
//! service allows, an approved gateway URL, an id no other entity or the policy file claims. The
//! server refreshes it in the background and merges it under the policy file. A skipped entity is
//! logged and counted with its reason, never fatal; a failed read keeps the last good catalog. See
//! the crate README for the annotation formats.

mod annotations;
mod client;
mod entity;
mod error;
mod source;
pub mod trust;

pub use annotations::{
    API_ID, DEFAULT_DEFAULT_TTL_SECONDS, DEFAULT_MAX_TTL_SECONDS, DEFAULT_TTL, GATEWAY_URL,
    KEY_HEADER, KONG_SERVICE, MAX_TTL, PREFIX, SCOPES, Skip, SkipReason, api_from_entity,
    is_managed, parse_duration_seconds, parse_scopes,
};
pub use client::{CatalogClient, CatalogConfig, MAX_PAGES};
pub use entity::Entity;
pub use error::CatalogError;
pub use source::{CatalogSnapshot, CatalogSource, CatalogStatus, LISTED_SKIPS};
pub use trust::{BINDING_TAG_PREFIX, BoundService, CatalogRules, ServiceBindings, binding_tag};
