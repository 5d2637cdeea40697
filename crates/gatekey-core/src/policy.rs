//! The versioned policy document and the decisions made from it.
//!
//! A policy file lists the APIs behind Kong that callers may try, the scopes of each (one Kong ACL
//! group per scope, and the caller groups allowed to request it) and how long a credential may
//! live. Everything here is pure: the server loads the file, this module parses, validates and
//! decides. Every decision comes back with a machine-readable reason so it can be audited.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::policy_revision::PolicyRevision;
use crate::principal::Principal;

/// The only policy format version this build understands.
pub const POLICY_VERSION: u32 = 1;

/// Kong accepts key-auth `ttl` values up to this many seconds.
pub const KONG_MAX_TTL_SECONDS: u32 = 100_000_000;

/// Default lower bound on a credential's lifetime, when the policy does not set one.
pub const DEFAULT_MIN_TTL_SECONDS: u32 = 60;

/// A policy file as written by people: YAML or TOML.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// Format version; must equal [`POLICY_VERSION`].
    pub version: u32,
    /// Where these rules come from (a git commit), written by the pipeline that ships the file;
    /// the server's `GATEKEY_POLICY_SOURCE_REVISION` overrides it. Not part of the digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_revision: Option<String>,
    /// Caller groups whose members may read everyone's credentials and the audit trail.
    #[serde(default)]
    pub admin_groups: Vec<String>,
    /// The APIs callers may try.
    #[serde(default)]
    pub apis: Vec<ApiPolicy>,
}

/// One API behind Kong and who may get a key for it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiPolicy {
    /// Stable identifier used in URLs and Kong tags (`[a-z0-9][a-z0-9._-]*`).
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Owning team, e.g. `group:default/payments-team`.
    #[serde(default)]
    pub owner: Option<String>,
    /// Backstage entity ref of the API (`api:default/orders`), when the API is in the catalog.
    #[serde(default)]
    pub entity_ref: Option<String>,
    /// Name of the Kong service that fronts this API.
    pub kong_service: String,
    /// Base URL of the API on the gateway, returned to callers with the key.
    pub gateway_url: String,
    /// Header the key goes in (Kong key-auth `key_names`).
    #[serde(default = "default_key_header")]
    pub key_header: String,
    /// Lifetime used when the caller does not ask for one.
    pub default_ttl_seconds: u32,
    /// Longest lifetime a caller may ask for.
    pub max_ttl_seconds: u32,
    /// Shortest lifetime a caller may ask for.
    #[serde(default = "default_min_ttl")]
    pub min_ttl_seconds: u32,
    /// Optional per-credential rate limit, enforced by a consumer-scoped Kong plugin.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Whether callers who cannot request a scope may learn which groups could (`gatekey policy
    /// explain`, `GET /v1/apis/{id}`). Off by default: group names can say more than an
    /// organisation wants every employee to read.
    #[serde(default)]
    pub discoverable: bool,
    pub scopes: Vec<ScopePolicy>,
}

/// A scope of an API: one Kong ACL group, requestable by some caller groups.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopePolicy {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Kong ACL group granted to the credential's consumer for this scope.
    pub acl_group: String,
    /// Caller groups allowed to request this scope.
    pub allowed_groups: Vec<String>,
}

/// Requests allowed per window for one credential (Kong `rate-limiting`, counted where the
/// service configuration's `kong.rate_limiting.policy` says).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<u32>,
}

/// Why Kong's `rate-limiting` schema would refuse a [`RateLimit`]
/// (`kong/plugins/rate-limiting/schema.lua`): every window is a number `gt = 0`, at least one is
/// set, and a longer window never allows fewer requests than a shorter one
/// (`validate_periods_order`). Gatekey checks this when it loads the policy, so a policy Kong
/// would refuse is never accepted only to fail at every mint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitRefusal {
    #[error("set at least one of second, minute, hour, day")]
    NoWindow,
    #[error("{window} must be above 0 (Kong: value must be greater than 0)")]
    NotPositive { window: &'static str },
    #[error(
        "{longer} ({longer_limit}) is lower than {shorter} ({shorter_limit}): Kong requires \
         second <= minute <= hour <= day among the windows set"
    )]
    Decreasing {
        shorter: &'static str,
        shorter_limit: u32,
        longer: &'static str,
        longer_limit: u32,
    },
}

impl RateLimit {
    /// The windows that are set, shortest first, with their limits.
    pub fn windows(&self) -> impl Iterator<Item = (&'static str, u32)> {
        [
            ("second", self.second),
            ("minute", self.minute),
            ("hour", self.hour),
            ("day", self.day),
        ]
        .into_iter()
        .filter_map(|(name, limit)| limit.map(|limit| (name, limit)))
    }

