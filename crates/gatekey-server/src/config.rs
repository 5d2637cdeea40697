//! Service configuration: one TOML file plus `GATEKEY_*` environment overrides, loaded once and
//! validated at startup so a bad setting stops the process with a readable message instead of a
//! failure at the first request.
//!
//! Nested keys use a double underscore in the environment: `GATEKEY_MONGODB__URI`,
//! `GATEKEY_KONG__ADMIN_URL`. Secrets (the Kong admin token, the catalog token, the Backstage
//! proxy secrets) come only from the environment or from a file named in the configuration, never
//! from the TOML file itself, and every type holding one prints it redacted in `Debug`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use gatekey_core::gateway::{GatewayAllowList, GatewayUrlError};
use gatekey_core::policy::GroupPrefixes;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

pub use gatekey_app::reconciler::ReconcilerSettings;
pub use gatekey_app::revocations::RevocationSettings;
pub use gatekey_app::{AuditSettings, LimitSettings};
pub use gatekey_auth::{GroupsClaim, IssuerConfig, RequiredClaim};

/// Everything the service needs to start.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server binds (port 0 picks a free port).
    pub listen: SocketAddr,
    /// A second listener for what operators need and callers do not (`/metrics`, and the probes
    /// again); when set, the main listener no longer serves `/metrics`.
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    /// Accept `http://` URLs for issuers (and the discovery, JWKS and userinfo URLs they name),
    /// the Kong Admin API and the Backstage catalog. Off by default: tokens' keys, admin tokens
    /// and catalog policy would travel unauthenticated. Local stacks and tests turn it on.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// The policy file (YAML or TOML) listing APIs, scopes and admin groups. Re-read when its
    /// contents change and on SIGHUP; an invalid new version is refused and the old one serves.
    pub policy_file: PathBuf,
    /// Where the policy's rules come from (a git commit), shown with the revision and stored with
    /// each load; wins over the file's own `source_revision`. Usually
    /// `GATEKEY_POLICY_SOURCE_REVISION`, set by the deployment that ships the file.
    #[serde(default)]
    pub policy_source_revision: Option<String>,
    /// How often the policy file's contents are compared with the loaded ones, in milliseconds;
    /// 0 turns polling off (SIGHUP still reloads).
    #[serde(default = "default_policy_poll_interval_ms")]
    pub policy_poll_interval_ms: u64,
    pub http: HttpSettings,
    pub mongodb: MongoSettings,
    pub kong: KongSettings,
    /// Where minted keys may be sent: the approved gateway base URLs.
    pub gateway: GatewaySettings,
    pub auth: AuthSettings,
    /// The Backstage catalog as a source of APIs; absent: the policy file alone.
    #[serde(default)]
    pub catalog: Option<CatalogSettings>,
    pub log: LogSettings,
    pub limits: LimitSettings,
    pub reconciler: ReconcilerSettings,
    /// The bulk revocation worker ([`RevocationSettings`]).
    #[serde(default)]
    pub revocations: RevocationSettings,
    pub audit: AuditSettings,
    /// The ingest of Kong's `http-log` entries on the operators' listener; absent: no ingest.
    #[serde(default)]
    pub ingest: Option<IngestSettings>,
}

/// `POST /v1/ingest/kong-http-log` on `admin_listen`: Kong's `http-log` plugin posts its log
/// entries there, with the shared secret in `X-Gatekey-Ingest-Secret` (its `headers` setting).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// File holding the secret Kong sends (at least 32 bytes).
    pub secret_file: PathBuf,
    /// File holding the previous secret, accepted too while Kong's configuration is rotated.
    #[serde(default)]
    pub previous_secret_file: Option<PathBuf>,
    /// Largest accepted body; larger answers 413.
    #[serde(default = "default_ingest_body_limit")]
    pub body_limit_bytes: usize,
    /// Most entries accepted in one post (Kong's `queue.max_batch_size` must not exceed it).
    #[serde(default = "default_ingest_max_entries")]
    pub max_entries: usize,
    /// Batches whose MongoDB reads and writes run at once on this replica: the ingest's share
    /// of the database, which mints share.
    #[serde(default = "default_ingest_max_concurrent_writes")]
    pub max_concurrent_writes: usize,
    /// Batches that may wait for a writing one; a batch beyond both bounds is answered 503
    /// `ingest_busy` without being read (Kong posts it again).
    #[serde(default = "default_ingest_max_waiting_batches")]
    pub max_waiting_batches: usize,
    /// How long an ingest command waits for this replica's mints in flight to end before it
    /// runs anyway; 0 turns the mints' priority off.
    #[serde(default = "default_ingest_mint_patience_ms")]
    pub mint_patience_ms: u64,
}

impl IngestSettings {
    /// The ingest's share of the database, for the application.
    pub fn capacity(&self) -> gatekey_app::IngestCapacity {
        gatekey_app::IngestCapacity {
            max_concurrent_writes: self.max_concurrent_writes,
            max_waiting_batches: self.max_waiting_batches,
            mint_patience: std::time::Duration::from_millis(self.mint_patience_ms),
        }
    }
}

fn default_ingest_max_concurrent_writes() -> usize {
    gatekey_app::IngestCapacity::default().max_concurrent_writes
}

fn default_ingest_max_waiting_batches() -> usize {
    gatekey_app::IngestCapacity::default().max_waiting_batches
}

fn default_ingest_mint_patience_ms() -> u64 {
    let patience = gatekey_app::IngestCapacity::default().mint_patience;
    u64::try_from(patience.as_millis()).unwrap_or(u64::MAX)
}

fn default_ingest_body_limit() -> usize {
    4 * 1024 * 1024
}

fn default_ingest_max_entries() -> usize {
    1000
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Whole-request deadline; a slower request gets 503 problem+json.
    pub request_timeout_seconds: u64,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Largest accepted request head (all header names and values together); larger gets 431.
    pub header_limit_bytes: usize,
}

fn default_policy_poll_interval_ms() -> u64 {
    2_000
}

/// Shortest accepted policy poll interval: one read of a small file per interval.
const MIN_POLICY_POLL_INTERVAL_MS: u64 = 100;

/// Largest accepted value of either mint limit: a caller's counter document holds one entry per
/// counted mint, and must stay far below MongoDB's 16 MiB document limit.
const MAX_MINT_LIMIT: u32 = 10_000;

