//! Trusted issuers and verification limits, validated once at startup so a bad setting fails with
//! a readable list of every problem rather than with refused tokens later.
//!
//! [`IssuerConfig`] is also the `[[auth.issuers]]` table of Gatekey's configuration file,
//! deserialized as is: one definition of an issuer's settings, no copy in the server.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use openidconnect::core::CoreJwsSigningAlgorithm;
use openidconnect::{IssuerUrl, JsonWebTokenType, NormalizedJsonWebTokenType};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::presets::IssuerPreset;

/// Largest clock skew the configuration may allow.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Algorithms an issuer may be pinned to: asymmetric only. `none` and HS* are never accepted.
pub const SUPPORTED_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// A claim holding groups, and the prefix added to each of its values.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsClaim {
    /// Dot path into the claims, e.g. `groups` or `realm_access.roles`. The value may be a string
    /// or an array of strings; anything else contributes no group.
    pub path: String,
    /// Prepended to every value, e.g. `ci:repo:`.
    #[serde(default)]
    pub prefix: Option<String>,
}

/// A claim every token of an issuer must carry with one of the accepted values; the caller is not
/// trusted at all otherwise. For issuers shared beyond the company (a public CI platform), this is
/// what confines them to the company's own repositories, e.g. `repository_owner_id` in
/// `["1234567"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredClaim {
    /// Dot path into the claims, like [`GroupsClaim::path`].
    pub path: String,
    /// The claim must equal one of these: a string claim as is, a number or boolean claim in its
    /// canonical JSON text (`1234567`, `true`). A missing claim, or an array, object or `null`,
    /// never matches.
    pub accepted: Vec<String>,
}

/// One trusted issuer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Label for logs, `/v1/me` and readiness reports.
    pub name: String,
    /// Exact `iss` value. Discovery is at `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// Accepted audiences: at least one must be in `aud` (other audiences may be present too).
    pub audiences: Vec<String>,
    /// Pinned signing algorithms, from [`SUPPORTED_ALGORITHMS`].
    pub algorithms: Vec<String>,
    /// Dot path of the subject claim; `sub` by default.
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// Where the caller's groups are.
    #[serde(default)]
    pub groups_claims: Vec<GroupsClaim>,
    /// A CI system's claim mapping, adding its groups to those of `groups_claims`. A preset of a
    /// public CI platform needs [`IssuerConfig::required_claims`].
    #[serde(default)]
    pub preset: Option<IssuerPreset>,
    /// Claims a token must carry, with accepted values, before anything else is read from it. In
    /// the configuration file a table of dot paths to one value or a list of values, strings or
    /// integers, e.g. `{ repository_owner_id = ["1234567"] }`.
    #[serde(
        default,
        deserialize_with = "required_claims_from_table",
        serialize_with = "required_claims_to_table"
    )]
    pub required_claims: Vec<RequiredClaim>,
    /// JOSE `typ` values accepted besides `JWT` (e.g. `vnd.backstage.user`); compared after
    /// normalization (lowercase, `application/` prefix added when there is no `/`).
    #[serde(default)]
    pub allowed_jose_types: Vec<String>,
    /// Prepended to every group this issuer yields (claims, userinfo and preset groups), e.g.
    /// `idp:`, so equal group names from two issuers never match each other's grants. Required
    /// when more than one issuer is trusted (see [`group_prefix_problems`]).
    #[serde(default)]
    pub group_prefix: Option<String>,
    /// When none of `groups_claims` is in the token, read them from the issuer's userinfo
    /// endpoint with the caller's token (cached until the token expires). For Backstage, whose
    /// user tokens omit `ent` by default.
    #[serde(default)]
    pub groups_from_userinfo: bool,
    /// Tokens of this issuer are accepted only with the Backstage proxy's secret (checked by the
    /// server): for Backstage user tokens, which Backstage hands to every plugin and proxy target.
    #[serde(default)]
    pub requires_proxy_secret: bool,
}

fn default_subject_claim() -> String {
    "sub".to_owned()
}

/// What a required claim may hold in the configuration file: one value or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum AcceptedValues {
    One(ClaimValue),
    AnyOf(Vec<ClaimValue>),
}

