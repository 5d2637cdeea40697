//! The four plugins the simulator knows (key-auth, acl, rate-limiting, http-log): their configuration
//! schemas with Kong's defaults and validation messages, and typed views of a stored
//! configuration for the proxy. Any other plugin name is refused as "not enabled", like a Kong
//! node whose `plugins` property does not list it.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::errors::KongError;

/// Rate-limiting windows the simulator enforces, with their lengths in seconds.
pub(crate) const WINDOWS: [(&str, u64); 4] = [
    ("second", 1),
    ("minute", 60),
    ("hour", 3600),
    ("day", 86_400),
];

/// Every window Kong's rate-limiting schema knows, shortest first (`ORDERED_PERIODS`).
const ORDERED_WINDOWS: [&str; 6] = ["second", "minute", "hour", "day", "month", "year"];

/// Plugin names `GET /` reports as available, with Kong's priorities.
pub(crate) const AVAILABLE: [(&str, u32); 4] = [
    ("key-auth", 1250),
    ("acl", 950),
    ("rate-limiting", 910),
    ("http-log", 12),
];

/// Validates a plugin's configuration and fills in Kong's defaults.
pub(crate) fn validate(
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
                ("header_name", Value::Null),
                ("path", Value::Null),
                ("sync_rate", json!(-1)),
            ]);
            let mut problems = window_limits(&config);
            if let Err(KongError::Schema(policy_problems)) = counter_policy(&mut config) {
                problems.extend(policy_problems);
            }
            let any = ORDERED_WINDOWS
                .iter()
                .any(|window| config.get(*window).is_some_and(|v| !v.is_null()));
            if !any {
                problems.push((
                    "@entity".to_owned(),
                    "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'".to_owned(),
                ));
            }
            if !problems.is_empty() {
                problems.sort();
                return Err(KongError::Schema(problems));
            }
            windows_in_order(&config)?;
        }
        "http-log" => crate::http_log::validate(&mut config)?,
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

/// Each window's own schema (`type = "number", gt = 0`): every problem, as Kong's record
/// validation collects them.
fn window_limits(config: &Map<String, Value>) -> Vec<(String, String)> {
    ORDERED_WINDOWS
        .iter()
        .filter_map(|window| {
            let problem = match config.get(*window)? {
                Value::Null => return None,
                Value::Number(limit) if limit.as_f64().is_some_and(|l| l > 0.0) => return None,
                Value::Number(_) => "value must be greater than 0",
                _ => "expected a number",
            };
            Some((format!("config.{window}"), problem.to_owned()))
        })
        .collect()
}

/// The record's `custom_validator` (`validate_periods_order`), run once its fields are valid:
/// a longer window must not allow fewer requests than a shorter one, and `sync_rate` needs the
/// `redis` policy. Kong reports it on the `config` field with `%.1f` limits.
#[expect(
    clippy::float_cmp,
    reason = "Kong compares sync_rate with -1 (SYNC_RATE_REALTIME) exactly"
)]
fn windows_in_order(config: &Map<String, Value>) -> Result<(), KongError> {
    let limit = |window: &str| config.get(window).and_then(Value::as_f64);
    for (i, shorter) in ORDERED_WINDOWS.iter().enumerate() {
        let Some(lower) = limit(shorter) else {
            continue;
        };
        for longer in &ORDERED_WINDOWS[i + 1..] {
            if let Some(upper) = limit(longer).filter(|upper| *upper < lower) {
                return Err(KongError::schema(
                    "config",
                    format!(
                        "The limit for {longer}({upper:.1}) cannot be lower than the limit for {shorter}({lower:.1})"
                    ),
                ));
            }
        }
    }
    let sync_rate = config.get("sync_rate").and_then(Value::as_f64);
    let policy = config.get("policy").and_then(Value::as_str);
    if policy != Some("redis") && sync_rate.is_some_and(|rate| rate != -1.0) {
        return Err(KongError::schema(
            "config",
            "sync_rate can only be used with the redis policy",
        ));
    }
    Ok(())
}