    /// Refuses what Kong's `rate-limiting` schema refuses; the first problem in Kong's order
    /// (each window's own bound, then the order of the windows).
    pub fn check(&self) -> Result<(), RateLimitRefusal> {
        let windows: Vec<(&'static str, u32)> = self.windows().collect();
        if windows.is_empty() {
            return Err(RateLimitRefusal::NoWindow);
        }
        if let Some((window, _)) = windows.iter().find(|(_, limit)| *limit == 0) {
            return Err(RateLimitRefusal::NotPositive { window });
        }
        for (i, (shorter, shorter_limit)) in windows.iter().enumerate() {
            if let Some((longer, longer_limit)) = windows[i + 1..]
                .iter()
                .find(|(_, longer_limit)| longer_limit < shorter_limit)
            {
                return Err(RateLimitRefusal::Decreasing {
                    shorter,
                    shorter_limit: *shorter_limit,
                    longer,
                    longer_limit: *longer_limit,
                });
            }
        }
        Ok(())
    }
}

fn default_key_header() -> String {
    "apikey".to_owned()
}

fn default_min_ttl() -> u32 {
    DEFAULT_MIN_TTL_SECONDS
}

/// Why a policy document was refused; `location` points into the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy is not valid {format}: {message}")]
    Syntax {
        format: &'static str,
        message: String,
    },
    #[error("policy is invalid:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<PolicyProblem> },
}

/// One problem found while validating a policy document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct PolicyProblem {
    pub location: String,
    pub message: String,
}

/// Longest source revision accepted (a git commit is 40 or 64 hex digits; tags are longer).
pub const MAX_SOURCE_REVISION_LEN: usize = 128;

/// A validated policy, ready to answer questions. It carries its revision, so every decision
/// made with it can name the policy that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    admin_groups: BTreeSet<String>,
    apis: BTreeMap<String, ApiPolicy>,
    revision: PolicyRevision,
}

/// The `group_prefix` of every trusted issuer. The token verifier prepends its issuer's prefix to
/// every group a caller holds, so a group granted in the policy names the issuer it may come from
/// by starting with that prefix. A grant that starts with none of them could be matched by a group
/// of any issuer: with prefixes declared, such a grant is a configuration error. Without any (a
/// single trusted issuer, no prefix) every group qualifies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupPrefixes(Vec<String>);

impl GroupPrefixes {
    /// The declared prefixes; empty ones are ignored.
    pub fn new(prefixes: impl IntoIterator<Item = String>) -> Self {
        let mut prefixes: Vec<String> = prefixes.into_iter().filter(|p| !p.is_empty()).collect();
        prefixes.sort();
        prefixes.dedup();
        Self(prefixes)
    }

    /// Whether `group` names an issuer (always true when no prefix is declared).
    pub fn qualifies(&self, group: &str) -> bool {
        self.0.is_empty()
            || self
                .0
                .iter()
                .any(|prefix| group.starts_with(prefix.as_str()))
    }

    /// A problem for every group of `api`'s scopes that names no issuer, located at
    /// `<at>scopes[j] (name).allowed_groups[k]` (`at` is e.g. `apis[0] (orders).`).
    pub fn unqualified_in_api(&self, api: &ApiPolicy, at: &str) -> Vec<PolicyProblem> {
        let mut problems = Vec::new();
        for (j, scope) in api.scopes.iter().enumerate() {
            for (k, group) in scope.allowed_groups.iter().enumerate() {
                if !self.qualifies(group) {
                    problems.push(self.problem(
                        format!("{at}scopes[{j}] ({}).allowed_groups[{k}]", scope.name),
                        group,
                    ));
                }
            }
        }
        problems
    }

    /// A problem for every group of `document` that names no issuer: `admin_groups` and each
    /// scope's `allowed_groups`.
    pub fn unqualified_in_document(&self, document: &PolicyDocument) -> Vec<PolicyProblem> {
        let admins = document
            .admin_groups
            .iter()
            .enumerate()
            .filter(|(_, group)| !self.qualifies(group))
            .map(|(i, group)| self.problem(format!("admin_groups[{i}]"), group));
        let scopes =
            document.apis.iter().enumerate().flat_map(|(i, api)| {
                self.unqualified_in_api(api, &format!("apis[{i}] ({}).", api.id))
            });
        admins.chain(scopes).collect()
    }

    fn problem(&self, location: String, group: &str) -> PolicyProblem {
        PolicyProblem {
            location,
            message: format!(
                "group '{group}' starts with none of the trusted issuers' group prefixes ({}): \
                 with several issuers, a grant must name the issuer its group comes from",
                self.0.join(", ")
            ),
        }
    }
}

impl PolicyDocument {
    /// Parses YAML (`.yaml`/`.yml`) or TOML (`.toml`) by file extension, without validating.
    pub fn parse(file_name: &str, text: &str) -> Result<Self, PolicyError> {
        let is_toml = std::path::Path::new(file_name)
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"));
        if is_toml {
            Self::from_toml_str(text)
        } else {
            Self::from_yaml_str(text)
        }
    }

    pub fn from_yaml_str(text: &str) -> Result<Self, PolicyError> {
        serde_yaml_ng::from_str(text).map_err(|e| PolicyError::Syntax {
            format: "YAML",
            message: e.to_string(),
        })
    }