/// Settings that no longer exist, and why: a configuration still setting one is refused with the
/// reason instead of a bare "unknown field".
const REMOVED_SETTINGS: &[(&str, &str)] = &[(
    "limits.cache_seconds",
    "the limits are exact across replicas now (atomic counters in MongoDB), so there is no \
     per-replica count cache to tune; delete the setting",
)];

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MongoSettings {
    pub uri: String,
    pub database: String,
    /// Issuance records are deleted this many days after they expire.
    pub issuance_retention_days: u32,
    /// Audit events are deleted this many days after they happen; unset keeps them forever.
    pub audit_retention_days: Option<u32>,
    /// Calls made with minted keys (from Kong's `http-log`) are deleted this many days after
    /// they happen; each credential's counters stay as long as its record.
    #[serde(default = "default_usage_retention_days")]
    pub usage_retention_days: u32,
}

fn default_usage_retention_days() -> u32 {
    30
}

/// The URI may carry a password (`mongodb://user:password@host`): shown redacted.
impl std::fmt::Debug for MongoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoSettings")
            .field("uri", &gatekey_store::redact_uri(&self.uri))
            .field("database", &self.database)
            .field("issuance_retention_days", &self.issuance_retention_days)
            .field("audit_retention_days", &self.audit_retention_days)
            .field("usage_retention_days", &self.usage_retention_days)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KongSettings {
    pub admin_url: String,
    pub request_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// Retries of idempotent Admin API calls (GET, PUT, DELETE).
    pub max_retries: u32,
    /// Header carrying the admin token, e.g. `Kong-Admin-Token`, or the header a Kong route in
    /// front of the Admin API checks.
    pub admin_token_header: Option<String>,
    /// The admin token; only from `GATEKEY_KONG__ADMIN_TOKEN`.
    #[serde(skip_serializing)]
    pub admin_token: Option<SecretString>,
    /// A file holding the admin token (e.g. a mounted Kubernetes secret).
    pub admin_token_file: Option<PathBuf>,
    /// Extra root CA (PEM) for an Admin API served over TLS.
    pub ca_cert_file: Option<PathBuf>,
    /// Client certificate and key (one PEM file) for mutual TLS to the Admin API.
    pub client_identity_file: Option<PathBuf>,
    /// Where Kong counts the requests of a credential's rate limit.
    #[serde(default)]
    pub rate_limiting: RateLimitingSettings,
}

/// Kong's `rate-limiting` counter policy for the consumer-scoped limits of APIs that set a
/// `rate_limit`. A property of the Kong deployment, so it is configured here and not per API: a
/// policy or catalog entry must never choose the Redis server Kong sends its password to.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitingSettings {
    /// `local` (per Kong node), `cluster` (Kong's database; not DB-less) or `redis`.
    #[serde(default)]
    pub policy: CounterPolicyName,
    /// The shared Redis; required with `policy = "redis"`, refused otherwise.
    #[serde(default)]
    pub redis: Option<RedisSettings>,
}

/// Kong's names for where rate-limit counters live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CounterPolicyName {
    #[default]
    Local,
    Cluster,
    Redis,
}

/// The Redis server Kong's nodes share rate-limit counters through (Kong's `config.redis`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub host: String,
    #[serde(default = "default_redis_port")]
    pub port: u16,
    /// Redis 6 ACL user.
    #[serde(default)]
    pub username: Option<String>,
    /// Only from `GATEKEY_KONG__RATE_LIMITING__REDIS__PASSWORD`.
    #[serde(default, skip_serializing)]
    pub password: Option<SecretString>,
    /// A file holding the password (e.g. a mounted secret).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub database: u32,
    #[serde(default = "default_redis_timeout_ms")]
    pub timeout_ms: u32,
    #[serde(default)]
    pub ssl: bool,
    #[serde(default)]
    pub ssl_verify: bool,
    /// SNI name for TLS.
    #[serde(default)]
    pub server_name: Option<String>,
}

fn default_redis_port() -> u16 {
    6379
}

fn default_redis_timeout_ms() -> u32 {
    2000
}

/// The gateways the platform team runs. An API's `gateway_url` (policy file or catalog) must be
/// at or under one of these, so nobody who writes an API entry can have keys sent elsewhere.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// Base URLs, e.g. `["https://api.example.com"]`; required (empty allows no API at all).
    /// A `gateway_url` matches when scheme, host and port are equal and its path is the base's
    /// or continues it after a `/`.
    pub allowed_urls: Vec<String>,
}

impl GatewaySettings {
    /// The parsed allow-list.
    pub fn allow_list(&self) -> Result<GatewayAllowList, GatewayUrlError> {
        GatewayAllowList::new(&self.allowed_urls)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub clock_skew_seconds: u64,
    pub jwks_refresh_min_interval_seconds: u64,
    /// Keys older than this are refreshed in the background while the cached ones stay in use
    /// (default 3600).
    #[serde(default = "default_jwks_max_age")]
    pub jwks_max_age_seconds: u64,
    /// The trusted issuers, in `gatekey-auth`'s own settings type.
    pub issuers: Vec<IssuerConfig>,
    /// The secret the Backstage proxy adds to every request it forwards; tokens of issuers with
    /// `requires_proxy_secret` are accepted only with it.
    #[serde(default)]
    pub proxy_secret: Option<ProxySecretSettings>,
}

/// The header the Backstage proxy adds and the secrets it may carry: `current`, plus `previous`
/// while a rotation is under way. Each comes from the environment or a file, never the TOML file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySecretSettings {
    /// Header name, `X-Gatekey-Proxy-Secret` by default.
    #[serde(default = "default_proxy_secret_header")]
    pub header: String,
    /// Only from `GATEKEY_AUTH__PROXY_SECRET__CURRENT`.
    #[serde(default, skip_serializing)]
    pub current: Option<SecretString>,
    /// A file holding the current secret (e.g. a mounted Kubernetes secret).
    #[serde(default)]
    pub current_file: Option<PathBuf>,
    /// The secret being rotated out, still accepted; only from
    /// `GATEKEY_AUTH__PROXY_SECRET__PREVIOUS`.
    #[serde(default, skip_serializing)]
    pub previous: Option<SecretString>,
    /// A file holding the previous secret.
    #[serde(default)]
    pub previous_file: Option<PathBuf>,
}

/// Shortest accepted proxy secret, in bytes (`openssl rand -base64 32` gives 44).
pub const MIN_PROXY_SECRET_BYTES: usize = 32;