/// Kong 3.x's deprecated flat aliases of the `config.redis` fields, translated on write.
const REDIS_ALIASES: [(&str, &str); 9] = [
    ("redis_host", "host"),
    ("redis_port", "port"),
    ("redis_username", "username"),
    ("redis_password", "password"),
    ("redis_database", "database"),
    ("redis_timeout", "timeout"),
    ("redis_ssl", "ssl"),
    ("redis_ssl_verify", "ssl_verify"),
    ("redis_server_name", "server_name"),
];

/// `config.policy` and `config.redis` of rate-limiting, checked and completed as Kong 3.x does
/// (`kong/plugins/rate-limiting/schema.lua`, `kong/tools/redis/schema.lua`): the policy is one of
/// `local`, `cluster`, `redis` (this simulator is a DB-mode node, so `cluster` is allowed); the
/// Redis record gets its defaults; `redis` needs `redis.host` and `redis.port`.
fn counter_policy(config: &mut Map<String, Value>) -> Result<(), KongError> {
    let mut problems = Vec::new();
    let policy = config.get("policy").cloned().unwrap_or(Value::Null);
    match policy.as_str() {
        Some("local" | "cluster" | "redis") => {}
        _ if policy.is_null() => {
            config.insert("policy".to_owned(), json!("local"));
        }
        Some(_) => problems.push((
            "config.policy".to_owned(),
            "expected one of: local, cluster, redis".to_owned(),
        )),
        None => problems.push(("config.policy".to_owned(), "expected a string".to_owned())),
    }
    let mut redis = match config.remove("redis") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(redis)) => redis,
        Some(_) => {
            problems.push(("config.redis".to_owned(), "expected a record".to_owned()));
            Map::new()
        }
    };
    for (alias, field) in REDIS_ALIASES {
        if let Some(value) = config.remove(alias).filter(|v| !v.is_null()) {
            redis.insert(field.to_owned(), value);
        }
    }
    for (field, default) in [
        ("host", Value::Null),
        ("port", Value::Null),
        ("timeout", json!(2000)),
        ("username", Value::Null),
        ("password", Value::Null),
        ("database", json!(0)),
        ("ssl", json!(false)),
        ("ssl_verify", json!(false)),
        ("server_name", Value::Null),
    ] {
        redis.entry(field.to_owned()).or_insert(default);
    }
    for (field, value) in &redis {
        let problem = match (field.as_str(), value) {
            (_, Value::Null) => None,
            ("host" | "username" | "password" | "server_name", v) if !v.is_string() => {
                Some("expected a string".to_owned())
            }
            ("ssl" | "ssl_verify", v) if !v.is_boolean() => Some("expected a boolean".to_owned()),
            ("port" | "timeout" | "database", v) if !(v.is_i64() || v.is_u64()) => {
                Some("expected an integer".to_owned())
            }
            ("port", v) if !v.as_i64().is_some_and(|p| (0..=65_535).contains(&p)) => {
                Some("value should be between 0 and 65535".to_owned())
            }
            ("timeout", v) if !v.as_i64().is_some_and(|t| (0..=2_147_483_646).contains(&t)) => {
                Some("value should be between 0 and 2147483646".to_owned())
            }
            (
                "host" | "username" | "password" | "server_name" | "ssl" | "ssl_verify" | "port"
                | "timeout" | "database",
                _,
            ) => None,
            _ => Some("unknown field".to_owned()),
        };
        if let Some(problem) = problem {
            problems.push((format!("config.redis.{field}"), problem));
        }
    }
    if config.get("policy").and_then(Value::as_str) == Some("redis") {
        for field in ["host", "port"] {
            if redis.get(field).is_none_or(Value::is_null) {
                problems.push((
                    format!("config.redis.{field}"),
                    "required field missing".to_owned(),
                ));
            }
        }
    }
    config.insert("redis".to_owned(), Value::Object(redis));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(KongError::Schema(problems))
    }
}

/// key-auth's configuration, as the proxy reads it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct KeyAuthConfig {
    pub key_names: Vec<String>,
    pub key_in_header: bool,
    pub key_in_query: bool,
    pub hide_credentials: bool,
    pub realm: Option<String>,
}

/// acl's configuration, as the proxy reads it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AclConfig {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
    pub hide_groups_header: bool,
}