    pub fn from_toml_str(text: &str) -> Result<Self, PolicyError> {
        toml::from_str(text).map_err(|e| PolicyError::Syntax {
            format: "TOML",
            message: e.to_string(),
        })
    }

    /// Checks every rule and returns all problems at once, so a bad file is fixed in one pass.
    /// Group names are not checked against issuers (see [`Self::validate_for_issuers`]).
    pub fn validate(self) -> Result<Policy, PolicyError> {
        self.validate_for_issuers(&GroupPrefixes::default())
    }

    /// [`Self::validate`], plus: every group in `admin_groups` and in each scope's
    /// `allowed_groups` starts with one of `prefixes`.
    pub fn validate_for_issuers(self, prefixes: &GroupPrefixes) -> Result<Policy, PolicyError> {
        let mut problems = prefixes.unqualified_in_document(&self);
        let mut problem = |location: String, message: &str| {
            problems.push(PolicyProblem {
                location,
                message: message.to_owned(),
            });
        };
        if self.version != POLICY_VERSION {
            problem(
                "version".into(),
                &format!(
                    "unsupported version {} (expected {POLICY_VERSION})",
                    self.version
                ),
            );
        }
        for (i, group) in self.admin_groups.iter().enumerate() {
            if group.trim().is_empty() {
                problem(format!("admin_groups[{i}]"), "must not be empty");
            }
        }
        if let Some(source) = &self.source_revision
            && !is_source_revision(source)
        {
            problem(
                "source_revision".into(),
                &format!(
                    "must be 1 to {MAX_SOURCE_REVISION_LEN} characters of letters, digits and \
                     . _ - / : +"
                ),
            );
        }
        let mut apis = BTreeMap::new();
        for (i, api) in self.apis.into_iter().enumerate() {
            let at = format!("apis[{i}] ({})", api.id);
            if !is_identifier(&api.id) {
                problem(
                    format!("{at}.id"),
                    "must match [a-z0-9][a-z0-9._-]* and be at most 64 characters",
                );
            }
            if api.title.trim().is_empty() {
                problem(format!("{at}.title"), "must not be empty");
            }
            if api.kong_service.trim().is_empty() {
                problem(format!("{at}.kong_service"), "must not be empty");
            }
            if !(api.gateway_url.starts_with("http://") || api.gateway_url.starts_with("https://"))
            {
                problem(
                    format!("{at}.gateway_url"),
                    "must be an absolute http(s) URL",
                );
            }
            if !is_header_name(&api.key_header) {
                problem(
                    format!("{at}.key_header"),
                    "must be a valid HTTP header name",
                );
            }
            check_ttls(&api, &at, &mut problem);
            if let Some(Err(refusal)) = api.rate_limit.as_ref().map(RateLimit::check) {
                problem(format!("{at}.rate_limit"), &refusal.to_string());
            }
            if api.scopes.is_empty() {
                problem(format!("{at}.scopes"), "an API needs at least one scope");
            }
            check_scopes(&api, &at, &mut problem);
            if apis.contains_key(&api.id) {
                problem(format!("{at}.id"), "duplicate API id");
            } else {
                apis.insert(api.id.clone(), api);
            }
        }
        if problems.is_empty() {
            let admin_groups = self.admin_groups.into_iter().collect();
            let revision = PolicyRevision::of(&admin_groups, &apis, self.source_revision);
            Ok(Policy {
                admin_groups,
                apis,
                revision,
            })
        } else {
            Err(PolicyError::Invalid { problems })
        }
    }
}

/// Scope names are identifiers and unique within the API; each scope grants a Kong-safe ACL group
/// to at least one named caller group.
fn check_scopes(api: &ApiPolicy, at: &str, problem: &mut impl FnMut(String, &str)) {
    let mut names = BTreeSet::new();
    for (j, scope) in api.scopes.iter().enumerate() {
        let sat = format!("{at}.scopes[{j}] ({})", scope.name);
        if !is_identifier(&scope.name) {
            problem(format!("{sat}.name"), "must match [a-z0-9][a-z0-9._-]*");
        }
        if !names.insert(scope.name.as_str()) {
            problem(format!("{sat}.name"), "duplicate scope name");
        }
        if !is_kong_tag_safe(&scope.acl_group) {
            problem(
                format!("{sat}.acl_group"),
                "must be non-empty printable text without ',' or '/'",
            );
        }
        if scope.allowed_groups.is_empty() {
            problem(
                format!("{sat}.allowed_groups"),
                "a scope needs at least one group that may request it",
            );
        }
        if scope.allowed_groups.iter().any(|g| g.trim().is_empty()) {
            problem(
                format!("{sat}.allowed_groups"),
                "group names must not be empty",
            );
        }
    }
}