fn default_proxy_secret_header() -> String {
    "X-Gatekey-Proxy-Secret".to_owned()
}

impl AuthSettings {
    /// The issuers' group prefixes: every group the policy grants must start with one of them.
    pub fn group_prefixes(&self) -> GroupPrefixes {
        GroupPrefixes::new(
            self.issuers
                .iter()
                .filter_map(|issuer| issuer.group_prefix.clone()),
        )
    }
}

/// Where the Backstage catalog is and how often to read it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSettings {
    /// The Backstage backend base URL, e.g. `https://backstage.example.com`.
    pub backend_url: String,
    /// The static external access token; only from `GATEKEY_CATALOG__TOKEN`.
    #[serde(default, skip_serializing)]
    pub token: Option<SecretString>,
    /// A file holding the token (e.g. a mounted secret).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Seconds between reads, 1 to 3600.
    #[serde(default = "default_catalog_refresh")]
    pub refresh_interval_seconds: u64,
    /// Entities per page, 1 to 1000.
    #[serde(default = "default_catalog_page_size")]
    pub page_size: u32,
    /// Per-request deadline.
    #[serde(default = "default_catalog_timeout")]
    pub request_timeout_seconds: u64,
    /// `/readyz` reports the catalog `degraded` (200) when the last good read is older than
    /// this; unset: never for age.
    #[serde(default)]
    pub max_staleness_seconds: Option<u64>,
    /// Catalog namespaces whose entities may define Gatekey APIs; empty: any namespace.
    #[serde(default)]
    pub allowed_namespaces: Vec<String>,
    /// Owners (entity refs, e.g. `group:default/platform-team`) whose entities may define
    /// Gatekey APIs; empty: any owner. The owner is written by the entity's author, so this
    /// narrows what the catalog offers; the Kong binding is what grants.
    #[serde(default)]
    pub allowed_owners: Vec<String>,
}

fn default_catalog_refresh() -> u64 {
    60
}

fn default_catalog_page_size() -> u32 {
    200
}

fn default_catalog_timeout() -> u64 {
    10
}

fn default_jwks_max_age() -> u64 {
    3600
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `tracing` filter directives, e.g. `info,gatekey_server=debug`.
    pub filter: String,
    /// OTLP/HTTP traces endpoint (e.g. `http://otel-collector:4318/v1/traces`); unset exports
    /// no traces.
    pub otlp_endpoint: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: None,
            allow_insecure_http: false,
            policy_file: PathBuf::from("policy.yaml"),
            policy_source_revision: None,
            policy_poll_interval_ms: default_policy_poll_interval_ms(),
            http: HttpSettings {
                request_timeout_seconds: 15,
                body_limit_bytes: 64 * 1024,
                header_limit_bytes: 32 * 1024,
            },
            mongodb: MongoSettings {
                uri: "mongodb://127.0.0.1:27017/?directConnection=true".to_owned(),
                database: "gatekey".to_owned(),
                issuance_retention_days: 90,
                audit_retention_days: None,
                usage_retention_days: default_usage_retention_days(),
            },
            kong: KongSettings {
                admin_url: "http://127.0.0.1:8001".to_owned(),
                request_timeout_ms: 5_000,
                connect_timeout_ms: 2_000,
                max_retries: 2,
                admin_token_header: None,
                admin_token: None,
                admin_token_file: None,
                ca_cert_file: None,
                client_identity_file: None,
                rate_limiting: RateLimitingSettings::default(),
            },
            auth: AuthSettings {
                clock_skew_seconds: 60,
                jwks_refresh_min_interval_seconds: 30,
                jwks_max_age_seconds: default_jwks_max_age(),
                issuers: Vec::new(),
                proxy_secret: None,
            },
            gateway: GatewaySettings::default(),
            catalog: None,
            log: LogSettings {
                format: LogFormat::Pretty,
                filter: "info".to_owned(),
                otlp_endpoint: None,
            },
            limits: LimitSettings::default(),
            audit: AuditSettings::default(),
            reconciler: ReconcilerSettings::default(),
            ingest: None,
            revocations: RevocationSettings::default(),
        }
    }
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot load configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

