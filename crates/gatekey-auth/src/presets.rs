//! Claim mappings for CI systems' workload identity tokens, selected by name instead of spelled out
//! as `groups_claims` in every deployment.
//!
//! A CI issuer such as GitHub Actions' is shared by every repository on the platform, so only
//! groups that name the repository (or its owner) say anything about the caller: a bare
//! `environment: prod` or `ref: refs/heads/main` can be produced by anybody's workflow. Presets
//! therefore qualify environments and refs with the repository, which a single
//! [`crate::GroupsClaim`] (one path, one prefix) cannot express.
//!
//! Every preset takes the subject from `sub` (the issuer's default) and adds these groups:
//!
//! | group | GitHub Actions | GitLab CI |
//! | --- | --- | --- |
//! | `ci:repo:<repo>` | `repository` | `project_path` |
//! | `ci:owner:<owner>` | `repository_owner` | `namespace_path` |
//! | `ci:env:<repo>:<environment>` | `repository` + `environment` | `project_path` + `environment` |
//! | `ci:ref:<repo>:<ref>` | `repository` + `ref` | `project_path` + `ref_path` |
//! | `ci:workflow:<ref>` | `job_workflow_ref` | `ci_config_ref_uri` |

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A CI system whose OIDC token claims Gatekey knows how to map to groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssuerPreset {
    /// GitHub Actions (`https://token.actions.githubusercontent.com`, or an enterprise's own
    /// issuer URL under it).
    GithubActions,
    /// GitLab CI/CD `id_tokens` (the GitLab instance URL, e.g. `https://gitlab.com`).
    GitlabCi,
}

/// The claim names one CI system uses for the facts a preset maps.
struct ClaimNames {
    repository: &'static str,
    owner: &'static str,
    environment: &'static str,
    git_ref: &'static str,
    workflow: &'static str,
}

impl IssuerPreset {
    fn claim_names(self) -> ClaimNames {
        match self {
            Self::GithubActions => ClaimNames {
                repository: "repository",
                owner: "repository_owner",
                environment: "environment",
                git_ref: "ref",
                workflow: "job_workflow_ref",
            },
            Self::GitlabCi => ClaimNames {
                repository: "project_path",
                owner: "namespace_path",
                environment: "environment",
                git_ref: "ref_path",
                workflow: "ci_config_ref_uri",
            },
        }
    }

    /// The prefixed groups this preset derives from verified `claims`. A missing, empty or
    /// non-string claim contributes nothing; qualified groups need their repository claim too.
    pub fn groups(self, claims: &Map<String, Value>) -> Vec<String> {
        let names = self.claim_names();
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|value| !value.is_empty())
        };
        let mut groups = Vec::new();
        let repository = text(names.repository);
        if let Some(repository) = repository {
            groups.push(format!("ci:repo:{repository}"));
        }
        if let Some(owner) = text(names.owner) {
            groups.push(format!("ci:owner:{owner}"));
        }
        if let Some(repository) = repository {
            if let Some(environment) = text(names.environment) {
                groups.push(format!("ci:env:{repository}:{environment}"));
            }
            if let Some(git_ref) = text(names.git_ref) {
                groups.push(format!("ci:ref:{repository}:{git_ref}"));
            }
        }
        if let Some(workflow) = text(names.workflow) {
            groups.push(format!("ci:workflow:{workflow}"));
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(claims) => claims,
            other => panic!("claims must be an object: {other}"),
        }
    }

    #[test]
    fn github_actions_claims_map_to_repository_qualified_groups() {
        let token = claims(json!({
            "sub": "repo:acme/orders:environment:prod",
            "repository": "acme/orders",
            "repository_owner": "acme",
            "environment": "prod",
            "ref": "refs/heads/main",
            "job_workflow_ref": "acme/orders/.github/workflows/deploy.yml@refs/heads/main",
        }));
        assert_eq!(
            IssuerPreset::GithubActions.groups(&token),
            [
                "ci:repo:acme/orders",
                "ci:owner:acme",
                "ci:env:acme/orders:prod",
                "ci:ref:acme/orders:refs/heads/main",
                "ci:workflow:acme/orders/.github/workflows/deploy.yml@refs/heads/main",
            ]
        );
    }

    #[test]
    fn gitlab_ci_claims_map_to_the_same_group_shapes() {
        let token = claims(json!({
            "sub": "project_path:acme/payments/api:ref_type:branch:ref:main",
            "project_path": "acme/payments/api",
            "namespace_path": "acme/payments",
            "environment": "staging",
            "ref": "main",
            "ref_path": "refs/heads/main",
            "ci_config_ref_uri": "gitlab.com/acme/payments/api//.gitlab-ci.yml@refs/heads/main",
        }));
        assert_eq!(
            IssuerPreset::GitlabCi.groups(&token),
            [
                "ci:repo:acme/payments/api",
                "ci:owner:acme/payments",
                "ci:env:acme/payments/api:staging",
                "ci:ref:acme/payments/api:refs/heads/main",
                "ci:workflow:gitlab.com/acme/payments/api//.gitlab-ci.yml@refs/heads/main",
            ]
        );
    }

    #[test]
    fn environment_and_ref_without_a_repository_give_no_group() {
        let token =
            claims(json!({"environment": "prod", "ref": "refs/heads/main", "repository": ""}));
        assert!(IssuerPreset::GithubActions.groups(&token).is_empty());
        let token = claims(json!({"repository": ["acme/orders"], "repository_owner": 7}));
        assert!(IssuerPreset::GithubActions.groups(&token).is_empty());
    }

    #[test]
    fn presets_are_named_in_kebab_case() {
        let named = |name: &str| serde_json::from_value::<IssuerPreset>(json!(name));
        assert_eq!(
            named("github-actions").ok(),
            Some(IssuerPreset::GithubActions)
        );
        assert_eq!(named("gitlab-ci").ok(), Some(IssuerPreset::GitlabCi));
        assert!(named("jenkins").is_err());
    }
}