fn check_ttls(api: &ApiPolicy, at: &str, problem: &mut impl FnMut(String, &str)) {
    if api.min_ttl_seconds == 0 {
        problem(
            format!("{at}.min_ttl_seconds"),
            "must be at least 1 (a credential without expiry is never issued)",
        );
    }
    if api.max_ttl_seconds > KONG_MAX_TTL_SECONDS {
        problem(
            format!("{at}.max_ttl_seconds"),
            &format!("must be at most {KONG_MAX_TTL_SECONDS} (Kong's limit)"),
        );
    }
    if api.min_ttl_seconds > api.max_ttl_seconds {
        problem(
            format!("{at}.min_ttl_seconds"),
            "must not exceed max_ttl_seconds",
        );
    }
    if api.default_ttl_seconds < api.min_ttl_seconds
        || api.default_ttl_seconds > api.max_ttl_seconds
    {
        problem(
            format!("{at}.default_ttl_seconds"),
            "must lie between min_ttl_seconds and max_ttl_seconds",
        );
    }
}

/// Identifiers end up in URLs and Kong tags: keep them boring (1 to 64 characters of lowercase
/// ASCII letters, digits, `.`, `_` and `-`, starting with a letter or digit).
pub fn is_identifier(value: &str) -> bool {
    let mut chars = value.chars();
    value.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// Kong tags and ACL group names: printable, no `,` or `/` (they are list separators in queries).
pub fn is_kong_tag_safe(value: &str) -> bool {
    !value.trim().is_empty()
        && value
            .chars()
            .all(|c| !c.is_control() && c != ',' && c != '/')
}

/// A source revision is shown in answers and logs and stored with every load event: a git commit,
/// tag or branch name, nothing that could carry markup or a line break.
pub fn is_source_revision(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_SOURCE_REVISION_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '+'))
}

fn is_header_name(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// What a caller asks for when minting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintRequest {
    pub scopes: Vec<String>,
    pub ttl_seconds: Option<u32>,
}

/// A decided, allowed mint: everything the Kong side needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintGrant {
    pub api_id: String,
    /// Requested scopes, deduplicated and sorted.
    pub scopes: Vec<String>,
    /// The Kong ACL groups of those scopes, in the same order.
    pub acl_groups: Vec<String>,
    /// The caller's groups that allow at least one requested scope, sorted: the groups the grant
    /// came from, so access granted through a group can be found (and revoked) later.
    pub granting_groups: Vec<String>,
    pub ttl_seconds: u32,
    pub rate_limit: Option<RateLimit>,
}

/// Machine-readable reasons for a refused request; stable strings for audit and problem codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    UnknownApi,
    NoScopesRequested,
    UnknownScope,
    ScopeNotAllowed,
    TtlAboveMax,
    TtlBelowMin,
    NotOwner,
    NotAdmin,
}

impl DenyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownApi => "unknown_api",
            Self::NoScopesRequested => "no_scopes_requested",
            Self::UnknownScope => "unknown_scope",
            Self::ScopeNotAllowed => "scope_not_allowed",
            Self::TtlAboveMax => "ttl_above_max",
            Self::TtlBelowMin => "ttl_below_min",
            Self::NotOwner => "not_owner",
            Self::NotAdmin => "not_admin",
        }
    }
}

impl std::fmt::Display for DenyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request: the reason, and a sentence safe to show the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Denial {
    pub reason: DenyReason,
    pub detail: String,
}

impl Denial {
    fn new(reason: DenyReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

/// An API as one caller sees it: only the scopes that caller may request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisibleApi<'a> {
    pub api: &'a ApiPolicy,
    pub requestable_scopes: Vec<&'a ScopePolicy>,
}

impl Policy {
    /// Parses YAML (`.yaml`/`.yml`) or TOML (`.toml`) by file extension and validates it.
    pub fn parse(file_name: &str, text: &str) -> Result<Self, PolicyError> {
        PolicyDocument::parse(file_name, text)?.validate()
    }

    /// The revision of this policy: the digest of its rules and where they came from.
    pub fn revision(&self) -> &PolicyRevision {
        &self.revision
    }

    /// This policy with `source` as its source revision (the environment's word wins over the
    /// file's); the digest stays, as the rules do.
    #[must_use]
    pub fn with_source_revision(mut self, source: Option<String>) -> Self {
        if source.is_some() {
            self.revision.source = source;
        }
        self
    }

    /// The policy as a document again: what `GET /v1/policy` shows and what a merge starts from.
    pub fn to_document(&self) -> PolicyDocument {
        PolicyDocument {
            version: POLICY_VERSION,
            source_revision: self.revision.source.clone(),
            admin_groups: self.admin_groups.iter().cloned().collect(),
            apis: self.apis.values().cloned().collect(),
        }
    }

    pub fn is_admin(&self, principal: &Principal) -> bool {
        principal
            .groups
            .iter()
            .any(|group| self.admin_groups.contains(group))
    }

    /// Groups whose members are admins.
    pub fn admin_groups(&self) -> impl Iterator<Item = &String> {
        self.admin_groups.iter()
    }

    pub fn api(&self, id: &str) -> Option<&ApiPolicy> {
        self.apis.get(id)
    }

    pub fn apis(&self) -> impl Iterator<Item = &ApiPolicy> {
        self.apis.values()
    }