impl Settings {
    /// Loads defaults, then `file` (when given), then `GATEKEY_*` variables, and validates.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid(vec![format!(
                    "configuration file {} does not exist",
                    file.display()
                )]));
            }
            let from_file = Figment::from(Toml::file(file));
            if from_file.find_value("catalog.token").is_ok() {
                return Err(ConfigError::Invalid(vec![
                    "catalog.token must not be written in the configuration file: set \
                     GATEKEY_CATALOG__TOKEN or catalog.token_file"
                        .to_owned(),
                ]));
            }
            if from_file
                .find_value("kong.rate_limiting.redis.password")
                .is_ok()
            {
                return Err(ConfigError::Invalid(vec![
                    "kong.rate_limiting.redis.password must not be written in the configuration \
                     file: set GATEKEY_KONG__RATE_LIMITING__REDIS__PASSWORD or \
                     kong.rate_limiting.redis.password_file"
                        .to_owned(),
                ]));
            }
            if from_file.find_value("kong.admin_token").is_ok() {
                return Err(ConfigError::Invalid(vec![
                    "kong.admin_token must not be written in the configuration file: set \
                     GATEKEY_KONG__ADMIN_TOKEN or kong.admin_token_file"
                        .to_owned(),
                ]));
            }
            for (key, env) in [
                ("current", "GATEKEY_AUTH__PROXY_SECRET__CURRENT"),
                ("previous", "GATEKEY_AUTH__PROXY_SECRET__PREVIOUS"),
            ] {
                if from_file
                    .find_value(&format!("auth.proxy_secret.{key}"))
                    .is_ok()
                {
                    return Err(ConfigError::Invalid(vec![format!(
                        "auth.proxy_secret.{key} must not be written in the configuration file: \
                         set {env} or auth.proxy_secret.{key}_file"
                    )]));
                }
            }
            figment = figment.merge(from_file);
        }
        figment = figment.merge(Env::prefixed("GATEKEY_").split("__"));
        let removed: Vec<String> = REMOVED_SETTINGS
            .iter()
            .filter(|(key, _)| figment.find_value(key).is_ok())
            .map(|(key, why)| format!("{key} was removed: {why}"))
            .collect();
        if !removed.is_empty() {
            return Err(ConfigError::Invalid(removed));
        }
        let settings: Settings = figment.extract().map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    /// The policy file's poll interval; `None` when polling is off.
    pub fn policy_poll_interval(&self) -> Option<Duration> {
        (self.policy_poll_interval_ms > 0)
            .then(|| Duration::from_millis(self.policy_poll_interval_ms))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if let Some(source) = &self.policy_source_revision
            && !gatekey_core::policy::is_source_revision(source)
        {
            problems.push(format!(
                "policy_source_revision must be 1 to {} characters of letters, digits and \
                 . _ - / : +",
                gatekey_core::policy::MAX_SOURCE_REVISION_LEN
            ));
        }
        if self.policy_poll_interval_ms > 0
            && self.policy_poll_interval_ms < MIN_POLICY_POLL_INTERVAL_MS
        {
            problems.push(format!(
                "policy_poll_interval_ms must be 0 (off) or at least {MIN_POLICY_POLL_INTERVAL_MS}"
            ));
        }
        if self.http.request_timeout_seconds == 0 {
            problems.push("http.request_timeout_seconds must be above 0".to_owned());
        }
        if self.http.body_limit_bytes < 1024 {
            problems.push("http.body_limit_bytes must be at least 1024".to_owned());
        }
        if !self.mongodb.uri.starts_with("mongodb://")
            && !self.mongodb.uri.starts_with("mongodb+srv://")
        {
            problems.push("mongodb.uri must start with mongodb:// or mongodb+srv://".to_owned());
        }
        if self.mongodb.database.is_empty() {
            problems.push("mongodb.database must not be empty".to_owned());
        }
        if self.mongodb.issuance_retention_days == 0 {
            problems.push("mongodb.issuance_retention_days must be above 0".to_owned());
        }
        if url::Url::parse(&self.kong.admin_url).is_err() {
            problems.push(format!(
                "kong.admin_url '{}' is not an absolute URL",
                self.kong.admin_url
            ));
        }
        if let Some(endpoint) = &self.log.otlp_endpoint
            && !url::Url::parse(endpoint).is_ok_and(|url| matches!(url.scheme(), "http" | "https"))
        {
            problems.push(format!(
                "log.otlp_endpoint '{endpoint}' is not an http(s) URL"
            ));
        }
        if self.kong.request_timeout_ms == 0 || self.kong.connect_timeout_ms == 0 {
            problems.push("kong timeouts must be above 0".to_owned());
        }
        let has_token = self.kong.admin_token.is_some() || self.kong.admin_token_file.is_some();
        if has_token != self.kong.admin_token_header.is_some() {
            problems.push(
                "kong.admin_token_header and a token (GATEKEY_KONG__ADMIN_TOKEN or \
                 kong.admin_token_file) must be set together"
                    .to_owned(),
            );
        }
        if self.auth.issuers.is_empty() {
            problems.push("auth.issuers: configure at least one trusted issuer".to_owned());
        }
        problems.extend(
            gatekey_auth::group_prefix_problems(
                self.auth
                    .issuers
                    .iter()
                    .map(|issuer| (issuer.name.as_str(), issuer.group_prefix.as_deref())),
            )
            .into_iter()
            .map(|problem| format!("auth.issuers: {problem}")),
        );
        if self.auth.clock_skew_seconds > 300 {
            problems.push("auth.clock_skew_seconds must be at most 300".to_owned());
        }
        validate_rate_limiting(&self.kong.rate_limiting, &mut problems);
        match self.gateway.allow_list() {
            Ok(list) if list.is_empty() => problems.push(
                "gateway.allowed_urls: list the gateway base URLs minted keys may be used at \
                 (e.g. [\"https://api.example.com\"]); every API's gateway_url must be under one"
                    .to_owned(),
            ),
            Ok(_) => {}
            Err(err) => problems.push(format!("gateway.allowed_urls: {err}")),
        }
        self.validate_reliability(&mut problems);
        if let Some(catalog) = &self.catalog {
            validate_catalog(catalog, &mut problems);
        }
        self.validate_proxy_secret(&mut problems);
        self.validate_ingest(&mut problems);
        if self.admin_listen == Some(self.listen) && self.listen.port() != 0 {
            problems.push("admin_listen must differ from listen".to_owned());
        }
        problems.extend(self.insecure_http_problems());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Every `http://` URL the service would talk to without TLS, unless `allow_insecure_http`.
    /// Also checked by `Application::build`, so settings built in code are held to it too.
    pub fn insecure_http_problems(&self) -> Vec<String> {
        if self.allow_insecure_http {
            return Vec::new();
        }
        let mut urls: Vec<(String, &str)> = self
            .auth
            .issuers
            .iter()
            .map(|issuer| {
                (
                    format!("auth.issuers '{}' issuer", issuer.name),
                    issuer.issuer.as_str(),
                )
            })
            .collect();
        urls.push(("kong.admin_url".to_owned(), self.kong.admin_url.as_str()));
        if let Some(catalog) = &self.catalog {
            urls.push((
                "catalog.backend_url".to_owned(),
                catalog.backend_url.as_str(),
            ));
        }
        urls.into_iter()
            .filter(|(_, url)| {
                url.get(..7)
                    .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
            })
            .map(|(what, url)| {
                format!(
                    "{what} {url} is plain http: tokens' signing keys, admin tokens or catalog \
                     data would travel without TLS. Use https://, or set allow_insecure_http = \
                     true (local stacks and tests only)"
                )
            })
            .collect()
    }

    /// Issuers that need the proxy secret need one configured, and secrets come from outside
    /// the file, one source each.
    fn validate_proxy_secret(&self, problems: &mut Vec<String>) {
        let needing: Vec<&str> = self
            .auth
            .issuers
            .iter()
            .filter(|issuer| issuer.requires_proxy_secret)
            .map(|issuer| issuer.name.as_str())
            .collect();
        let Some(proxy) = &self.auth.proxy_secret else {
            if !needing.is_empty() {
                problems.push(format!(
                    "auth.issuers {needing:?} require the proxy secret: configure \
                     [auth.proxy_secret] with GATEKEY_AUTH__PROXY_SECRET__CURRENT or \
                     auth.proxy_secret.current_file"
                ));
            }
            return;
        };
        if needing.is_empty() {
            problems.push(
                "auth.proxy_secret is configured but no issuer sets requires_proxy_secret"
                    .to_owned(),
            );
        }
        if axum::http::HeaderName::try_from(proxy.header.as_str()).is_err() {
            problems.push(format!(
                "auth.proxy_secret.header '{}' is not a valid header name",
                proxy.header
            ));
        }
        if proxy.current.is_none() == proxy.current_file.is_none() {
            problems.push(
                "auth.proxy_secret: set exactly one of GATEKEY_AUTH__PROXY_SECRET__CURRENT and \
                 auth.proxy_secret.current_file"
                    .to_owned(),
            );
        }
        if proxy.previous.is_some() && proxy.previous_file.is_some() {
            problems.push(
                "auth.proxy_secret: set at most one of GATEKEY_AUTH__PROXY_SECRET__PREVIOUS and \
                 auth.proxy_secret.previous_file"
                    .to_owned(),
            );
        }
        for (key, secret) in [("current", &proxy.current), ("previous", &proxy.previous)] {
            if let Some(secret) = secret
                && secret.expose_secret().trim().len() < MIN_PROXY_SECRET_BYTES
            {
                problems.push(format!(
                    "auth.proxy_secret.{key} must be at least {MIN_PROXY_SECRET_BYTES} bytes"
                ));
            }
        }
    }

    /// The ingest is served on the operators' listener only, within sane bounds.
    fn validate_ingest(&self, problems: &mut Vec<String>) {
        if self.mongodb.usage_retention_days == 0 {
            problems.push("mongodb.usage_retention_days must be above 0".to_owned());
        }
        let Some(ingest) = &self.ingest else {
            return;
        };
        if self.admin_listen.is_none() {
            problems.push(
                "ingest is served on the operators' listener only: set admin_listen".to_owned(),
            );
        }
        if !(1024..=64 * 1024 * 1024).contains(&ingest.body_limit_bytes) {
            problems.push("ingest.body_limit_bytes must be between 1024 and 67108864".to_owned());
        }
        if !(1..=10_000).contains(&ingest.max_entries) {
            problems.push("ingest.max_entries must be between 1 and 10000".to_owned());
        }
        if !(1..=64).contains(&ingest.max_concurrent_writes) {
            problems.push("ingest.max_concurrent_writes must be between 1 and 64".to_owned());
        }
        if ingest.max_waiting_batches > 1024 {
            problems.push("ingest.max_waiting_batches must be between 0 and 1024".to_owned());
        }
        if ingest.mint_patience_ms > 10_000 {
            problems.push("ingest.mint_patience_ms must be between 0 and 10000".to_owned());
        }
    }

    /// Limits and reconciler timing that only work in the right proportions.
    fn validate_reliability(&self, problems: &mut Vec<String>) {
        if self.http.header_limit_bytes < 1024 {
            problems.push("http.header_limit_bytes must be at least 1024".to_owned());
        }
        for (key, value) in [
            (
                "limits.mints_per_subject_per_minute",
                self.limits.mints_per_subject_per_minute,
            ),
            (
                "limits.live_credentials_per_subject_and_api",
                self.limits.live_credentials_per_subject_and_api,
            ),
        ] {
            if !(1..=MAX_MINT_LIMIT).contains(&value) {
                problems.push(format!("{key} must be between 1 and {MAX_MINT_LIMIT}"));
            }
        }
        if self.limits.idempotency_key_ttl_seconds < 60 {
            problems.push("limits.idempotency_key_ttl_seconds must be at least 60".to_owned());
        }
        let audit = &self.audit;
        if !(1..=3600).contains(&audit.deny_window_seconds) {
            problems.push("audit.deny_window_seconds must be between 1 and 3600".to_owned());
        }
        if audit.denials_per_caller == 0 || audit.denials_per_caller > audit.denials_per_issuer {
            problems.push(
                "audit.denials_per_caller must be above 0 and at most audit.denials_per_issuer"
                    .to_owned(),
            );
        }
        problems.extend(self.reconciler.problems(self.request_timeout()));
        problems.extend(self.revocations.problems());
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.http.request_timeout_seconds)
    }
}