/// A value a claim is compared with. An integer stands for its decimal text, which is also how a
/// numeric claim in a token is compared.
#[derive(Deserialize)]
#[serde(untagged)]
enum ClaimValue {
    Text(String),
    Integer(i64),
}

impl ClaimValue {
    fn into_text(self) -> String {
        match self {
            Self::Text(text) => text,
            Self::Integer(number) => number.to_string(),
        }
    }
}

fn required_claims_from_table<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<RequiredClaim>, D::Error> {
    let table = BTreeMap::<String, AcceptedValues>::deserialize(deserializer)?;
    Ok(table
        .into_iter()
        .map(|(path, accepted)| RequiredClaim {
            path,
            accepted: match accepted {
                AcceptedValues::One(value) => vec![value.into_text()],
                AcceptedValues::AnyOf(values) => {
                    values.into_iter().map(ClaimValue::into_text).collect()
                }
            },
        })
        .collect())
}

fn required_claims_to_table<S: Serializer>(
    claims: &[RequiredClaim],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(claims.iter().map(|claim| (&claim.path, &claim.accepted)))
}

impl IssuerConfig {
    /// `groups` with this issuer's `group_prefix` prepended to each.
    pub(crate) fn qualify_groups(&self, groups: Vec<String>) -> Vec<String> {
        match self.group_prefix.as_deref() {
            None | Some("") => groups,
            Some(prefix) => groups
                .into_iter()
                .map(|group| format!("{prefix}{group}"))
                .collect(),
        }
    }
}

/// The rules on `group_prefix` across trusted issuers, given `(name, group_prefix)` pairs: with
/// more than one issuer, each declares a non-empty prefix, no two are equal and none is a prefix
/// of another (else `a:` would also qualify the groups of an issuer prefixed `a:b:`). A single
/// issuer needs none. Returns one sentence per problem.
pub fn group_prefix_problems<'a>(
    issuers: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Vec<String> {
    let issuers: Vec<(&str, &str)> = issuers
        .into_iter()
        .map(|(name, prefix)| (name, prefix.unwrap_or_default()))
        .collect();
    if issuers.len() < 2 {
        return Vec::new();
    }
    let mut problems = Vec::new();
    for (i, &(name, prefix)) in issuers.iter().enumerate() {
        if prefix.is_empty() {
            problems.push(format!(
                "issuer '{name}': declare a group_prefix (e.g. \"{name}:\"); with several \
                 issuers trusted, each one's groups must be told apart"
            ));
            continue;
        }
        for &(other, other_prefix) in &issuers[i + 1..] {
            if other_prefix.is_empty() {
                continue;
            }
            if prefix == other_prefix {
                problems.push(format!(
                    "issuers '{name}' and '{other}' declare the same group_prefix \"{prefix}\""
                ));
            } else if other_prefix.starts_with(prefix) || prefix.starts_with(other_prefix) {
                problems.push(format!(
                    "issuers '{name}' and '{other}': group_prefix \"{prefix}\" and \
                     \"{other_prefix}\" overlap (one starts with the other)"
                ));
            }
        }
    }
    problems
}

impl Default for IssuerConfig {
    /// Empty name, issuer and audiences (which validation refuses), RS256, subject `sub`.
    fn default() -> Self {
        Self {
            name: String::new(),
            issuer: String::new(),
            audiences: Vec::new(),
            algorithms: vec!["RS256".to_owned()],
            subject_claim: default_subject_claim(),
            groups_claims: Vec::new(),
            preset: None,
            required_claims: Vec::new(),
            allowed_jose_types: Vec::new(),
            group_prefix: None,
            groups_from_userinfo: false,
            requires_proxy_secret: false,
        }
    }
}

/// The verifier's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// Trusted issuers; at least one.
    pub issuers: Vec<IssuerConfig>,
    /// Tolerance for `exp`, `nbf` and `iat`; default 60 s, at most [`MAX_CLOCK_SKEW`].
    pub clock_skew: Duration,
    /// An unknown `kid` refreshes an issuer's JWKS at most this often (default 30 s). Failed
    /// fetches are retried after this interval or 5 s, whichever is shorter.
    pub jwks_refresh_min_interval: Duration,
    /// Keys older than this are re-fetched in the background on next use (default 1 h); the
    /// old keys keep working meanwhile, and for as long as the issuer cannot be reached, which
    /// readiness reports as degraded.
    pub jwks_max_age: Duration,
    /// Longer tokens are refused before parsing (default 16 KiB).
    pub max_token_bytes: usize,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            clock_skew: Duration::from_secs(60),
            jwks_refresh_min_interval: Duration::from_secs(30),
            jwks_max_age: Duration::from_secs(3600),
            max_token_bytes: 16 * 1024,
        }
    }
}

