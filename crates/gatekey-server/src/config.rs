//! Service configuration: one TOML file plus `GATEKEY_*` environment overrides, loaded once and
//! validated at startup so a bad setting stops the process with a readable message instead of a
//! failure at the first request.
//!
//! Nested keys use a double underscore in the environment: `GATEKEY_MONGODB__URI`,
//! `GATEKEY_KONG__ADMIN_URL`. Secrets (the Kong admin token) come only from the environment or
//! from a file named in the configuration, never from the TOML file itself.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Everything the service needs to start.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server binds (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The policy file (YAML or TOML) listing APIs, scopes and admin groups.
    pub policy_file: PathBuf,
    pub http: HttpSettings,
    pub mongodb: MongoSettings,
    pub kong: KongSettings,
    pub auth: AuthSettings,
    /// The Backstage catalog as a source of APIs; absent: the policy file alone.
    #[serde(default)]
    pub catalog: Option<CatalogSettings>,
    pub log: LogSettings,
    pub limits: LimitSettings,
    pub reconciler: ReconcilerSettings,
    pub audit: AuditSettings,
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

/// Per-subject limits on minting, enforced across replicas through the issuance records.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Mints one subject may start per rolling minute (all APIs); more get 429.
    pub mints_per_subject_per_minute: u32,
    /// Live (`pending` or `active`, not expired) credentials one subject may hold per API.
    pub live_credentials_per_subject_and_api: u32,
    /// How long an `Idempotency-Key` stays bound to its issuance.
    pub idempotency_key_ttl_seconds: u64,
    /// How long a replica counts a subject's mints from memory before reading MongoDB again
    /// (0: read on every mint). Mints on other replicas become visible within this time.
    pub cache_seconds: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            mints_per_subject_per_minute: 30,
            live_credentials_per_subject_and_api: 10,
            idempotency_key_ttl_seconds: 24 * 3600,
            cache_seconds: 5,
        }
    }
}

/// How many denials reach the audit trail one by one. Beyond these budgets, denials are counted
/// in summary events (one per kind and window), so callers who verify but hold no grant cannot
/// flood the audit collection; the budgets are per replica, the summaries shared.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Length of a counting window; windows start at multiples of it since the Unix epoch, so
    /// every replica agrees on them.
    pub deny_window_seconds: u64,
    /// Denials of one caller (issuer and subject) written one by one per window and replica.
    pub denials_per_caller: u32,
    /// Denials of all callers of one issuer written one by one per window and replica.
    pub denials_per_issuer: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            deny_window_seconds: 60,
            denials_per_caller: 10,
            denials_per_issuer: 1000,
        }
    }
}

/// The reaper and reconciler (one leader across replicas, elected through a MongoDB lease).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcilerSettings {
    /// Run the reconciler loop in this process (it still needs the lease to do anything).
    pub enabled: bool,
    /// Time between passes.
    pub interval_seconds: u64,
    /// How long a leader's lease lasts without renewal; another replica takes over after it.
    pub lease_seconds: u64,
    /// A Kong consumer tagged `gatekey` younger than this is never treated as an orphan.
    pub orphan_grace_seconds: u64,
    /// A `pending` record older than this is a mint that will never finish: it is resolved.
    pub pending_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MongoSettings {
    pub uri: String,
    pub database: String,
    /// Issuance records are deleted this many days after they expire.
    pub issuance_retention_days: u32,
    /// Audit events are deleted this many days after they happen; unset keeps them forever.
    pub audit_retention_days: Option<u32>,
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
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub clock_skew_seconds: u64,
    pub jwks_refresh_min_interval_seconds: u64,
    pub issuers: Vec<IssuerSettings>,
}

/// One trusted token issuer and how its claims map to a subject and groups.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    pub name: String,
    /// Exact `iss` value; discovery is fetched from `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub audiences: Vec<String>,
    pub algorithms: Vec<String>,
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    #[serde(default)]
    pub groups_claims: Vec<GroupsClaimSettings>,
    /// A CI system's claim mapping (`github-actions`, `gitlab-ci`), added to `groups_claims`.
    /// Needs `required_claims`: a public CI platform issues tokens to everybody's repositories.
    #[serde(default)]
    pub preset: Option<gatekey_auth::IssuerPreset>,
    /// Claims every token of this issuer must carry, by dot path, with the accepted value or
    /// values, e.g. `{ repository_owner_id = ["1234567"] }`; other tokens get 401.
    #[serde(default)]
    pub required_claims: BTreeMap<String, AcceptedValues>,
    /// Extra JOSE `typ` values to accept, e.g. `vnd.backstage.user`.
    #[serde(default)]
    pub allowed_jose_types: Vec<String>,
    /// When none of `groups_claims` is in the token, read them from the issuer's userinfo
    /// endpoint with the caller's token (cached until the token expires). For Backstage, whose
    /// user tokens omit `ent` by default.
    #[serde(default)]
    pub groups_from_userinfo: bool,
}

