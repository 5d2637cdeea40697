//! The three plugins the simulator knows (key-auth, acl, rate-limiting): their configuration
//! schemas with Kong's defaults and validation messages, and typed views of a stored
//! configuration for the proxy. Any other plugin name is refused as "not enabled", like a Kong
//! node whose `plugins` property does not list it.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::errors::KongError;

/// Rate-limiting windows the simulator enforces, with their lengths in seconds.
pub const WINDOWS: [(&str, u64); 4] = [
    ("second", 1),
    ("minute", 60),
    ("hour", 3600),
    ("day", 86_400),
];

/// Plugin names `GET /` reports as available, with Kong's priorities.
pub const AVAILABLE: [(&str, u32); 3] = [("key-auth", 1250), ("acl", 950), ("rate-limiting", 910)];

/// Validates a plugin's configuration and fills in Kong's defaults.
pub fn validate(
    name: &str,
    config: Option<&Value>,
    consumer_scoped: bool,
) -> Result<Value, KongError> {
    let mut config = match config {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(KongError::schema("config", "expected a record")),
    };
    let mut defaults = |pairs: &[(&str, Value)]| {
        for (k, v) in pairs {
            config.entry((*k).to_owned()).or_insert_with(|| v.clone());
        }
    };
    match name {
        "key-auth" | "acl" if consumer_scoped => {
            return Err(KongError::schema("consumer", "value must be null"));
        }
        "key-auth" => defaults(&[
            ("key_names", json!(["apikey"])),
            ("key_in_header", json!(true)),
            ("key_in_query", json!(true)),
            ("key_in_body", json!(false)),
            ("hide_credentials", json!(false)),
            ("run_on_preflight", json!(true)),
            ("realm", Value::Null),
            ("anonymous", Value::Null),
        ]),
        "acl" => {
            defaults(&[
                ("allow", Value::Null),
                ("deny", Value::Null),
                ("hide_groups_header", json!(false)),
                ("always_use_authenticated_groups", json!(false)),
            ]);
            let set = |field: &str| config.get(field).is_some_and(|v| !v.is_null());
            if set("allow") == set("deny") {
                return Err(KongError::schema(
                    "@entity",
                    "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'",
                ));
            }
        }
        "rate-limiting" => {
            defaults(&[
                ("second", Value::Null),
                ("minute", Value::Null),
                ("hour", Value::Null),
                ("day", Value::Null),
                ("month", Value::Null),
                ("year", Value::Null),
                ("policy", json!("local")),
                ("limit_by", json!("consumer")),
                ("error_code", json!(429)),
                ("error_message", json!("API rate limit exceeded")),
                ("fault_tolerant", json!(true)),
                ("hide_client_headers", json!(false)),
            ]);
            let mut any = false;
            for (window, _) in WINDOWS {
                match config.get(window) {
                    Some(Value::Null) | None => {}
                    Some(limit) if limit.as_f64().is_some_and(|l| l >= 0.0) => any = true,
                    Some(_) => {
                        return Err(KongError::schema(
                            &format!("config.{window}"),
                            "expected a number",
                        ));
                    }
                }
            }
            if !any {
                return Err(KongError::schema(
                    "@entity",
                    "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'",
                ));
            }
        }
        other => {
            return Err(KongError::schema(
                "name",
                format!(
                    "plugin '{other}' not enabled; add it to the 'plugins' configuration property"
                ),
            ));
        }
    }
    Ok(Value::Object(config))
}

/// key-auth's configuration, as the proxy reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyAuthConfig {
    pub key_names: Vec<String>,
    pub key_in_header: bool,
    pub key_in_query: bool,
    pub hide_credentials: bool,
    pub realm: Option<String>,
}

/// acl's configuration, as the proxy reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct AclConfig {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
    pub hide_groups_header: bool,
}

impl AclConfig {
    /// Kong's decision: with `allow`, one group must be listed; with `deny`, none may be.
    pub fn admits(&self, groups: &[String]) -> bool {
        match (&self.allow, &self.deny) {
            (Some(allow), _) => groups.iter().any(|g| allow.contains(g)),
            (None, Some(deny)) => !groups.iter().any(|g| deny.contains(g)),
            (None, None) => false,
        }
    }
}

/// rate-limiting's configuration, as the proxy reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitConfig {
    pub second: Option<u64>,
    pub minute: Option<u64>,
    pub hour: Option<u64>,
    pub day: Option<u64>,
    pub limit_by: String,
    pub error_code: u16,
    pub error_message: String,
    pub hide_client_headers: bool,
}

impl RateLimitConfig {
    /// The configured windows: name, length in seconds, limit.
    pub fn windows(&self) -> Vec<(&'static str, u64, u64)> {
        WINDOWS
            .iter()
            .zip([self.second, self.minute, self.hour, self.day])
            .filter_map(|((name, length), limit)| limit.map(|limit| (*name, *length, limit)))
            .collect()
    }
}

/// Reads a stored plugin's `config` as `T` (stored configs were validated on write).
pub fn config_of<T: for<'de> Deserialize<'de>>(plugin: &Map<String, Value>) -> Option<T> {
    serde_json::from_value(plugin.get("config")?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_allow_list_admits_only_listed_groups() {
        let acl = AclConfig {
            allow: Some(vec!["a".into()]),
            deny: None,
            hide_groups_header: false,
        };
        assert!(acl.admits(&["b".into(), "a".into()]));
        assert!(!acl.admits(&["b".into()]));
        assert!(!acl.admits(&[]));
    }

    #[test]
    fn acl_deny_list_refuses_listed_groups() {
        let acl = AclConfig {
            allow: None,
            deny: Some(vec!["banned".into()]),
            hide_groups_header: false,
        };
        assert!(acl.admits(&[]));
        assert!(!acl.admits(&["banned".into()]));
    }

    #[test]
    fn consumer_scoped_key_auth_is_refused() {
        assert_eq!(
            validate("key-auth", None, true),
            Err(KongError::schema("consumer", "value must be null"))
        );
    }

    #[test]
    fn rate_limiting_needs_a_window_and_fills_defaults() {
        assert!(validate("rate-limiting", Some(&json!({})), false).is_err());
        let config = validate("rate-limiting", Some(&json!({"minute": 5})), false).expect("valid");
        let typed: RateLimitConfig = serde_json::from_value(config).expect("typed");
        assert_eq!(typed.windows(), vec![("minute", 60, 5)]);
        assert_eq!(typed.error_code, 429);
    }
}