impl AclConfig {
    /// Kong's decision: with `allow`, one group must be listed; with `deny`, none may be.
    pub(crate) fn admits(&self, groups: &[String]) -> bool {
        match (&self.allow, &self.deny) {
            (Some(allow), _) => groups.iter().any(|g| allow.contains(g)),
            (None, Some(deny)) => !groups.iter().any(|g| deny.contains(g)),
            (None, None) => false,
        }
    }
}

/// rate-limiting's configuration, as the proxy reads it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RateLimitConfig {
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
    pub(crate) fn windows(&self) -> Vec<(&'static str, u64, u64)> {
        WINDOWS
            .iter()
            .zip([self.second, self.minute, self.hour, self.day])
            .filter_map(|((name, length), limit)| limit.map(|limit| (*name, *length, limit)))
            .collect()
    }
}

/// Reads a stored plugin's `config` as `T` (stored configs were validated on write).
pub(crate) fn config_of<T: for<'de> Deserialize<'de>>(plugin: &Map<String, Value>) -> Option<T> {
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
    fn rate_limiting_counter_policies_are_validated_like_kong_3() {
        let config = validate("rate-limiting", Some(&json!({"minute": 5})), false).expect("valid");
        assert_eq!(config["policy"], "local");
        assert_eq!(config["redis"]["timeout"], 2000);
        assert_eq!(config["redis"]["host"], Value::Null);

        let cluster = json!({"minute": 5, "policy": "cluster"});
        assert!(validate("rate-limiting", Some(&cluster), false).is_ok());

        assert_eq!(
            validate(
                "rate-limiting",
                Some(&json!({"minute": 5, "policy": "memcached"})),
                false
            ),
            Err(KongError::schema(
                "config.policy",
                "expected one of: local, cluster, redis"
            ))
        );
        assert_eq!(
            validate(
                "rate-limiting",
                Some(&json!({"minute": 5, "policy": "redis"})),
                false
            ),
            Err(KongError::Schema(vec![
                (
                    "config.redis.host".to_owned(),
                    "required field missing".to_owned()
                ),
                (
                    "config.redis.port".to_owned(),
                    "required field missing".to_owned()
                ),
            ]))
        );
        let bad_port = json!({"minute": 5, "policy": "redis",
            "redis": {"host": "redis", "port": 70000}});
        assert_eq!(
            validate("rate-limiting", Some(&bad_port), false),
            Err(KongError::schema(
                "config.redis.port",
                "value should be between 0 and 65535"
            ))
        );

        let aliased = json!({"minute": 5, "policy": "redis",
            "redis_host": "redis.internal", "redis_port": 6380, "redis_ssl": true});
        let config = validate("rate-limiting", Some(&aliased), false).expect("aliases");
        assert_eq!(config["redis"]["host"], "redis.internal");
        assert_eq!(config["redis"]["port"], 6380);
        assert_eq!(config["redis"]["ssl"], true);
        assert!(config.get("redis_host").is_none(), "aliases are not stored");
    }

    #[test]
    fn rate_limiting_windows_must_be_positive_and_increase_like_kong_3() {
        assert_eq!(
            validate(
                "rate-limiting",
                Some(&json!({"minute": 0, "hour": -5})),
                false
            ),
            Err(KongError::Schema(vec![
                (
                    "config.hour".to_owned(),
                    "value must be greater than 0".to_owned()
                ),
                (
                    "config.minute".to_owned(),
                    "value must be greater than 0".to_owned()
                ),
            ]))
        );
        assert_eq!(
            validate(
                "rate-limiting",
                Some(&json!({"second": 10, "minute": 100, "year": 50})),
                false
            ),
            Err(KongError::schema(
                "config",
                "The limit for year(50.0) cannot be lower than the limit for minute(100.0)"
            ))
        );
        assert!(
            validate(
                "rate-limiting",
                Some(&json!({"second": 5, "minute": 5, "day": 7200})),
                false
            )
            .is_ok(),
            "equal windows are allowed"
        );
        assert_eq!(
            validate(
                "rate-limiting",
                Some(&json!({"minute": 5, "sync_rate": 1})),
                false
            ),
            Err(KongError::schema(
                "config",
                "sync_rate can only be used with the redis policy"
            ))
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