/// What a required claim may hold: one value or a list of them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum AcceptedValues {
    One(ClaimValue),
    AnyOf(Vec<ClaimValue>),
}

/// A value a claim is compared with. An integer stands for its decimal text, which is also how a
/// numeric claim in a token is compared.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ClaimValue {
    Text(String),
    Integer(i64),
}

impl AcceptedValues {
    /// The accepted values as the claim's text.
    pub fn texts(&self) -> Vec<String> {
        let text = |value: &ClaimValue| match value {
            ClaimValue::Text(text) => text.clone(),
            ClaimValue::Integer(number) => number.to_string(),
        };
        match self {
            Self::One(value) => vec![text(value)],
            Self::AnyOf(values) => values.iter().map(text).collect(),
        }
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
    /// `/readyz` fails when the last good read is older than this; unset: never for age.
    #[serde(default)]
    pub max_staleness_seconds: Option<u64>,
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

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsClaimSettings {
    /// Dot path into the claims, e.g. `groups` or `realm_access.roles`.
    pub path: String,
    /// Prefix added to every value, e.g. `ci:repo:`.
    #[serde(default)]
    pub prefix: Option<String>,
}

fn default_subject_claim() -> String {
    "sub".to_owned()
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
            policy_file: PathBuf::from("policy.yaml"),
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
            },
            auth: AuthSettings {
                clock_skew_seconds: 60,
                jwks_refresh_min_interval_seconds: 30,
                issuers: Vec::new(),
            },
            catalog: None,
            log: LogSettings {
                format: LogFormat::Pretty,
                filter: "info".to_owned(),
                otlp_endpoint: None,
            },
            limits: LimitSettings::default(),
            audit: AuditSettings::default(),
            reconciler: ReconcilerSettings {
                enabled: true,
                interval_seconds: 30,
                lease_seconds: 90,
                orphan_grace_seconds: 120,
                pending_timeout_seconds: 120,
            },
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
            if from_file.find_value("kong.admin_token").is_ok() {
                return Err(ConfigError::Invalid(vec![
                    "kong.admin_token must not be written in the configuration file: set \
                     GATEKEY_KONG__ADMIN_TOKEN or kong.admin_token_file"
                        .to_owned(),
                ]));
            }
            figment = figment.merge(from_file);
        }
        figment = figment.merge(Env::prefixed("GATEKEY_").split("__"));
        let settings: Settings = figment.extract().map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
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
        if self.auth.clock_skew_seconds > 300 {
            problems.push("auth.clock_skew_seconds must be at most 300".to_owned());
        }
        self.validate_reliability(&mut problems);
        if let Some(catalog) = &self.catalog {
            validate_catalog(catalog, &mut problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Limits and reconciler timing that only work in the right proportions.
    fn validate_reliability(&self, problems: &mut Vec<String>) {
        if self.http.header_limit_bytes < 1024 {
            problems.push("http.header_limit_bytes must be at least 1024".to_owned());
        }
        if self.limits.mints_per_subject_per_minute == 0 {
            problems.push("limits.mints_per_subject_per_minute must be above 0".to_owned());
        }
        if self.limits.live_credentials_per_subject_and_api == 0 {
            problems.push("limits.live_credentials_per_subject_and_api must be above 0".to_owned());
        }
        if self.limits.cache_seconds > 60 {
            problems.push("limits.cache_seconds must be at most 60".to_owned());
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
        let r = &self.reconciler;
        if r.interval_seconds == 0 {
            problems.push("reconciler.interval_seconds must be above 0".to_owned());
        }
        if r.lease_seconds <= r.interval_seconds {
            problems.push(
                "reconciler.lease_seconds must exceed reconciler.interval_seconds, or the \
                 leader loses its lease between passes"
                    .to_owned(),
            );
        }
        // A mint runs at most one request timeout (then it rolls itself back); resolving its
        // record earlier would race it.
        if r.pending_timeout_seconds <= self.http.request_timeout_seconds {
            problems.push(
                "reconciler.pending_timeout_seconds must exceed http.request_timeout_seconds, \
                 or mints still in flight would be resolved as failed"
                    .to_owned(),
            );
        }
        if r.orphan_grace_seconds <= self.http.request_timeout_seconds {
            problems.push(
                "reconciler.orphan_grace_seconds must exceed http.request_timeout_seconds"
                    .to_owned(),
            );
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.http.request_timeout_seconds)
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
                .map(|(path, accepted)| (path.clone(), accepted.texts()))
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
}
