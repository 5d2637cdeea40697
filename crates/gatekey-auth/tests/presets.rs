//! CI issuer presets over real sockets: the development IdP signs tokens shaped like GitHub
//! Actions' and GitLab CI's, the verifier refuses those of other owners (`required_claims`) and
//! maps the others to repository-qualified groups, by name and by id.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::time::Duration;

use gatekey_auth::{
    AuthError, GroupsClaim, IssuerConfig, IssuerPreset, RequiredClaim, TokenVerifier,
    VerifierConfig,
};
use gatekey_dev_idp::{DevIdpConfig, RunningIdp, SigningAlg, TokenSpec};
use serde_json::json;

const AUDIENCE: &str = "gatekey";

async fn idp() -> RunningIdp {
    gatekey_dev_idp::start(DevIdpConfig::default())
        .await
        .expect("dev IdP starts")
}

fn verifier_config(issuer: IssuerConfig) -> VerifierConfig {
    VerifierConfig {
        issuers: vec![issuer],
        ..VerifierConfig::default()
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

fn verifier(issuer: IssuerConfig) -> TokenVerifier {
    TokenVerifier::new(verifier_config(issuer), &http()).expect("valid verifier settings")
}

fn required(path: &str, accepted: &[&str]) -> Vec<RequiredClaim> {
    vec![RequiredClaim {
        path: path.to_owned(),
        accepted: accepted.iter().map(|value| (*value).to_owned()).collect(),
    }]
}

#[tokio::test]
async fn a_github_actions_token_maps_subject_and_groups() {
    let idp = idp().await;
    let verifier = verifier(IssuerConfig {
        name: "github-actions".to_owned(),
        issuer: idp.issuer(),
        audiences: vec![AUDIENCE.to_owned()],
        preset: Some(IssuerPreset::GithubActions),
        required_claims: required("repository_owner_id", &["1234567"]),
        ..IssuerConfig::default()
    });
    let token = idp.sign(
        &TokenSpec::new("repo:acme/orders:environment:prod", [AUDIENCE])
            .claim("repository", json!("acme/orders"))
            .claim("repository_id", json!("74"))
            .claim("repository_owner", json!("acme"))
            .claim("repository_owner_id", json!("1234567"))
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
            "ci:owner-id:1234567",
            "ci:owner:acme",
            "ci:ref:acme/orders:refs/heads/main",
            "ci:repo-id:74",
            "ci:repo-id:74:env:prod",
            "ci:repo-id:74:ref:refs/heads/main",
            "ci:repo-id:74:workflow:acme/orders/.github/workflows/deploy.yml@refs/heads/main",
            "ci:repo:acme/orders",
            "ci:workflow:acme/orders:acme/orders/.github/workflows/deploy.yml@refs/heads/main",
        ]
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn a_token_of_another_owner_is_refused_although_signature_and_audience_are_fine() {
    let idp = idp().await;
    let verifier = verifier(IssuerConfig {
        name: "github-actions".to_owned(),
        issuer: idp.issuer(),
        audiences: vec![AUDIENCE.to_owned()],
        preset: Some(IssuerPreset::GithubActions),
        required_claims: required("repository_owner_id", &["1234567"]),
        ..IssuerConfig::default()
    });
    let token_of = |owner_id: Option<&str>| {
        let mut spec = TokenSpec::new("repo:evil/orders:ref:refs/heads/main", [AUDIENCE])
            .claim("repository", json!("evil/orders"))
            .claim("repository_owner", json!("evil"));
        if let Some(owner_id) = owner_id {
            spec = spec.claim("repository_owner_id", json!(owner_id));
        }
        idp.sign(&spec)
    };
    assert_eq!(
        verifier.verify(&token_of(Some("7654321"))).await,
        Err(AuthError::ClaimNotAccepted(
            "repository_owner_id".to_owned()
        ))
    );
    assert_eq!(
        verifier.verify(&token_of(None)).await,
        Err(AuthError::MissingClaim("repository_owner_id".to_owned()))
    );
    idp.shutdown().await;
}

#[test]
fn a_public_ci_preset_without_required_claims_is_a_configuration_error() {
    for (preset, claim) in [
        (IssuerPreset::GithubActions, "repository_owner_id"),
        (IssuerPreset::GitlabCi, "namespace_id"),
    ] {
        let issuer = IssuerConfig {
            name: "ci".to_owned(),
            issuer: "https://ci.example".to_owned(),
            audiences: vec![AUDIENCE.to_owned()],
            preset: Some(preset),
            ..IssuerConfig::default()
        };
        let text = TokenVerifier::new(verifier_config(issuer.clone()), &http())
            .expect_err("refused")
            .to_string();
        assert!(
            text.contains(&format!("preset {}", preset.name())) && text.contains(claim),
            "{text}"
        );
        let with_nothing_accepted = IssuerConfig {
            required_claims: vec![
                RequiredClaim {
                    path: claim.to_owned(),
                    accepted: Vec::new(),
                },
                RequiredClaim {
                    path: String::new(),
                    accepted: vec![String::new()],
                },
            ],
            ..issuer
        };
        let text = TokenVerifier::new(verifier_config(with_nothing_accepted), &http())
            .expect_err("refused")
            .to_string();
        for needle in [
            format!("required claim {claim} accepts no value"),
            "a required claim has an empty path".to_owned(),
            "lists an empty value".to_owned(),
        ] {
            assert!(text.contains(&needle), "{needle:?} missing from:\n{text}");
        }
    }
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
        required_claims: required("namespace_id", &["13"]),
        ..IssuerConfig::default()
    });
    let token = idp.sign(
        &TokenSpec::new("project_path:acme/api:ref_type:branch:ref:main", [AUDIENCE])
            .alg(SigningAlg::Es256)
            .groups(["platform"])
            .claim("project_path", json!("acme/api"))
            .claim("project_id", json!(22))
            .claim("namespace_path", json!("acme"))
            .claim("namespace_id", json!(13))
            .claim("ref_path", json!("refs/heads/main")),
    );
    let identity = verifier.verify(&token).await.expect("valid token");
    assert_eq!(
        identity.groups,
        [
            "ci:owner-id:13",
            "ci:owner:acme",
            "ci:ref:acme/api:refs/heads/main",
            "ci:repo-id:22",
            "ci:repo-id:22:ref:refs/heads/main",
            "ci:repo:acme/api",
            "platform",
        ],
        "preset groups join the configured `groups` claim; numeric ids and required claims \
         compare as their decimal text; no environment, no group for it"
    );
    idp.shutdown().await;
}
