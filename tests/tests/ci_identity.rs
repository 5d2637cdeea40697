//! A CI job's workload identity end to end: the dev IdP signs a GitHub Actions-shaped token, the
//! `github-actions` preset maps it to `ci:repo:...` groups, and the policy grants a scope to one
//! repository only.

use gatekey_auth::IssuerPreset;
use gatekey_dev_idp::TokenSpec;
use gatekey_e2e::{AUDIENCE, Stack};
use reqwest::{Method, StatusCode};
use serde_json::json;

const CI_POLICY: &str = r"
version: 1
apis:
  - id: orders
    title: Orders API
    kong_service: orders
    gateway_url: http://gateway.example/orders
    default_ttl_seconds: 600
    min_ttl_seconds: 60
    max_ttl_seconds: 900
    scopes:
      - name: read
        acl_group: orders-read
        allowed_groups: [ci:repo:acme/orders-tests]
      - name: write
        acl_group: orders-write
        allowed_groups: [ci:env:acme/orders:prod]
";

fn github_token(stack: &Stack, repository: &str, environment: Option<&str>) -> String {
    let mut spec = TokenSpec::new(
        &format!("repo:{repository}:ref:refs/heads/main"),
        [AUDIENCE],
    )
    .claim("repository", json!(repository))
    .claim("repository_owner", json!("acme"))
    .claim("ref", json!("refs/heads/main"));
    if let Some(environment) = environment {
        spec = spec.claim("environment", json!(environment));
    }
    stack.idp.sign(&spec)
}

#[tokio::test]
async fn policy_grants_a_scope_to_one_repository_through_the_github_actions_preset() {
    let stack = Stack::start_with(CI_POLICY, |settings| {
        settings.auth.issuers[0].preset = Some(IssuerPreset::GithubActions);
    })
    .await
    .expect("stack starts");

    let token = github_token(&stack, "acme/orders-tests", None);
    let (status, me) = stack
        .call(Method::GET, "/v1/me", Some(&token), None)
        .await
        .expect("me");
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["subject"], "repo:acme/orders-tests:ref:refs/heads/main");
    let groups = me["groups"].as_array().expect("groups");
    assert!(groups.contains(&json!("ci:repo:acme/orders-tests")), "{me}");
    assert!(groups.contains(&json!("ci:owner:acme")), "{me}");

    let body = json!({"scopes": ["read"], "ttl_seconds": 300, "purpose": "integration tests"});
    let (status, minted) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(&token),
            Some(&body),
        )
        .await
        .expect("mint");
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let key = minted["key"].as_str().expect("key");
    assert_eq!(
        stack
            .call_gateway(Method::GET, "/orders", key)
            .await
            .expect("gateway"),
        StatusCode::OK
    );

    // Another repository of the same owner, and a `prod` environment of a repository other than
    // the one the policy names, get nothing.
    for token in [
        github_token(&stack, "acme/other", None),
        github_token(&stack, "acme/other", Some("prod")),
    ] {
        let (status, problem) = stack
            .call(
                Method::POST,
                "/v1/apis/orders/credentials",
                Some(&token),
                Some(&body),
            )
            .await
            .expect("mint");
        assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
        let write = json!({"scopes": ["write"], "ttl_seconds": 300});
        let (status, problem) = stack
            .call(
                Method::POST,
                "/v1/apis/orders/credentials",
                Some(&token),
                Some(&write),
            )
            .await
            .expect("mint");
        assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    }

    let deployer = github_token(&stack, "acme/orders", Some("prod"));
    let write = json!({"scopes": ["write"], "ttl_seconds": 300});
    let (status, minted) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(&deployer),
            Some(&write),
        )
        .await
        .expect("mint");
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    stack.stop().await;
}
