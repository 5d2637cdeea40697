//! The Backstage catalog as a source of Gatekey API entries.
//!
//! Gatekey reads every `kind: API` entity through `GET /api/catalog/entities/by-query` (all
//! pages, as a service with a static external access token) and turns the ones carrying
//! `gatekey.dev/*` annotations into the same API entries a policy file holds. The server refreshes
//! it in the background and merges it under the policy file (the file wins on equal ids). A
//! malformed entity is skipped with a warning and counted, never fatal; a failed read keeps the
//! last good catalog. See the crate README for the annotation formats.

mod annotations;
mod client;
mod entity;
mod error;
mod source;

pub use annotations::{
    API_ID, DEFAULT_DEFAULT_TTL_SECONDS, DEFAULT_MAX_TTL_SECONDS, DEFAULT_TTL, GATEWAY_URL,
    KEY_HEADER, KONG_SERVICE, MAX_TTL, PREFIX, SCOPES, Skip, SkipReason, api_from_entity,
    is_managed, parse_duration_seconds, parse_scopes,
};
pub use client::{CatalogClient, CatalogConfig, MAX_PAGES};
pub use entity::Entity;
pub use error::CatalogError;
pub use source::{CatalogSnapshot, CatalogSource, CatalogStatus};
