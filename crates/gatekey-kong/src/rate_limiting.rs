//! The consumer-scoped `rate-limiting` plugin Gatekey attaches to a credential, and where Kong
//! keeps its counters (`config.policy`).
//!
//! The counter policy is a property of the Kong deployment, not of an API: `local` counts per
//! node (N nodes allow N times the limit), `cluster` counts in Kong's database (not available in
//! DB-less mode), `redis` counts in a shared Redis (exact across nodes). Field names follow Kong
//! 3.x's `kong/plugins/rate-limiting/schema.lua`, which nests the Redis settings under
//! `config.redis` (`kong/tools/redis/schema.lua`); the flat `redis_host`-style fields are Kong's
//! deprecated aliases and are not sent.

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value, json};

use crate::model::NewPlugin;

/// Where Kong counts a consumer's requests.
#[derive(Debug, Clone, Default)]
pub enum CounterPolicy {
    /// In each node's memory: cheap, but each node allows the whole limit.
    #[default]
    Local,
    /// In Kong's database, shared by the nodes of a cluster (not in DB-less mode).
    Cluster,
    /// In a Redis server shared by every node: exact across the cluster.
    Redis(RedisCounters),
}

impl CounterPolicy {
    /// Kong's name for the policy (`config.policy`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Cluster => "cluster",
            Self::Redis(_) => "redis",
        }
    }
}

/// The Redis server Kong's nodes share counters through (`config.redis`).
#[derive(Clone)]
pub struct RedisCounters {
    pub host: String,
    pub port: u16,
    /// Redis 6 ACL user; unset sends no user.
    pub username: Option<String>,
    /// Sent to Kong, which stores it in the plugin's configuration. `Debug` shows it redacted.
    pub password: Option<SecretString>,
    pub database: u32,
    /// Connect, send and read timeout, in milliseconds.
    pub timeout_ms: u32,
    pub ssl: bool,
    pub ssl_verify: bool,
    /// SNI name for TLS.
    pub server_name: Option<String>,
}

impl fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCounters")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("database", &self.database)
            .field("timeout_ms", &self.timeout_ms)
            .field("ssl", &self.ssl)
            .field("ssl_verify", &self.ssl_verify)
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl RedisCounters {
    fn config(&self) -> Value {
        json!({
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password.as_ref().map(|p| p.expose_secret().to_owned()),
            "database": self.database,
            "timeout": self.timeout_ms,
            "ssl": self.ssl,
            "ssl_verify": self.ssl_verify,
            "server_name": self.server_name,
        })
    }
}

/// Requests one consumer may send per window; at least one window is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitWindows {
    pub second: Option<u32>,
    pub minute: Option<u32>,
    pub hour: Option<u32>,
    pub day: Option<u32>,
}

/// The `rate-limiting` plugin limiting one consumer to `windows`, counted where `policy` says.
pub fn rate_limiting_plugin(
    windows: RateLimitWindows,
    policy: &CounterPolicy,
    tags: Vec<String>,
) -> NewPlugin {
    let mut config = Map::new();
    for (name, limit) in [
        ("second", windows.second),
        ("minute", windows.minute),
        ("hour", windows.hour),
        ("day", windows.day),
    ] {
        if let Some(limit) = limit {
            config.insert(name.to_owned(), json!(limit));
        }
    }
    config.insert("policy".to_owned(), json!(policy.as_str()));
    if let CounterPolicy::Redis(redis) = policy {
        config.insert("redis".to_owned(), redis.config());
    }
    NewPlugin {
        name: "rate-limiting".to_owned(),
        config: Value::Object(config),
        tags: Some(tags),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis() -> RedisCounters {
        RedisCounters {
            host: "redis.internal".to_owned(),
            port: 6380,
            username: None,
            password: Some(SecretString::from("redis-secret")),
            database: 2,
            timeout_ms: 1500,
            ssl: true,
            ssl_verify: true,
            server_name: Some("redis.internal".to_owned()),
        }
    }

    #[test]
    fn local_and_cluster_send_only_the_policy_name() {
        let windows = RateLimitWindows {
            minute: Some(60),
            ..RateLimitWindows::default()
        };
        for (policy, name) in [
            (CounterPolicy::Local, "local"),
            (CounterPolicy::Cluster, "cluster"),
        ] {
            let plugin = rate_limiting_plugin(windows, &policy, vec!["gatekey".to_owned()]);
            assert_eq!(plugin.config, json!({"minute": 60, "policy": name}));
        }
    }

    #[test]
    fn redis_settings_go_under_config_redis_with_kong_3_field_names() {
        let windows = RateLimitWindows {
            second: Some(5),
            hour: Some(100),
            ..RateLimitWindows::default()
        };
        let plugin = rate_limiting_plugin(windows, &CounterPolicy::Redis(redis()), Vec::new());
        assert_eq!(
            plugin.config,
            json!({
                "second": 5, "hour": 100, "policy": "redis",
                "redis": {
                    "host": "redis.internal", "port": 6380, "username": null,
                    "password": "redis-secret", "database": 2, "timeout": 1500,
                    "ssl": true, "ssl_verify": true, "server_name": "redis.internal",
                },
            })
        );
    }

    #[test]
    fn debug_never_shows_the_redis_password() {
        let policy = CounterPolicy::Redis(redis());
        let plugin = rate_limiting_plugin(
            RateLimitWindows {
                minute: Some(1),
                ..RateLimitWindows::default()
            },
            &policy,
            Vec::new(),
        );
        for text in [format!("{policy:?}"), format!("{plugin:?}")] {
            assert!(!text.contains("redis-secret"), "{text}");
            assert!(text.contains("redis.internal"), "{text}");
        }
    }
}
