//! decK-style declarative configuration (`_format_version: "3.0"`): services with nested routes
//! and plugins, plus top-level routes, plugins and consumers, loaded at startup through the same
//! code paths as the Admin API so the same validation applies.

use std::path::Path;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::db::Db;
use crate::errors::KongError;

/// A parsed declarative file.
#[derive(Debug, Clone, Deserialize)]
pub struct DeclarativeConfig {
    #[serde(rename = "_format_version")]
    format_version: String,
    #[serde(default)]
    services: Vec<ServiceSpec>,
    #[serde(default)]
    routes: Vec<RouteSpec>,
    #[serde(default)]
    plugins: Vec<Map<String, Value>>,
    #[serde(default)]
    consumers: Vec<Map<String, Value>>,
}

#[derive(Debug, Clone, Deserialize)]
struct ServiceSpec {
    #[serde(flatten)]
    fields: Map<String, Value>,
    #[serde(default)]
    routes: Vec<RouteSpec>,
    #[serde(default)]
    plugins: Vec<Map<String, Value>>,
}

#[derive(Debug, Clone, Deserialize)]
struct RouteSpec {
    #[serde(flatten)]
    fields: Map<String, Value>,
    #[serde(default)]
    plugins: Vec<Map<String, Value>>,
}

fn describe(err: &KongError) -> String {
    format!("{err:?}")
}

fn id_of(value: &Value) -> anyhow::Result<String> {
    value
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("created entity has no id")
}

impl DeclarativeConfig {
    pub fn from_yaml_str(text: &str) -> anyhow::Result<Self> {
        let config: Self =
            serde_yaml_ng::from_str(text).context("invalid declarative configuration")?;
        if !config.format_version.starts_with('3') {
            bail!(
                "unsupported _format_version {} (expected 3.0)",
                config.format_version
            );
        }
        Ok(config)
    }

    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::from_yaml_str(&text).with_context(|| format!("in {}", path.display()))
    }

    pub(crate) fn load_into(&self, db: &mut Db, now: f64) -> anyhow::Result<()> {
        let fail = |what: &str, err: KongError| anyhow::anyhow!("{what}: {}", describe(&err));
        for service in &self.services {
            let created = db
                .insert_service(&service.fields, now)
                .map_err(|e| fail("service", e))?;
            let service_id = id_of(&created)?;
            for plugin in &service.plugins {
                db.insert_plugin(&[("service", &service_id)], plugin, now)
                    .map_err(|e| fail("service plugin", e))?;
            }
            for route in &service.routes {
                let created = db
                    .insert_route(Some(&service_id), &route.fields, now)
                    .map_err(|e| fail("route", e))?;
                let route_id = id_of(&created)?;
                for plugin in &route.plugins {
                    db.insert_plugin(&[("route", &route_id)], plugin, now)
                        .map_err(|e| fail("route plugin", e))?;
                }
            }
        }
        for route in &self.routes {
            let created = db
                .insert_route(None, &route.fields, now)
                .map_err(|e| fail("route", e))?;
            let route_id = id_of(&created)?;
            for plugin in &route.plugins {
                db.insert_plugin(&[("route", &route_id)], plugin, now)
                    .map_err(|e| fail("route plugin", e))?;
            }
        }
        for plugin in &self.plugins {
            db.insert_plugin(&[], plugin, now)
                .map_err(|e| fail("plugin", e))?;
        }
        for consumer in &self.consumers {
            db.put_consumer(None, consumer, now)
                .map_err(|e| fail("consumer", e))?;
        }
        Ok(())
    }
}