    /// The API and the scopes `principal` may request; `None` when it may request none.
    pub fn visible_api<'a>(&'a self, principal: &Principal, id: &str) -> Option<VisibleApi<'a>> {
        self.apis.get(id).and_then(|api| visible(api, principal))
    }

    /// Every API `principal` may request at least one scope of, ordered by id.
    pub fn visible_apis<'a>(&'a self, principal: &Principal) -> Vec<VisibleApi<'a>> {
        self.apis
            .values()
            .filter_map(|api| visible(api, principal))
            .collect()
    }

    /// Decides a mint request. Pure: quotas that need counts are checked by the caller.
    pub fn decide_mint(
        &self,
        principal: &Principal,
        api_id: &str,
        request: &MintRequest,
    ) -> Result<MintGrant, Denial> {
        let api = self
            .apis
            .get(api_id)
            .ok_or_else(|| Denial::new(DenyReason::UnknownApi, format!("no API '{api_id}'")))?;
        let requested: BTreeSet<&str> = request.scopes.iter().map(String::as_str).collect();
        if requested.is_empty() {
            return Err(Denial::new(
                DenyReason::NoScopesRequested,
                "ask for at least one scope",
            ));
        }
        let mut scopes = Vec::with_capacity(requested.len());
        let mut acl_groups = Vec::with_capacity(requested.len());
        let mut granting_groups = BTreeSet::new();
        for name in requested {
            let scope = api.scopes.iter().find(|s| s.name == name).ok_or_else(|| {
                Denial::new(
                    DenyReason::UnknownScope,
                    format!("API '{api_id}' has no scope '{name}'"),
                )
            })?;
            if !may_request(scope, principal) {
                return Err(Denial::new(
                    DenyReason::ScopeNotAllowed,
                    format!("none of your groups may request scope '{name}' of API '{api_id}'"),
                ));
            }
            scopes.push(scope.name.clone());
            acl_groups.push(scope.acl_group.clone());
            granting_groups.extend(
                scope
                    .allowed_groups
                    .iter()
                    .filter(|group| principal.groups.contains(*group))
                    .cloned(),
            );
        }
        let ttl_seconds = request.ttl_seconds.unwrap_or(api.default_ttl_seconds);
        if ttl_seconds > api.max_ttl_seconds {
            return Err(Denial::new(
                DenyReason::TtlAboveMax,
                format!(
                    "ttl_seconds {ttl_seconds} exceeds the maximum of {} for API '{api_id}'",
                    api.max_ttl_seconds
                ),
            ));
        }
        if ttl_seconds < api.min_ttl_seconds {
            return Err(Denial::new(
                DenyReason::TtlBelowMin,
                format!(
                    "ttl_seconds {ttl_seconds} is below the minimum of {} for API '{api_id}'",
                    api.min_ttl_seconds
                ),
            ));
        }
        Ok(MintGrant {
            api_id: api.id.clone(),
            scopes,
            acl_groups,
            granting_groups: granting_groups.into_iter().collect(),
            ttl_seconds,
            rate_limit: api.rate_limit,
        })
    }

    /// May `principal` read or revoke a credential issued to `owner_subject` by `owner_issuer`?
    pub fn decide_credential_access(
        &self,
        principal: &Principal,
        owner_issuer: &str,
        owner_subject: &str,
    ) -> Result<(), Denial> {
        if principal.subject == owner_subject && principal.issuer == owner_issuer {
            return Ok(());
        }
        if self.is_admin(principal) {
            return Ok(());
        }
        Err(Denial::new(
            DenyReason::NotOwner,
            "this credential belongs to someone else",
        ))
    }

    /// Admin-only reads (the audit trail, everyone's credentials).
    pub fn decide_admin(&self, principal: &Principal) -> Result<(), Denial> {
        if self.is_admin(principal) {
            Ok(())
        } else {
            Err(Denial::new(
                DenyReason::NotAdmin,
                "this needs membership in an admin group",
            ))
        }
    }
}

fn may_request(scope: &ScopePolicy, principal: &Principal) -> bool {
    scope
        .allowed_groups
        .iter()
        .any(|group| principal.groups.contains(group))
}

