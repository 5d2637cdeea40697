//! Claim mappings for CI systems' workload identity tokens, selected by name instead of spelled out
//! as `groups_claims` in every deployment.
//!
//! A CI issuer such as GitHub Actions' is shared by every repository on the platform, so only
//! groups that name the repository (or its owner) say anything about the caller: a bare
//! `environment: prod` or `ref: refs/heads/main` can be produced by anybody's workflow. Presets
//! therefore qualify environments, refs and workflows with the calling repository, which a single
//! [`crate::GroupsClaim`] (one path, one prefix) cannot express. The workflow in particular says
//! nothing alone: a reusable workflow (GitHub's `job_workflow_ref`) or a CI configuration kept in
//! another project (GitLab's `ci_config_ref_uri`) runs for every repository that calls it.
//!
//! Names can be taken over: a repository or organisation that is renamed or deleted frees its
//! name, and whoever creates one with that name next produces the same name-based groups. The
//! platforms' numeric ids are never reused, so every group exists in an id-based form too
//! (`ci:repo-id:…`, `ci:owner-id:…`), and those are the ones to grant.
//!
//! Every preset takes the subject from `sub` (the issuer's default) and adds these groups:
//!
//! | group | GitHub Actions | GitLab CI |
//! | --- | --- | --- |
//! | `ci:repo:<repo>` | `repository` | `project_path` |
//! | `ci:owner:<owner>` | `repository_owner` | `namespace_path` |
//! | `ci:env:<repo>:<environment>` | `repository` + `environment` | `project_path` + `environment` |
//! | `ci:ref:<repo>:<ref>` | `repository` + `ref` | `project_path` + `ref_path` |
//! | `ci:workflow:<repo>:<workflow>` | `repository` + `job_workflow_ref` | `project_path` + `ci_config_ref_uri` |
//! | `ci:repo-id:<repo id>` | `repository_id` | `project_id` |
//! | `ci:owner-id:<owner id>` | `repository_owner_id` | `namespace_id` |
//! | `ci:repo-id:<repo id>:env:<environment>` | `repository_id` + `environment` | `project_id` + `environment` |
//! | `ci:repo-id:<repo id>:ref:<ref>` | `repository_id` + `ref` | `project_id` + `ref_path` |
//! | `ci:repo-id:<repo id>:workflow:<workflow>` | `repository_id` + `job_workflow_ref` | `project_id` + `ci_config_ref_uri` |

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::claims::scalar_text;

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
    repository_id: &'static str,
    owner_id: &'static str,
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
                repository_id: "repository_id",
                owner_id: "repository_owner_id",
                environment: "environment",
                git_ref: "ref",
                workflow: "job_workflow_ref",
            },
            Self::GitlabCi => ClaimNames {
                repository: "project_path",
                owner: "namespace_path",
                repository_id: "project_id",
                owner_id: "namespace_id",
                environment: "environment",
                git_ref: "ref_path",
                workflow: "ci_config_ref_uri",
            },
        }
    }

    /// The name used in the configuration (`github-actions`, `gitlab-ci`).
    pub fn name(self) -> &'static str {
        match self {
            Self::GithubActions => "github-actions",
            Self::GitlabCi => "gitlab-ci",
        }
    }

    /// The claim holding the stable id of a repository's owner, which confines the issuer to
    /// one organisation when required (`required_claims`).
    pub fn owner_id_claim(self) -> &'static str {
        self.claim_names().owner_id
    }

    /// The prefixed groups this preset derives from verified `claims`. A missing or empty claim
    /// contributes nothing, as do names that are not strings and ids that are neither strings nor
    /// numbers; qualified groups need their repository claim too.
    pub fn groups(self, claims: &Map<String, Value>) -> Vec<String> {
        let names = self.claim_names();
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|value| !value.is_empty())
        };
        let id = |name: &str| {
            claims
                .get(name)
                .filter(|value| value.is_string() || value.is_number())
                .and_then(scalar_text)
                .filter(|value| !value.is_empty())
        };
        let environment = text(names.environment);
        let git_ref = text(names.git_ref);
        let workflow = text(names.workflow);
        let mut groups = Vec::new();
        if let Some(repository) = text(names.repository) {
            groups.push(format!("ci:repo:{repository}"));
            if let Some(environment) = environment {
                groups.push(format!("ci:env:{repository}:{environment}"));
            }
            if let Some(git_ref) = git_ref {
                groups.push(format!("ci:ref:{repository}:{git_ref}"));
            }
            if let Some(workflow) = workflow {
                groups.push(format!("ci:workflow:{repository}:{workflow}"));
            }
        }
        if let Some(owner) = text(names.owner) {
            groups.push(format!("ci:owner:{owner}"));
        }
        if let Some(repository_id) = id(names.repository_id) {
            groups.push(format!("ci:repo-id:{repository_id}"));
            if let Some(environment) = environment {
                groups.push(format!("ci:repo-id:{repository_id}:env:{environment}"));
            }
            if let Some(git_ref) = git_ref {
                groups.push(format!("ci:repo-id:{repository_id}:ref:{git_ref}"));
            }
            if let Some(workflow) = workflow {
                groups.push(format!("ci:repo-id:{repository_id}:workflow:{workflow}"));
            }
        }
        if let Some(owner_id) = id(names.owner_id) {
            groups.push(format!("ci:owner-id:{owner_id}"));
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
    fn github_actions_claims_map_to_repository_qualified_groups_by_name_and_by_id() {
        let token = claims(json!({
            "sub": "repo:acme/orders:environment:prod",
            "repository": "acme/orders",
            "repository_id": "74",
            "repository_owner": "acme",
            "repository_owner_id": "1234567",
            "environment": "prod",
            "ref": "refs/heads/main",
            "job_workflow_ref": "acme/deploy/.github/workflows/deploy.yml@refs/tags/v1",
        }));
        assert_eq!(
            IssuerPreset::GithubActions.groups(&token),
            [
                "ci:repo:acme/orders",
                "ci:env:acme/orders:prod",
                "ci:ref:acme/orders:refs/heads/main",
                "ci:workflow:acme/orders:acme/deploy/.github/workflows/deploy.yml@refs/tags/v1",
                "ci:owner:acme",
                "ci:repo-id:74",
                "ci:repo-id:74:env:prod",
                "ci:repo-id:74:ref:refs/heads/main",
                "ci:repo-id:74:workflow:acme/deploy/.github/workflows/deploy.yml@refs/tags/v1",
                "ci:owner-id:1234567",
            ]
        );
    }

    #[test]
    fn gitlab_ci_claims_map_to_the_same_group_shapes() {
        let token = claims(json!({
            "sub": "project_path:acme/payments/api:ref_type:branch:ref:main",
            "project_path": "acme/payments/api",
            "project_id": "22",
            "namespace_path": "acme/payments",
            "namespace_id": "13",
            "environment": "staging",
            "ref": "main",
            "ref_path": "refs/heads/main",
            "ci_config_ref_uri": "gitlab.com/acme/ci/templates//deploy.yml@refs/heads/main",
        }));
        assert_eq!(
            IssuerPreset::GitlabCi.groups(&token),
            [
                "ci:repo:acme/payments/api",
                "ci:env:acme/payments/api:staging",
                "ci:ref:acme/payments/api:refs/heads/main",
                "ci:workflow:acme/payments/api:gitlab.com/acme/ci/templates//deploy.yml@refs/heads/main",
                "ci:owner:acme/payments",
                "ci:repo-id:22",
                "ci:repo-id:22:env:staging",
                "ci:repo-id:22:ref:refs/heads/main",
                "ci:repo-id:22:workflow:gitlab.com/acme/ci/templates//deploy.yml@refs/heads/main",
                "ci:owner-id:13",
            ]
        );
    }

    #[test]
    fn a_shared_workflow_gives_each_calling_repository_its_own_group() {
        let workflow = "acme/deploy/.github/workflows/deploy.yml@refs/tags/v1";
        let called_by = |repository: &str, id: &str| {
            IssuerPreset::GithubActions.groups(&claims(json!({
                "repository": repository,
                "repository_id": id,
                "job_workflow_ref": workflow,
            })))
        };
        let orders = called_by("acme/orders", "74");
        let other = called_by("acme/other", "75");
        assert!(
            orders.iter().all(|group| !other.contains(group)),
            "{orders:?} and {other:?} share a group"
        );
        assert!(
            !orders
                .iter()
                .chain(&other)
                .any(|group| group == &format!("ci:workflow:{workflow}")),
            "the workflow alone names no caller"
        );
    }

    #[test]
    fn numeric_ids_count_as_their_decimal_text_and_names_must_be_strings() {
        let token = claims(json!({"repository_id": 74, "repository_owner_id": 1_234_567}));
        assert_eq!(
            IssuerPreset::GithubActions.groups(&token),
            ["ci:repo-id:74", "ci:owner-id:1234567"]
        );
        let token = claims(json!({"repository_id": [74], "repository_owner_id": true}));
        assert!(IssuerPreset::GithubActions.groups(&token).is_empty());
    }

    #[test]
    fn environment_ref_and_workflow_without_a_repository_give_no_group() {
        let token = claims(json!({
            "environment": "prod",
            "ref": "refs/heads/main",
            "job_workflow_ref": "acme/deploy/.github/workflows/deploy.yml@refs/tags/v1",
            "repository": "",
            "repository_id": "",
        }));
        assert!(IssuerPreset::GithubActions.groups(&token).is_empty());
        let token = claims(json!({"repository": ["acme/orders"], "repository_owner": 7}));
        assert!(IssuerPreset::GithubActions.groups(&token).is_empty());
    }

    #[test]
    fn presets_are_named_in_kebab_case() {
        let named = |name: &str| serde_json::from_value::<IssuerPreset>(json!(name));
        for preset in [IssuerPreset::GithubActions, IssuerPreset::GitlabCi] {
            assert_eq!(named(preset.name()).ok(), Some(preset));
        }
        assert!(named("jenkins").is_err());
    }
}