fn validate_rate_limiting(settings: &RateLimitingSettings, problems: &mut Vec<String>) {
    match (settings.policy, &settings.redis) {
        (CounterPolicyName::Redis, None) => problems.push(
            "kong.rate_limiting.redis (host, port, ...) is required with policy = \"redis\""
                .to_owned(),
        ),
        (CounterPolicyName::Redis, Some(redis)) => {
            if redis.host.trim().is_empty() {
                problems.push("kong.rate_limiting.redis.host must not be empty".to_owned());
            }
            if redis.port == 0 {
                problems.push("kong.rate_limiting.redis.port must be above 0".to_owned());
            }
            if redis.password.is_some() && redis.password_file.is_some() {
                problems.push(
                    "kong.rate_limiting.redis: set at most one of \
                     GATEKEY_KONG__RATE_LIMITING__REDIS__PASSWORD and password_file"
                        .to_owned(),
                );
            }
            // Kong's `typedefs.timeout`: 0 to 2^31 - 2 milliseconds.
            if redis.timeout_ms > 2_147_483_646 {
                problems
                    .push("kong.rate_limiting.redis.timeout_ms is above Kong's maximum".to_owned());
            }
        }
        (_, Some(_)) => problems
            .push("kong.rate_limiting.redis is only used with policy = \"redis\"".to_owned()),
        (_, None) => {}
    }
}

fn validate_catalog(catalog: &CatalogSettings, problems: &mut Vec<String>) {
    match url::Url::parse(&catalog.backend_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {}
        _ => problems.push(format!(
            "catalog.backend_url '{}' is not an absolute http(s) URL",
            catalog.backend_url
        )),
    }
    if catalog.token.is_none() == catalog.token_file.is_none() {
        problems.push(
            "catalog: set exactly one of GATEKEY_CATALOG__TOKEN and catalog.token_file".to_owned(),
        );
    }
    if !(1..=3600).contains(&catalog.refresh_interval_seconds) {
        problems.push("catalog.refresh_interval_seconds must be between 1 and 3600".to_owned());
    }
    if !(1..=1000).contains(&catalog.page_size) {
        problems.push("catalog.page_size must be between 1 and 1000".to_owned());
    }
    if catalog.request_timeout_seconds == 0 {
        problems.push("catalog.request_timeout_seconds must be above 0".to_owned());
    }
    for owner in &catalog.allowed_owners {
        if !owner.contains(':') || !owner.contains('/') {
            problems.push(format!(
                "catalog.allowed_owners: '{owner}' is not a full entity ref like \
                 group:default/platform-team"
            ));
        }
    }
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail closures return figment::Error"
)]
mod tests {
    use super::*;
    use figment::Jail;