fn visible<'a>(api: &'a ApiPolicy, principal: &Principal) -> Option<VisibleApi<'a>> {
    let requestable_scopes: Vec<&ScopePolicy> = api
        .scopes
        .iter()
        .filter(|scope| may_request(scope, principal))
        .collect();
    (!requestable_scopes.is_empty()).then_some(VisibleApi {
        api,
        requestable_scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r"
version: 1
admin_groups: [group:default/platform]
apis:
  - id: orders
    title: Orders API
    kong_service: orders
    gateway_url: http://127.0.0.1:8000/orders
    default_ttl_seconds: 900
    max_ttl_seconds: 3600
    rate_limit: {minute: 60}
    scopes:
      - name: read
        acl_group: orders-read
        allowed_groups: [group:default/payments, group:default/orders]
      - name: write
        acl_group: orders-write
        allowed_groups: [group:default/orders]
  - id: billing
    title: Billing API
    kong_service: billing
    gateway_url: https://gw.example.com/billing
    key_header: x-api-key
    default_ttl_seconds: 300
    max_ttl_seconds: 600
    min_ttl_seconds: 120
    scopes:
      - name: read
        acl_group: billing-read
        allowed_groups: [group:default/finance]
";

    fn policy() -> Policy {
        Policy::parse("policy.yaml", POLICY).expect("test policy is valid")
    }

    fn principal(groups: &[&str]) -> Principal {
        Principal::new(
            "https://idp.example.com",
            "user:default/jane",
            groups.iter().map(|g| (*g).to_owned()),
        )
    }

    fn mint(scopes: &[&str], ttl: Option<u32>) -> MintRequest {
        MintRequest {
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            ttl_seconds: ttl,
        }
    }

    fn reason(result: Result<MintGrant, Denial>) -> DenyReason {
        result.expect_err("expected a denial").reason
    }

    #[test]
    fn visible_apis_lists_only_apis_with_a_requestable_scope() {
        let policy = policy();
        let payments = principal(&["group:default/payments"]);
        let visible = policy.visible_apis(&payments);
        assert_eq!(visible.len(), 1);
        assert_eq!(visible[0].api.id, "orders");
        let names: Vec<_> = visible[0]
            .requestable_scopes
            .iter()
            .map(|s| &s.name)
            .collect();
        assert_eq!(names, ["read"]);
        assert!(
            policy
                .visible_apis(&principal(&["group:default/nobody"]))
                .is_empty()
        );
    }

    #[test]
    fn grant_names_the_callers_groups_that_allowed_a_requested_scope() {
        let caller = principal(&[
            "group:default/payments",
            "group:default/orders",
            "group:default/unrelated",
        ]);
        let read = policy()
            .decide_mint(&caller, "orders", &mint(&["read"], None))
            .expect("read is allowed");
        assert_eq!(
            read.granting_groups,
            ["group:default/orders", "group:default/payments"]
        );
        let write = policy()
            .decide_mint(&caller, "orders", &mint(&["write"], None))
            .expect("write is allowed");
        assert_eq!(write.granting_groups, ["group:default/orders"]);
    }

    #[test]
    fn grant_carries_sorted_scopes_their_acl_groups_and_rate_limit() {
        let grant = policy()
            .decide_mint(
                &principal(&["group:default/orders"]),
                "orders",
                &mint(&["write", "read", "read"], Some(600)),
            )
            .expect("allowed");
        assert_eq!(grant.scopes, ["read", "write"]);
        assert_eq!(grant.acl_groups, ["orders-read", "orders-write"]);
        assert_eq!(grant.ttl_seconds, 600);
        assert_eq!(grant.rate_limit.and_then(|r| r.minute), Some(60));
    }

    #[test]
    fn missing_ttl_uses_the_api_default() {
        let grant = policy()
            .decide_mint(
                &principal(&["group:default/orders"]),
                "orders",
                &mint(&["read"], None),
            )
            .expect("allowed");
        assert_eq!(grant.ttl_seconds, 900);
    }

    #[test]
    fn each_denial_has_its_reason() {
        let policy = policy();
        let payments = principal(&["group:default/payments"]);
        let cases = [
            ("nope", mint(&["read"], None), DenyReason::UnknownApi),
            ("orders", mint(&[], None), DenyReason::NoScopesRequested),
            ("orders", mint(&["admin"], None), DenyReason::UnknownScope),
            (
                "orders",
                mint(&["write"], None),
                DenyReason::ScopeNotAllowed,
            ),
            (
                "orders",
                mint(&["read", "write"], None),
                DenyReason::ScopeNotAllowed,
            ),
            (
                "orders",
                mint(&["read"], Some(3601)),
                DenyReason::TtlAboveMax,
            ),
            ("orders", mint(&["read"], Some(59)), DenyReason::TtlBelowMin),
            (
                "billing",
                mint(&["read"], None),
                DenyReason::ScopeNotAllowed,
            ),
        ];
        for (api, request, expected) in cases {
            assert_eq!(
                reason(policy.decide_mint(&payments, api, &request)),
                expected,
                "{api} {request:?}"
            );
        }
    }

    #[test]
    fn ttl_bounds_are_inclusive() {
        let policy = policy();
        let finance = principal(&["group:default/finance"]);
        for ttl in [120, 600] {
            assert!(
                policy
                    .decide_mint(&finance, "billing", &mint(&["read"], Some(ttl)))
                    .is_ok()
            );
        }
    }

    #[test]
    fn admins_are_recognised_by_group() {
        let policy = policy();
        assert!(policy.is_admin(&principal(&["group:default/platform"])));
        assert!(!policy.is_admin(&principal(&["group:default/orders"])));
        assert_eq!(
            policy
                .decide_admin(&principal(&["group:default/orders"]))
                .expect_err("not admin")
                .reason,
            DenyReason::NotAdmin
        );
    }

    #[test]
    fn credential_access_is_owner_or_admin_and_owner_means_same_issuer_too() {
        let policy = policy();
        let jane = principal(&[]);
        assert!(
            policy
                .decide_credential_access(&jane, "https://idp.example.com", "user:default/jane")
                .is_ok()
        );
        let other_issuer =
            policy.decide_credential_access(&jane, "https://ci.example.com", "user:default/jane");
        assert_eq!(
            other_issuer.expect_err("denied").reason,
            DenyReason::NotOwner
        );
        let someone_else =
            policy.decide_credential_access(&jane, "https://idp.example.com", "user:default/bob");
        assert_eq!(
            someone_else.expect_err("denied").reason,
            DenyReason::NotOwner
        );
        let admin = principal(&["group:default/platform"]);
        assert!(
            policy
                .decide_credential_access(&admin, "https://idp.example.com", "user:default/bob")
                .is_ok()
        );
    }

    #[test]
    fn toml_policies_parse_like_yaml() {
        let toml = r#"
version = 1
[[apis]]
id = "orders"
title = "Orders"
kong_service = "orders"
gateway_url = "http://127.0.0.1:8000/orders"
default_ttl_seconds = 60
max_ttl_seconds = 60
[[apis.scopes]]
name = "read"
acl_group = "orders-read"
allowed_groups = ["team-a"]
"#;
        let policy = Policy::parse("policy.toml", toml).expect("valid TOML policy");
        let api = policy.api("orders").expect("orders");
        assert_eq!(api.key_header, "apikey");
        assert_eq!(api.min_ttl_seconds, DEFAULT_MIN_TTL_SECONDS);
    }

    #[test]
    fn validation_reports_every_problem_with_its_location() {
        let bad = r"
version: 2
apis:
  - id: Orders!
    title: ''
    kong_service: orders
    gateway_url: ftp://x
    key_header: 'bad header'
    default_ttl_seconds: 10
    max_ttl_seconds: 5
    min_ttl_seconds: 0
    rate_limit: {}
    scopes:
      - {name: read, acl_group: 'a,b', allowed_groups: ['']}
      - {name: read, acl_group: ok, allowed_groups: []}
";
        let PolicyError::Invalid { problems } =
            Policy::parse("p.yaml", bad).expect_err("invalid policy")
        else {
            panic!("expected validation problems");
        };
        let locations: Vec<_> = problems.iter().map(|p| p.location.as_str()).collect();
        for expected in [
            "version",
            "apis[0] (Orders!).id",
            "apis[0] (Orders!).title",
            "apis[0] (Orders!).gateway_url",
            "apis[0] (Orders!).key_header",
            "apis[0] (Orders!).min_ttl_seconds",
            "apis[0] (Orders!).default_ttl_seconds",
            "apis[0] (Orders!).rate_limit",
            "apis[0] (Orders!).scopes[0] (read).acl_group",
            "apis[0] (Orders!).scopes[0] (read).allowed_groups",
            "apis[0] (Orders!).scopes[1] (read).name",
            "apis[0] (Orders!).scopes[1] (read).allowed_groups",
        ] {
            assert!(
                locations.contains(&expected),
                "missing {expected} in {locations:?}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_bad_syntax_are_refused_with_the_format_named() {
        let err =
            Policy::parse("p.yaml", "version: 1\nflavour: mint\n").expect_err("unknown field");
        assert!(
            matches!(err, PolicyError::Syntax { format: "YAML", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("flavour"), "{err}");
        let err = Policy::parse("p.toml", "version = ").expect_err("bad toml");
        assert!(
            matches!(err, PolicyError::Syntax { format: "TOML", .. }),
            "{err}"
        );
    }

    #[test]
    fn with_issuer_prefixes_every_granted_group_must_name_its_issuer() {
        let prefixes = GroupPrefixes::new(["idp:".to_owned(), "gha:".to_owned(), String::new()]);
        let qualified = POLICY.replace("group:default/", "idp:group:default/");
        assert!(
            PolicyDocument::from_yaml_str(&qualified)
                .expect("yaml")
                .validate_for_issuers(&prefixes)
                .is_ok()
        );
        let mixed = qualified
            .replace("[idp:group:default/platform]", "[group:default/platform]")
            .replace(
                "[idp:group:default/payments, idp:group:default/orders]",
                "[idp:group:default/payments, gha-team]",
            );
        let PolicyError::Invalid { problems } = PolicyDocument::from_yaml_str(&mixed)
            .expect("yaml")
            .validate_for_issuers(&prefixes)
            .expect_err("unqualified grants")
        else {
            panic!("expected validation problems");
        };
        let found: Vec<(&str, bool)> = problems
            .iter()
            .map(|p| (p.location.as_str(), p.message.contains("(gha:, idp:)")))
            .collect();
        assert_eq!(
            found,
            [
                ("admin_groups[0]", true),
                ("apis[0] (orders).scopes[0] (read).allowed_groups[1]", true),
            ]
        );
        assert!(problems[1].message.contains("'gha-team'"), "{problems:?}");
    }

    #[test]
    fn without_prefixes_every_group_qualifies_and_plain_validation_ignores_them() {
        assert!(GroupPrefixes::default().qualifies("anything"));
        assert!(GroupPrefixes::new([String::new()]).qualifies("anything"));
        let prefixes = GroupPrefixes::new(["idp:".to_owned()]);
        assert!(prefixes.qualifies("idp:team"));
        assert!(!prefixes.qualifies("team"));
        assert!(
            !prefixes.qualifies("IDP:team"),
            "prefixes are case-sensitive"
        );
        assert!(Policy::parse("policy.yaml", POLICY).is_ok());
    }

    #[test]
    fn rate_limit_windows_follow_kongs_schema() {
        let limit = |second, minute, hour, day| RateLimit {
            second,
            minute,
            hour,
            day,
        };
        assert_eq!(limit(None, Some(60), None, None).check(), Ok(()));
        assert_eq!(
            limit(Some(1), Some(60), Some(60), Some(1000)).check(),
            Ok(()),
            "equal neighbours are allowed"
        );
        assert_eq!(
            limit(None, None, None, None).check(),
            Err(RateLimitRefusal::NoWindow)
        );
        assert_eq!(
            limit(None, Some(0), None, None).check(),
            Err(RateLimitRefusal::NotPositive { window: "minute" })
        );
        assert_eq!(
            limit(Some(10), Some(100), None, Some(50)).check(),
            Err(RateLimitRefusal::Decreasing {
                shorter: "minute",
                shorter_limit: 100,
                longer: "day",
                longer_limit: 50,
            }),
            "windows that are not neighbours are compared too"
        );
        assert_eq!(
            limit(Some(10), Some(5), None, None)
                .check()
                .map_err(|refusal| refusal.to_string()),
            Err(
                "minute (5) is lower than second (10): Kong requires second <= minute <= hour \
                 <= day among the windows set"
                    .to_owned()
            )
        );
    }

    #[test]
    fn a_policy_whose_rate_limit_kong_would_refuse_is_refused_naming_the_api() {
        let decreasing = POLICY.replace(
            "rate_limit: {minute: 60}",
            "rate_limit: {minute: 60, hour: 30}",
        );
        assert_ne!(decreasing, POLICY, "the fixture sets a minute limit");
        let PolicyError::Invalid { problems } =
            Policy::parse("p.yaml", &decreasing).expect_err("decreasing windows")
        else {
            panic!("expected validation problems");
        };
        assert_eq!(
            problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "apis[0] (orders).rate_limit: hour (30) is lower than minute (60): Kong requires \
              second <= minute <= hour <= day among the windows set"
            ]
        );
    }

    #[test]
    fn duplicate_api_ids_are_refused() {
        let doc = PolicyDocument::from_yaml_str(POLICY).expect("yaml");
        let mut twice = doc.clone();
        twice.apis.push(doc.apis[0].clone());
        let err = twice.validate().expect_err("duplicate");
        assert!(err.to_string().contains("duplicate API id"), "{err}");
    }

    /// The bad inputs a reload must refuse (each with its place in the document and the reason;
    /// the server adds the file), as the fuzz target `policy_validation` starts from.
    #[test]
    fn each_bad_input_is_refused_with_its_place_and_reason() {
        let prefixes = GroupPrefixes::new(["group:default/".to_owned()]);
        let refusal = |text: &str| {
            PolicyDocument::from_yaml_str(text)
                .and_then(|document| document.validate_for_issuers(&prefixes))
                .expect_err("refused")
                .to_string()
        };
        let cases = [
            (
                POLICY.replace(
                    "    title: Billing API\n",
                    "    title: Billing API\n    colour: blue\n",
                ),
                "apis[1]: unknown field `colour`",
            ),
            (
                format!(
                    "{POLICY}{}",
                    &POLICY[POLICY.find("  - id: billing").unwrap_or(0)..]
                ),
                "apis[2] (billing).id: duplicate API id",
            ),
            (
                POLICY.replace(
                    "allowed_groups: [group:default/finance]",
                    "allowed_groups: []",
                ),
                "apis[1] (billing).scopes[0] (read).allowed_groups: a scope needs at least one group",
            ),
            (
                POLICY.replace("group:default/finance", "finance"),
                "apis[1] (billing).scopes[0] (read).allowed_groups[0]: group 'finance' starts with \
                 none of the trusted issuers' group prefixes",
            ),
            (
                POLICY.replace("max_ttl_seconds: 600", "max_ttl_seconds: 100000001"),
                "apis[1] (billing).max_ttl_seconds: must be at most 100000000 (Kong's limit)",
            ),
            (
                format!("source_revision: \"a b\"\n{POLICY}"),
                "source_revision: must be 1 to 128 characters",
            ),
        ];
        for (text, expected) in cases {
            let refusal = refusal(&text);
            assert!(
                refusal.contains(expected),
                "expected {expected:?} in {refusal}"
            );
        }
    }
}
