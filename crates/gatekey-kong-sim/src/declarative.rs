//! decK-style declarative configuration (`_format_version: "3.0"`): services with nested routes
//! and plugins, top-level routes and plugins (referring to services/routes/consumers by name), and
//! consumers with nested `keyauth_credentials` and `acls`. Everything is loaded at startup through
//! the same code paths as the Admin API, so the same validation and defaults apply.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::db::{Db, Table};
use crate::errors::KongError;

/// Why a declarative file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeclarativeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid declarative configuration: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("unsupported _format_version {0:?} (expected \"3.0\")")]
    Format(String),
    #[error("{what} {name}: {error}")]
    Entity {
        what: &'static str,
        name: String,
        error: Box<KongError>,
    },
    #[error("{what} {name} refers to unknown {target} {reference:?}")]
    Reference {
        what: &'static str,
        name: String,
        target: &'static str,
        reference: String,
    },
}

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
    consumers: Vec<ConsumerSpec>,
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

#[derive(Debug, Clone, Deserialize)]
struct ConsumerSpec {
    #[serde(flatten)]
    fields: Map<String, Value>,
    #[serde(default)]
    keyauth_credentials: Vec<Map<String, Value>>,
    #[serde(default)]
    acls: Vec<Map<String, Value>>,
    #[serde(default)]
    plugins: Vec<Map<String, Value>>,
}

/// A readable name for error messages.
fn label(fields: &Map<String, Value>) -> String {
    ["name", "username", "custom_id", "group"]
        .iter()
        .find_map(|f| fields.get(*f).and_then(Value::as_str))
        .map_or_else(|| "(unnamed)".to_owned(), |n| format!("{n:?}"))
}

fn id_of(value: &Value) -> String {
    value
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

impl DeclarativeConfig {
    pub fn from_yaml_str(text: &str) -> Result<Self, DeclarativeError> {
        let config: Self = serde_yaml_ng::from_str(text)?;
        if !config.format_version.starts_with("3.") {
            return Err(DeclarativeError::Format(config.format_version));
        }
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Self, DeclarativeError> {
        let text = std::fs::read_to_string(path).map_err(|source| DeclarativeError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml_str(&text)
    }

    /// Creates every entity in `db`, parents first.
    pub(crate) fn load_into(&self, db: &mut Db, now: f64) -> Result<(), DeclarativeError> {
        let fail = |what: &'static str, fields: &Map<String, Value>| {
            let name = label(fields);
            move |error| DeclarativeError::Entity {
                what,
                name,
                error: Box::new(error),
            }
        };
        for service in &self.services {
            let created = db
                .create_service(&service.fields, now)
                .map_err(fail("service", &service.fields))?;
            let service_id = id_of(&created);
            for plugin in &service.plugins {
                db.create_plugin(&[("service", &service_id)], plugin, now)
                    .map_err(fail("plugin", plugin))?;
            }
            for route in &service.routes {
                load_route(db, Some(&service_id), route, now)?;
            }
        }
        for route in &self.routes {
            let mut route = route.clone();
            let service = match route.fields.remove("service") {
                Some(reference) => {
                    Some(lookup(db, Table::Services, &reference, now).ok_or_else(|| {
                        DeclarativeError::Reference {
                            what: "route",
                            name: label(&route.fields),
                            target: "service",
                            reference: reference_text(&reference),
                        }
                    })?)
                }
                None => None,
            };
            load_route(db, service.as_deref(), &route, now)?;
        }
        for consumer in &self.consumers {
            let created = db
                .create_consumer(&consumer.fields, now)
                .map_err(fail("consumer", &consumer.fields))?;
            let consumer_id = id_of(&created);
            for credential in &consumer.keyauth_credentials {
                db.create_key_auth(&consumer_id, credential, now)
                    .map_err(fail("keyauth_credential of", &consumer.fields))?;
            }
            for acl in &consumer.acls {
                db.create_acl(&consumer_id, acl, now)
                    .map_err(fail("acl", acl))?;
            }
            for plugin in &consumer.plugins {
                db.create_plugin(&[("consumer", &consumer_id)], plugin, now)
                    .map_err(fail("plugin", plugin))?;
            }
        }
        for plugin in &self.plugins {
            let mut plugin = plugin.clone();
            let mut scope = Vec::new();
            for (field, table) in [
                ("service", Table::Services),
                ("route", Table::Routes),
                ("consumer", Table::Consumers),
            ] {
                if let Some(reference) = plugin.remove(field) {
                    let id = lookup(db, table, &reference, now).ok_or_else(|| {
                        DeclarativeError::Reference {
                            what: "plugin",
                            name: label(&plugin),
                            target: field,
                            reference: reference_text(&reference),
                        }
                    })?;
                    scope.push((field, id));
                }
            }
            let scope: Vec<(&str, &str)> = scope.iter().map(|(f, id)| (*f, id.as_str())).collect();
            db.create_plugin(&scope, &plugin, now)
                .map_err(fail("plugin", &plugin))?;
        }
        Ok(())
    }
}

fn load_route(
    db: &mut Db,
    service_id: Option<&str>,
    route: &RouteSpec,
    now: f64,
) -> Result<(), DeclarativeError> {
    let created = db
        .create_route(service_id, &route.fields, now)
        .map_err(|error| DeclarativeError::Entity {
            what: "route",
            name: label(&route.fields),
            error: Box::new(error),
        })?;
    let route_id = id_of(&created);
    for plugin in &route.plugins {
        db.create_plugin(&[("route", &route_id)], plugin, now)
            .map_err(|error| DeclarativeError::Entity {
                what: "plugin",
                name: label(plugin),
                error: Box::new(error),
            })?;
    }
    Ok(())
}

/// A decK reference: a name/id string, or `{id: ...}` / `{name: ...}`.
fn reference_text(reference: &Value) -> String {
    match reference {
        Value::String(text) => text.clone(),
        other => ["id", "name", "username"]
            .iter()
            .find_map(|f| other.get(*f).and_then(Value::as_str))
            .unwrap_or_default()
            .to_owned(),
    }
}

fn lookup(db: &Db, table: Table, reference: &Value, now: f64) -> Option<String> {
    db.resolve(table, &reference_text(reference), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_format_versions_are_refused() {
        let err =
            DeclarativeConfig::from_yaml_str("_format_version: \"1.1\"\n").expect_err("old format");
        assert!(matches!(err, DeclarativeError::Format(v) if v == "1.1"));
    }

    #[test]
    fn unknown_plugin_reports_the_entity() {
        let config = DeclarativeConfig::from_yaml_str(
            "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://127.0.0.1:1\n    plugins:\n      - name: oauth2\n",
        )
        .expect("parses");
        let err = config
            .load_into(&mut Db::default(), 0.0)
            .expect_err("unknown plugin");
        assert!(err.to_string().contains("not enabled"), "{err}");
    }

    #[test]
    fn top_level_plugin_refers_to_a_service_by_name() {
        let config = DeclarativeConfig::from_yaml_str(
            "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://127.0.0.1:1\nplugins:\n  - name: key-auth\n    service: s\n  - name: acl\n    service: nope\n    config: {allow: [a]}\n",
        )
        .expect("parses");
        let err = config
            .load_into(&mut Db::default(), 0.0)
            .expect_err("unknown service");
        assert!(
            matches!(
                err,
                DeclarativeError::Reference {
                    target: "service",
                    ..
                }
            ),
            "{err}"
        );
    }
}