    const MINIMAL: &str = r#"
policy_file = "policy.yaml"
allow_insecure_http = true
[gateway]
allowed_urls = ["https://api.example.com"]
[[auth.issuers]]
name = "dev"
issuer = "http://127.0.0.1:8090"
audiences = ["gatekey"]
algorithms = ["RS256"]
"#;

    #[test]
    fn file_values_are_overridden_by_gatekey_environment_variables() {
        Jail::expect_with(|jail| {
            jail.create_file("gatekey.toml", MINIMAL)?;
            jail.set_env("GATEKEY_MONGODB__DATABASE", "from_env");
            jail.set_env("GATEKEY_LISTEN", "0.0.0.0:9999");
            let settings = Settings::load(Some(Path::new("gatekey.toml"))).expect("valid");
            assert_eq!(settings.mongodb.database, "from_env");
            assert_eq!(settings.listen.port(), 9999);
            assert_eq!(settings.auth.issuers[0].subject_claim, "sub");
            assert_eq!(settings.http.body_limit_bytes, 64 * 1024);
            Ok(())
        });
    }

    #[test]
    fn admin_token_in_the_file_is_refused() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "gatekey.toml",
                &format!("{MINIMAL}\n[kong]\nadmin_token = \"secret\"\n"),
            )?;
            let err = Settings::load(Some(Path::new("gatekey.toml"))).expect_err("refused");
            assert!(
                err.to_string().contains("GATEKEY_KONG__ADMIN_TOKEN"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn admin_token_from_the_environment_needs_its_header() {
        Jail::expect_with(|jail| {
            jail.create_file("gatekey.toml", MINIMAL)?;
            jail.set_env("GATEKEY_KONG__ADMIN_TOKEN", "secret-token");
            let err = Settings::load(Some(Path::new("gatekey.toml"))).expect_err("no header");
            assert!(err.to_string().contains("admin_token_header"), "{err}");
            jail.set_env("GATEKEY_KONG__ADMIN_TOKEN_HEADER", "Kong-Admin-Token");
            let settings = Settings::load(Some(Path::new("gatekey.toml"))).expect("valid");
            assert!(settings.kong.admin_token.is_some());
            assert!(
                !format!("{settings:?}").contains("secret-token"),
                "token leaked in Debug"
            );
            Ok(())
        });
    }

    #[test]
    fn catalog_needs_a_token_from_outside_the_file_and_a_bounded_interval() {
        Jail::expect_with(|jail| {
            let with_catalog = format!(
                "{MINIMAL}\n[catalog]\nbackend_url = \"http://127.0.0.1:7007\"\nrefresh_interval_seconds = 0\n"
            );
            jail.create_file("gatekey.toml", &with_catalog)?;
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("invalid")
                .to_string();
            assert!(text.contains("GATEKEY_CATALOG__TOKEN"), "{text}");
            assert!(text.contains("refresh_interval_seconds"), "{text}");
            jail.create_file(
                "gatekey.toml",
                &with_catalog.replace("refresh_interval_seconds = 0", "token = \"t\""),
            )?;
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("token in file")
                .to_string();
            assert!(text.contains("must not be written"), "{text}");
            jail.create_file(
                "gatekey.toml",
                &with_catalog.replace("refresh_interval_seconds = 0", ""),
            )?;
            jail.set_env("GATEKEY_CATALOG__TOKEN", "catalog-secret");
            let settings = Settings::load(Some(Path::new("gatekey.toml"))).expect("valid");
            let catalog = settings.catalog.expect("catalog");
            assert_eq!(catalog.refresh_interval_seconds, 60);
            assert!(!format!("{catalog:?}").contains("catalog-secret"));
            Ok(())
        });
    }

    #[test]
    fn the_rate_limit_counter_policy_needs_redis_settings_and_keeps_the_password_out_of_the_file() {
        Jail::expect_with(|jail| {
            assert_eq!(
                Settings::default().kong.rate_limiting.policy,
                CounterPolicyName::Local
            );
            jail.create_file(
                "gatekey.toml",
                &format!("{MINIMAL}\n[kong.rate_limiting]\npolicy = \"redis\"\n"),
            )?;
            let err = Settings::load(Some(Path::new("gatekey.toml"))).expect_err("no redis");
            assert!(
                err.to_string().contains("kong.rate_limiting.redis"),
                "{err}"
            );
            let with_redis = format!(
                "{MINIMAL}\n[kong.rate_limiting]\npolicy = \"redis\"\n\
                 [kong.rate_limiting.redis]\nhost = \"redis.internal\"\nssl = true\n"
            );
            jail.create_file(
                "gatekey.toml",
                &format!("{with_redis}password = \"in-the-file\"\n"),
            )?;
            let err = Settings::load(Some(Path::new("gatekey.toml"))).expect_err("password");
            assert!(err.to_string().contains("must not be written"), "{err}");
            jail.create_file("gatekey.toml", &with_redis)?;
            jail.set_env(
                "GATEKEY_KONG__RATE_LIMITING__REDIS__PASSWORD",
                "redis-secret",
            );
            let settings = Settings::load(Some(Path::new("gatekey.toml"))).expect("valid");
            let redis = settings.kong.rate_limiting.redis.as_ref().expect("redis");
            assert_eq!(
                (redis.port, redis.timeout_ms, redis.ssl),
                (6379, 2000, true)
            );
            assert!(redis.password.is_some());
            assert!(!format!("{settings:?}").contains("redis-secret"));
            jail.create_file(
                "gatekey.toml",
                &with_redis.replace("policy = \"redis\"", "policy = \"local\""),
            )?;
            let err = Settings::load(Some(Path::new("gatekey.toml"))).expect_err("unused");
            assert!(err.to_string().contains("only used with"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn gateway_allowed_urls_are_required_and_must_be_plain_base_urls() {
        Jail::expect_with(|jail| {
            let without = MINIMAL.replace("allowed_urls = [\"https://api.example.com\"]", "");
            jail.create_file("gatekey.toml", &without)?;
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("no gateway")
                .to_string();
            assert!(text.contains("gateway.allowed_urls"), "{text}");
            jail.create_file(
                "gatekey.toml",
                &MINIMAL.replace("https://api.example.com", "https://user@api.example.com"),
            )?;
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("userinfo")
                .to_string();
            assert!(text.contains("userinfo"), "{text}");
            jail.create_file(
                "gatekey.toml",
                &format!(
                    "{MINIMAL}\n[catalog]\nbackend_url = \"http://127.0.0.1:7007\"\nallowed_owners = [\"platform-team\"]\n"
                ),
            )?;
            jail.set_env("GATEKEY_CATALOG__TOKEN", "catalog-secret");
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("owner not a ref")
                .to_string();
            assert!(text.contains("catalog.allowed_owners"), "{text}");
            Ok(())
        });
    }

    #[test]
    fn required_claims_take_one_value_or_a_list_of_strings_or_integers() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "gatekey.toml",
                &format!(
                    "{MINIMAL}required_claims = {{ repository_owner_id = [\"1234567\", 89], \
                     \"ext.tenant\" = \"main\", project_id = 22 }}\n"
                ),
            )?;
            let settings = Settings::load(Some(Path::new("gatekey.toml"))).expect("valid");
            let required: Vec<(String, Vec<String>)> = settings.auth.issuers[0]
                .required_claims
                .iter()
                .map(|claim| (claim.path.clone(), claim.accepted.clone()))
                .collect();
            assert_eq!(
                required,
                [
                    ("ext.tenant".to_owned(), vec!["main".to_owned()]),
                    ("project_id".to_owned(), vec!["22".to_owned()]),
                    (
                        "repository_owner_id".to_owned(),
                        vec!["1234567".to_owned(), "89".to_owned()]
                    ),
                ]
            );
            Ok(())
        });
    }

    #[test]
    fn the_denial_audit_budgets_must_fit_each_other() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "gatekey.toml",
                &format!(
                    "{MINIMAL}\n[audit]\ndeny_window_seconds = 0\ndenials_per_caller = 50\n\
                     denials_per_issuer = 10\n"
                ),
            )?;
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("invalid")
                .to_string();
            assert!(text.contains("audit.deny_window_seconds"), "{text}");
            assert!(text.contains("audit.denials_per_caller"), "{text}");
            Ok(())
        });
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "gatekey.toml",
                "[mongodb]\nuri = \"postgres://x\"\n[kong]\nadmin_url = \"not a url\"\n",
            )?;
            let err = Settings::load(Some(Path::new("gatekey.toml"))).expect_err("invalid");
            let text = err.to_string();
            for needle in ["mongodb.uri", "kong.admin_url", "auth.issuers"] {
                assert!(text.contains(needle), "{needle} missing in {text}");
            }
            Ok(())
        });
    }

    #[test]
    fn several_issuers_must_declare_distinct_group_prefixes() {
        Jail::expect_with(|jail| {
            let second = "\n[[auth.issuers]]\nname = \"ci\"\nissuer = \"http://127.0.0.1:8091\"\n\
                 audiences = [\"gatekey\"]\nalgorithms = [\"RS256\"]\n";
            jail.create_file("gatekey.toml", &format!("{MINIMAL}{second}"))?;
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("no prefixes")
                .to_string();
            for needle in [
                "auth.issuers: issuer 'dev': declare a group_prefix",
                "auth.issuers: issuer 'ci': declare a group_prefix",
            ] {
                assert!(text.contains(needle), "{needle} missing in {text}");
            }
            let prefixed =
                format!("{MINIMAL}group_prefix = \"dev:\"\n{second}group_prefix = \"ci:\"\n");
            jail.create_file("gatekey.toml", &prefixed)?;
            let settings = Settings::load(Some(Path::new("gatekey.toml"))).expect("valid");
            assert!(settings.auth.group_prefixes().qualifies("ci:team"));
            assert!(!settings.auth.group_prefixes().qualifies("team"));
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_missing_files_are_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("gatekey.toml", &format!("{MINIMAL}\nlisten_port = 1\n"))?;
            let err = Settings::load(Some(Path::new("gatekey.toml"))).expect_err("unknown key");
            assert!(err.to_string().contains("listen_port"), "{err}");
            let err = Settings::load(Some(Path::new("missing.toml"))).expect_err("missing");
            assert!(err.to_string().contains("does not exist"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_removed_count_cache_setting_is_refused_with_the_reason() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "gatekey.toml",
                &format!("{MINIMAL}\n[limits]\ncache_seconds = 5\n"),
            )?;
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("removed")
                .to_string();
            assert!(text.contains("limits.cache_seconds was removed"), "{text}");
            assert!(text.contains("exact across replicas"), "{text}");
            jail.create_file("gatekey.toml", MINIMAL)?;
            jail.set_env("GATEKEY_LIMITS__CACHE_SECONDS", "0");
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("removed, from the environment too")
                .to_string();
            assert!(text.contains("limits.cache_seconds was removed"), "{text}");
            Ok(())
        });
    }

    /// A production-like file: https everywhere except what each test changes.
    const PRODUCTION: &str = r#"
policy_file = "policy.yaml"
[kong]
admin_url = "https://kong-admin.internal:8444"
[catalog]
backend_url = "https://backstage.example.com"
token_file = "/run/secrets/catalog-token"
[gateway]
allowed_urls = ["https://api.example.com"]
[[auth.issuers]]
name = "company-idp"
issuer = "https://idp.example.com"
audiences = ["gatekey"]
algorithms = ["RS256"]
group_prefix = "idp:"
"#;

    #[test]
    fn http_urls_are_refused_unless_allow_insecure_http_naming_each_url_and_the_setting() {
        Jail::expect_with(|jail| {
            jail.create_file("gatekey.toml", PRODUCTION)?;
            Settings::load(Some(Path::new("gatekey.toml"))).expect("https everywhere is valid");
            let insecure = PRODUCTION
                .replace("https://idp.example.com", "http://idp.example.com")
                .replace("https://kong-admin", "http://kong-admin")
                .replace("https://backstage", "HTTP://backstage");
            jail.create_file("gatekey.toml", &insecure)?;
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("plain http refused")
                .to_string();
            for needle in [
                "auth.issuers 'company-idp' issuer http://idp.example.com is plain http",
                "kong.admin_url http://kong-admin.internal:8444 is plain http",
                "catalog.backend_url HTTP://backstage.example.com is plain http",
                "allow_insecure_http = true",
            ] {
                assert!(text.contains(needle), "{needle} missing in {text}");
            }
            jail.set_env("GATEKEY_ALLOW_INSECURE_HTTP", "true");
            Settings::load(Some(Path::new("gatekey.toml"))).expect("allowed explicitly");
            Ok(())
        });
    }

    const BACKSTAGE_ISSUER: &str = r#"
[[auth.issuers]]
name = "backstage"
issuer = "https://backstage.example.com/api/auth"
audiences = ["backstage"]
algorithms = ["ES256"]
requires_proxy_secret = true
group_prefix = "backstage:"
"#;

    #[test]
    fn an_issuer_requiring_the_proxy_secret_needs_one_from_outside_the_file() {
        Jail::expect_with(|jail| {
            let file = format!("{PRODUCTION}{BACKSTAGE_ISSUER}");
            jail.create_file("gatekey.toml", &file)?;
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("no secret")
                .to_string();
            assert!(text.contains("require the proxy secret"), "{text}");
            jail.create_file(
                "gatekey.toml",
                &format!(
                    "{file}[auth.proxy_secret]\ncurrent = \"{}\"\n",
                    "s".repeat(40)
                ),
            )?;
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("secret in the file")
                .to_string();
            assert!(
                text.contains("GATEKEY_AUTH__PROXY_SECRET__CURRENT"),
                "{text}"
            );
            jail.create_file("gatekey.toml", &file)?;
            jail.set_env("GATEKEY_AUTH__PROXY_SECRET__CURRENT", "too-short");
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("short secret")
                .to_string();
            assert!(text.contains("at least 32 bytes"), "{text}");
            jail.set_env("GATEKEY_AUTH__PROXY_SECRET__CURRENT", "c".repeat(40));
            jail.set_env("GATEKEY_AUTH__PROXY_SECRET__PREVIOUS", "p".repeat(40));
            let settings = Settings::load(Some(Path::new("gatekey.toml"))).expect("valid");
            let proxy = settings.auth.proxy_secret.expect("proxy secret");
            assert_eq!(proxy.header, "X-Gatekey-Proxy-Secret");
            assert!(proxy.previous.is_some());
            Ok(())
        });
    }

    #[test]
    fn admin_listen_must_differ_from_listen() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "gatekey.toml",
                &format!(
                    "listen = \"0.0.0.0:8080\"\nadmin_listen = \"0.0.0.0:8080\"\n{PRODUCTION}"
                ),
            )?;
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("same address")
                .to_string();
            assert!(text.contains("admin_listen must differ"), "{text}");
            jail.set_env("GATEKEY_ADMIN_LISTEN", "0.0.0.0:9091");
            let settings = Settings::load(Some(Path::new("gatekey.toml"))).expect("valid");
            assert_eq!(settings.admin_listen.map(|a| a.port()), Some(9091));
            Ok(())
        });
    }

    #[test]
    fn the_ingest_is_served_on_the_operators_listener_only_within_its_bounds() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "gatekey.toml",
                &format!(
                    "{PRODUCTION}\n[ingest]\nsecret_file = \"/run/secrets/ingest\"\nmax_entries = 0\n\
                     max_concurrent_writes = 0\nmax_waiting_batches = 5000\nmint_patience_ms = 60000\n"
                ),
            )?;
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("no admin_listen, no entries, no writes, too many waiting")
                .to_string();
            assert!(text.contains("set admin_listen"), "{text}");
            assert!(text.contains("ingest.max_entries"), "{text}");
            assert!(text.contains("ingest.max_concurrent_writes"), "{text}");
            assert!(text.contains("ingest.max_waiting_batches"), "{text}");
            assert!(text.contains("ingest.mint_patience_ms"), "{text}");
            jail.set_env("GATEKEY_ADMIN_LISTEN", "0.0.0.0:9091");
            jail.set_env("GATEKEY_INGEST__MAX_ENTRIES", "500");
            jail.set_env("GATEKEY_INGEST__MAX_CONCURRENT_WRITES", "2");
            jail.set_env("GATEKEY_INGEST__MAX_WAITING_BATCHES", "0");
            jail.set_env("GATEKEY_INGEST__MINT_PATIENCE_MS", "0");
            jail.set_env("GATEKEY_MONGODB__USAGE_RETENTION_DAYS", "7");
            let settings = Settings::load(Some(Path::new("gatekey.toml"))).expect("valid");
            let ingest = settings.ingest.expect("ingest");
            assert_eq!(ingest.max_entries, 500);
            assert_eq!(ingest.body_limit_bytes, 4 * 1024 * 1024);
            assert_eq!(
                ingest.capacity(),
                gatekey_app::IngestCapacity {
                    max_concurrent_writes: 2,
                    max_waiting_batches: 0,
                    mint_patience: std::time::Duration::ZERO,
                }
            );
            assert_eq!(settings.mongodb.usage_retention_days, 7);
            Ok(())
        });
    }

    #[test]
    fn mint_limits_must_fit_a_counter_document() {
        Jail::expect_with(|jail| {
            jail.create_file("gatekey.toml", MINIMAL)?;
            jail.set_env("GATEKEY_LIMITS__MINTS_PER_SUBJECT_PER_MINUTE", "0");
            jail.set_env(
                "GATEKEY_LIMITS__LIVE_CREDENTIALS_PER_SUBJECT_AND_API",
                "10001",
            );
            let text = Settings::load(Some(Path::new("gatekey.toml")))
                .expect_err("out of range")
                .to_string();
            for key in [
                "limits.mints_per_subject_per_minute must be between 1 and 10000",
                "limits.live_credentials_per_subject_and_api must be between 1 and 10000",
            ] {
                assert!(text.contains(key), "{key} missing in {text}");
            }
            jail.set_env("GATEKEY_LIMITS__MINTS_PER_SUBJECT_PER_MINUTE", "10000");
            jail.set_env("GATEKEY_LIMITS__LIVE_CREDENTIALS_PER_SUBJECT_AND_API", "1");
            assert!(Settings::load(Some(Path::new("gatekey.toml"))).is_ok());
            Ok(())
        });
    }

    #[test]
    fn mongodb_uri_credentials_are_redacted_in_debug() {
        let mut settings = Settings::default();
        settings.mongodb.uri =
            "mongodb://gatekey:s3cret@db-0:27017,db-1:27017/?replicaSet=rs0".to_owned();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("db-0:27017,db-1:27017"), "{printed}");
    }
}
