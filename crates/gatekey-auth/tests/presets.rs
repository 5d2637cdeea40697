//! CI issuer presets over real sockets: the development IdP signs tokens shaped like GitHub
//! Actions' and GitLab CI's, and the verifier maps them to repository-qualified groups.

use std::time::Duration;

use gatekey_auth::{GroupsClaim, IssuerConfig, IssuerPreset, TokenVerifier, VerifierConfig};
use gatekey_dev_idp::{DevIdpConfig, RunningIdp, SigningAlg, TokenSpec};
use serde_json::json;

const AUDIENCE: &str = "gatekey";

async fn idp() -> RunningIdp {
    gatekey_dev_idp::start(DevIdpConfig::default())
        .await
        .expect("dev IdP starts")
}

fn verifier(issuer: IssuerConfig) -> TokenVerifier {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client");
    let config = VerifierConfig {
        issuers: vec![issuer],
        ..VerifierConfig::default()
    };
    TokenVerifier::new(config, &http).expect("valid verifier settings")
}

#[tokio::test]
async fn a_github_actions_token_maps_subject_and_groups() {
    let idp = idp().await;
    let verifier = verifier(IssuerConfig {
        name: "github-actions".to_owned(),
        issuer: idp.issuer(),
        audiences: vec![AUDIENCE.to_owned()],
        preset: Some(IssuerPreset::GithubActions),
        ..IssuerConfig::default()
    });
    let token = idp.sign(
        &TokenSpec::new("repo:acme/orders:environment:prod", [AUDIENCE])
            .claim("repository", json!("acme/orders"))
            .claim("repository_owner", json!("acme"))
            .claim("environment", json!("prod"))
            .claim("ref", json!("refs/heads/main"))
            .claim(
                "job_workflow_ref",
                json!("acme/orders/.github/workflows/deploy.yml@refs/heads/main"),
            )
            .claim("groups", json!(["not-mapped-without-groups-claims"])),
    );
    let identity = verifier.verify(&token).await.expect("valid token");
    assert_eq!(identity.subject, "repo:acme/orders:environment:prod");
    assert_eq!(
        identity.groups,
        [
            "ci:env:acme/orders:prod",
            "ci:owner:acme",
            "ci:ref:acme/orders:refs/heads/main",
            "ci:repo:acme/orders",
            "ci:workflow:acme/orders/.github/workflows/deploy.yml@refs/heads/main",
        ]
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn a_gitlab_ci_token_maps_groups_alongside_configured_claims() {
    let idp = idp().await;
    let verifier = verifier(IssuerConfig {
        name: "gitlab".to_owned(),
        issuer: idp.issuer(),
        audiences: vec![AUDIENCE.to_owned()],
        algorithms: vec!["ES256".to_owned()],
        groups_claims: vec![GroupsClaim {
            path: "groups".to_owned(),
            prefix: None,
        }],
        preset: Some(IssuerPreset::GitlabCi),
        ..IssuerConfig::default()
    });
    let token = idp.sign(
        &TokenSpec::new("project_path:acme/api:ref_type:branch:ref:main", [AUDIENCE])
            .alg(SigningAlg::Es256)
            .groups(["platform"])
            .claim("project_path", json!("acme/api"))
            .claim("namespace_path", json!("acme"))
            .claim("ref_path", json!("refs/heads/main")),
    );
    let identity = verifier.verify(&token).await.expect("valid token");
    assert_eq!(
        identity.groups,
        [
            "ci:owner:acme",
            "ci:ref:acme/api:refs/heads/main",
            "ci:repo:acme/api",
            "platform",
        ],
        "preset groups join the configured `groups` claim; no environment, no group for it"
    );
    idp.shutdown().await;
}