/// A configuration that cannot work; lists every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid token verification settings:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError(pub Vec<String>);

/// An issuer's settings in the types the verifier uses.
#[derive(Debug)]
pub(crate) struct ParsedIssuer {
    pub url: IssuerUrl,
    pub algorithms: Vec<CoreJwsSigningAlgorithm>,
    pub jose_types: Vec<NormalizedJsonWebTokenType>,
}

/// `typ` as `openidconnect` compares it.
pub(crate) fn normalize_jose_type(typ: &str) -> Option<NormalizedJsonWebTokenType> {
    JsonWebTokenType::new(typ.to_owned()).normalize().ok()
}

fn parse_algorithm(name: &str) -> Option<CoreJwsSigningAlgorithm> {
    if !SUPPORTED_ALGORITHMS.contains(&name) {
        return None;
    }
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

impl VerifierConfig {
    /// Checks everything and converts each issuer's settings, in configuration order.
    pub(crate) fn validate(&self) -> Result<Vec<ParsedIssuer>, ConfigError> {
        let mut problems = Vec::new();
        if self.issuers.is_empty() {
            problems.push("no trusted issuer is configured".to_owned());
        }
        if self.clock_skew > MAX_CLOCK_SKEW {
            problems.push(format!(
                "clock_skew is {} s; it must be at most {} s",
                self.clock_skew.as_secs(),
                MAX_CLOCK_SKEW.as_secs()
            ));
        }
        if self.max_token_bytes == 0 {
            problems.push("max_token_bytes must be positive".to_owned());
        }
        if self.jwks_max_age.is_zero() {
            problems.push("jwks_max_age must be positive".to_owned());
        }
        let mut names = HashSet::new();
        let mut urls = HashSet::new();
        let mut parsed = Vec::with_capacity(self.issuers.len());
        for issuer in &self.issuers {
            let at = format!("issuer '{}'", issuer.name);
            if issuer.name.is_empty() {
                problems.push(format!("issuer {}: give it a name", issuer.issuer));
            } else if !names.insert(issuer.name.as_str()) {
                problems.push(format!("{at}: the name is used twice"));
            }
            if !urls.insert(issuer.issuer.as_str()) {
                problems.push(format!("{at}: {} is configured twice", issuer.issuer));
            }
            let url = check_url(&issuer.issuer)
                .map_err(|problem| problems.push(format!("{at}: {problem}")))
                .ok();
            if issuer.audiences.iter().all(String::is_empty) {
                problems.push(format!("{at}: list at least one accepted audience"));
            }
            if issuer.algorithms.is_empty() {
                problems.push(format!("{at}: pin at least one signing algorithm"));
            }
            let mut algorithms = Vec::new();
            for name in &issuer.algorithms {
                match parse_algorithm(name) {
                    Some(alg) => algorithms.push(alg),
                    None if name == "none" || name.starts_with("HS") => problems.push(format!(
                        "{at}: algorithm {name} is never accepted (unsigned or symmetric); pin one of {}",
                        SUPPORTED_ALGORITHMS.join(", ")
                    )),
                    None => problems.push(format!(
                        "{at}: algorithm {name} is not supported; use one of {}",
                        SUPPORTED_ALGORITHMS.join(", ")
                    )),
                }
            }
            if issuer.subject_claim.is_empty() {
                problems.push(format!("{at}: subject_claim must not be empty"));
            }
            if issuer.groups_claims.iter().any(|g| g.path.is_empty()) {
                problems.push(format!("{at}: a groups claim has an empty path"));
            }
            check_required_claims(issuer, &at, &mut problems);
            #[expect(clippy::expect_used, reason = "`JWT` is a constant, valid media type")]
            let mut jose_types =
                vec![normalize_jose_type("JWT").expect("JWT is a valid JOSE type")];
            for typ in &issuer.allowed_jose_types {
                match normalize_jose_type(typ) {
                    Some(normalized) => jose_types.push(normalized),
                    None => {
                        problems.push(format!("{at}: JOSE type {typ:?} is not a valid media type"));
                    }
                }
            }
            if let Some(url) = url {
                parsed.push(ParsedIssuer {
                    url,
                    algorithms,
                    jose_types,
                });
            }
        }
        problems.extend(group_prefix_problems(
            self.issuers
                .iter()
                .map(|issuer| (issuer.name.as_str(), issuer.group_prefix.as_deref())),
        ));
        if problems.is_empty() {
            Ok(parsed)
        } else {
            Err(ConfigError(problems))
        }
    }
}

/// Required claims must be able to match, and a public CI platform's issuer must have some: its
/// tokens are handed to every repository on the platform, for any audience the job asks for.
fn check_required_claims(issuer: &IssuerConfig, at: &str, problems: &mut Vec<String>) {
    let mut paths = HashSet::new();
    for required in &issuer.required_claims {
        let path = &required.path;
        if path.is_empty() {
            problems.push(format!("{at}: a required claim has an empty path"));
        } else if !paths.insert(path.as_str()) {
            problems.push(format!("{at}: required claim {path} is listed twice"));
        }
        if required.accepted.is_empty() {
            problems.push(format!(
                "{at}: required claim {path} accepts no value; list at least one"
            ));
        }
        if required.accepted.iter().any(String::is_empty) {
            problems.push(format!("{at}: required claim {path} lists an empty value"));
        }
    }
    if let Some(preset) = issuer.preset
        && issuer.required_claims.is_empty()
    {
        problems.push(format!(
            "{at}: preset {} would trust the tokens of every repository on the CI platform, whoever \
             owns it (any job can ask for any audience); confine it to your own with \
             required_claims, e.g. required_claims = {{ {} = [\"<your id>\"] }}",
            preset.name(),
            preset.owner_id_claim()
        ));
    }
}

fn check_url(issuer: &str) -> Result<IssuerUrl, String> {
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        return Err(format!("issuer {issuer:?} must be an http(s) URL"));
    }
    IssuerUrl::new(issuer.to_owned()).map_err(|e| format!("issuer {issuer:?} is not a URL: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_issuer_needs_no_group_prefix() {
        assert!(group_prefix_problems([("idp", None)]).is_empty());
        assert!(group_prefix_problems([("idp", Some("idp:"))]).is_empty());
    }

    #[test]
    fn several_issuers_need_distinct_non_overlapping_prefixes_and_every_problem_is_listed() {
        assert!(group_prefix_problems([("idp", Some("idp:")), ("gha", Some("gha:"))]).is_empty());
        let problems = group_prefix_problems([
            ("idp", Some("idp:")),
            ("backstage", None),
            ("gitlab", Some("")),
            ("copy", Some("idp:")),
            ("nested", Some("idp:ci:")),
        ]);
        assert_eq!(problems.len(), 5, "{problems:#?}");
        for needle in [
            "issuer 'backstage': declare a group_prefix",
            "issuer 'gitlab': declare a group_prefix",
            "issuers 'idp' and 'copy' declare the same group_prefix \"idp:\"",
            "issuers 'idp' and 'nested': group_prefix \"idp:\" and \"idp:ci:\" overlap",
            "issuers 'copy' and 'nested': group_prefix \"idp:\" and \"idp:ci:\" overlap",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(needle)),
                "missing {needle:?} in {problems:#?}"
            );
        }
    }

    #[test]
    fn the_prefix_is_prepended_to_every_group() {
        let issuer = IssuerConfig {
            group_prefix: Some("idp:".to_owned()),
            ..IssuerConfig::default()
        };
        assert_eq!(
            issuer.qualify_groups(vec!["team".to_owned(), "ci:repo:a/b".to_owned()]),
            ["idp:team", "idp:ci:repo:a/b"]
        );
        assert_eq!(
            IssuerConfig::default().qualify_groups(vec!["team".to_owned()]),
            ["team"]
        );
    }
}
