//! A CI job's workload identity end to end, and the attacks on it: the dev IdP signs GitHub
//! Actions-shaped tokens (anyone can get such a token, for any audience, from their own
//! repository), the `github-actions` preset maps them to repository-qualified groups, by name and
//! by id, `required_claims` confines the issuer to one organisation, and denials of callers who
//! verify but hold no grant reach the audit trail within a bounded budget.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt as _;
use gatekey_auth::IssuerPreset;
use gatekey_dev_idp::TokenSpec;
use gatekey_e2e::{AUDIENCE, Stack, metric_sample};
use gatekey_server::config::{RequiredClaim, Settings};
use mongodb::bson::{Document, doc};
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The organisation whose repositories the CI issuer is confined to.
const OWNER_ID: &str = "1234567";
/// The reusable deployment workflow that many repositories call.
const DEPLOY_WORKFLOW: &str = "acme/deploy/.github/workflows/deploy.yml@refs/tags/v1";

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

/// One GitHub Actions job, as its token describes it.
struct Job<'a> {
    repository: &'a str,
    repository_id: &'a str,
    owner_id: Option<&'a str>,
    environment: Option<&'a str>,
    workflow: &'a str,
}

impl<'a> Job<'a> {
    /// A job of `repository` (id `repository_id`) of the `acme` organisation, on `main`, running
    /// the repository's own CI workflow.
    fn of(repository: &'a str, repository_id: &'a str) -> Self {
        Self {
            repository,
            repository_id,
            owner_id: Some(OWNER_ID),
            environment: None,
            workflow: "acme/any/.github/workflows/ci.yml@refs/heads/main",
        }
    }

    fn token(&self, stack: &Stack) -> String {
        let subject = match self.environment {
            Some(environment) => format!("repo:{}:environment:{environment}", self.repository),
            None => format!("repo:{}:ref:refs/heads/main", self.repository),
        };
        let owner = self.repository.split('/').next().unwrap_or_default();
        let mut spec = TokenSpec::new(&subject, [AUDIENCE])
            .claim("repository", json!(self.repository))
            .claim("repository_id", json!(self.repository_id))
            .claim("repository_owner", json!(owner))
            .claim("ref", json!("refs/heads/main"))
            .claim("job_workflow_ref", json!(self.workflow));
        if let Some(owner_id) = self.owner_id {
            spec = spec.claim("repository_owner_id", json!(owner_id));
        }
        if let Some(environment) = self.environment {
            spec = spec.claim("environment", json!(environment));
        }
        stack.idp.sign(&spec)
    }
}

/// The stack's issuer becomes a GitHub Actions issuer confined to [`OWNER_ID`].
fn github_actions(settings: &mut Settings) {
    let issuer = &mut settings.auth.issuers[0];
    issuer.preset = Some(IssuerPreset::GithubActions);
    issuer.required_claims.push(RequiredClaim {
        path: "repository_owner_id".to_owned(),
        accepted: vec![OWNER_ID.to_owned()],
    });
}

async fn mint(stack: &Stack, token: &str, api: &str, scope: &str) -> (StatusCode, Value) {
    let body = json!({"scopes": [scope], "ttl_seconds": 300, "purpose": "CI"});
    stack
        .call(
            Method::POST,
            &format!("/v1/apis/{api}/credentials"),
            Some(token),
            Some(&body),
        )
        .await
        .expect("mint answers")
}

/// Documents of the stack's audit trail and issuance records.
async fn stored_counts(stack: &Stack) -> (usize, usize) {
    // The policy's own load at startup is audited too; count what requests caused.
    let requests = doc! { "action": { "$ne": "policy_load" } };
    let audit = stack.stored("audit_events", requests).await.expect("audit");
    let issuances = stack.stored("issuances", doc! {}).await.expect("issuances");
    (audit.len(), issuances.len())
}

#[tokio::test]
async fn policy_grants_a_scope_to_one_repository_through_the_github_actions_preset() {
    let stack = Stack::start_with(CI_POLICY, github_actions)
        .await
        .expect("stack starts");

    let token = Job::of("acme/orders-tests", "80").token(&stack);
    let (status, me) = stack
        .call(Method::GET, "/v1/me", Some(&token), None)
        .await
        .expect("me");
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["subject"], "repo:acme/orders-tests:ref:refs/heads/main");
    let groups = me["groups"].as_array().expect("groups");
    assert!(groups.contains(&json!("ci:repo:acme/orders-tests")), "{me}");
    assert!(groups.contains(&json!("ci:owner:acme")), "{me}");

    let (status, minted) = mint(&stack, &token, "orders", "read").await;
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
    let other = Job::of("acme/other", "81");
    let other_in_prod = Job {
        environment: Some("prod"),
        ..Job::of("acme/other", "81")
    };
    for token in [other.token(&stack), other_in_prod.token(&stack)] {
        for scope in ["read", "write"] {
            let (status, problem) = mint(&stack, &token, "orders", scope).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
        }
    }

    let deployer = Job {
        environment: Some("prod"),
        ..Job::of("acme/orders", "74")
    };
    let (status, minted) = mint(&stack, &deployer.token(&stack), "orders", "write").await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    stack.stop().await;
}

#[tokio::test]
async fn a_ci_token_of_another_owner_is_refused_with_401_before_anything_is_written() {
    let stack = Stack::start_with(CI_POLICY, github_actions)
        .await
        .expect("stack starts");
    // Someone outside the organisation took the name `acme` (renamed or deleted organisations
    // free theirs) and created `acme/orders-tests`: the same name-based groups, the same
    // audience, a valid signature; only the owner id differs.
    let squatter = Job {
        owner_id: Some("7654321"),
        ..Job::of("acme/orders-tests", "999")
    };
    let without_owner_id = Job {
        owner_id: None,
        ..Job::of("acme/orders-tests", "80")
    };
    for (job, refusal) in [
        (&squatter, "does not hold a value accepted"),
        (&without_owner_id, "lacks the claim repository_owner_id"),
    ] {
        let token = job.token(&stack);
        for (method, path) in [
            (Method::POST, "/v1/apis/orders/credentials"),
            (Method::GET, "/v1/me"),
            (Method::GET, "/v1/apis"),
            (Method::GET, "/v1/credentials"),
        ] {
            let response = stack
                .http
                .request(method.clone(), format!("{}{path}", stack.gatekey_url))
                .bearer_auth(&token)
                .json(&json!({"scopes": ["read"], "ttl_seconds": 300}))
                .send()
                .await
                .expect("answers");
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            assert!(challenge.contains("invalid_token"), "{challenge}");
            let problem: Value = response.json().await.expect("problem+json");
            assert_eq!(problem["code"], "invalid_token", "{problem}");
            let detail = problem["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains("repository_owner_id") && detail.contains(refusal),
                "{detail}"
            );
            assert!(
                !detail.contains(OWNER_ID) && !detail.contains("7654321"),
                "the detail names the claim, never its values: {detail}"
            );
        }
    }
    assert_eq!(
        stored_counts(&stack).await,
        (0, 0),
        "no audit event and no issuance record for a refused token"
    );
    assert!(
        stack
            .kong_consumers_tagged("gatekey")
            .await
            .expect("consumers")
            .is_empty()
    );

    // The organisation's own repository still mints, and that is written.
    let (status, minted) = mint(
        &stack,
        &Job::of("acme/orders-tests", "80").token(&stack),
        "orders",
        "read",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let (audit, issuances) = stored_counts(&stack).await;
    assert!(audit > 0 && issuances == 1, "{audit} {issuances}");
    stack.stop().await;
}

#[tokio::test]
async fn a_reusable_workflow_grant_for_one_repository_does_not_extend_to_its_other_callers() {
    let policy = format!(
        r"
version: 1
apis:
  - id: orders
    title: Orders API
    kong_service: orders
    gateway_url: http://gateway.example/orders
    default_ttl_seconds: 600
    max_ttl_seconds: 900
    scopes:
      - name: write
        acl_group: orders-write
        allowed_groups: ['ci:workflow:acme/orders:{DEPLOY_WORKFLOW}']
"
    );
    let stack = Stack::start_with(&policy, github_actions)
        .await
        .expect("stack starts");
    let orders = Job {
        workflow: DEPLOY_WORKFLOW,
        ..Job::of("acme/orders", "74")
    };
    let (status, minted) = mint(&stack, &orders.token(&stack), "orders", "write").await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");

    // The same shared workflow, same tag, called by another repository of the organisation.
    let other = Job {
        workflow: DEPLOY_WORKFLOW,
        ..Job::of("acme/other", "81")
    };
    let token = other.token(&stack);
    let (status, problem) = mint(&stack, &token, "orders", "write").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["code"], "scope_not_allowed", "{problem}");
    let (_, me) = stack
        .call(Method::GET, "/v1/me", Some(&token), None)
        .await
        .expect("me");
    let groups: Vec<&str> = me["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(Value::as_str)
        .filter(|group| group.contains(DEPLOY_WORKFLOW))
        .collect();
    assert_eq!(
        groups,
        [
            format!("ci:repo-id:81:workflow:{DEPLOY_WORKFLOW}"),
            format!("ci:workflow:acme/other:{DEPLOY_WORKFLOW}"),
        ],
        "each workflow group names the calling repository"
    );
    stack.stop().await;
}

#[tokio::test]
async fn id_based_groups_grant_and_a_recreated_repository_does_not_inherit_them() {
    let policy = r"
version: 1
apis:
  - id: orders
    title: Orders API
    kong_service: orders
    gateway_url: http://gateway.example/orders
    default_ttl_seconds: 600
    max_ttl_seconds: 900
    scopes:
      - name: read
        acl_group: orders-read
        allowed_groups: ['ci:repo-id:74']
      - name: write
        acl_group: orders-write
        allowed_groups: ['ci:repo-id:74:env:prod']
";
    let stack = Stack::start_with(policy, github_actions)
        .await
        .expect("stack starts");
    let deployer = Job {
        environment: Some("prod"),
        ..Job::of("acme/orders", "74")
    };
    let token = deployer.token(&stack);
    let (_, me) = stack
        .call(Method::GET, "/v1/me", Some(&token), None)
        .await
        .expect("me");
    let groups = me["groups"].as_array().expect("groups");
    for group in [
        "ci:repo-id:74",
        "ci:owner-id:1234567",
        "ci:repo-id:74:env:prod",
        "ci:repo:acme/orders",
    ] {
        assert!(groups.contains(&json!(group)), "{group} missing: {me}");
    }
    for scope in ["read", "write"] {
        let (status, minted) = mint(&stack, &token, "orders", scope).await;
        assert_eq!(status, StatusCode::CREATED, "{scope}: {minted}");
    }

    // `acme/orders` deleted and created again (or renamed away and its name taken): the same
    // name, the same organisation, a new id.
    let recreated = Job {
        environment: Some("prod"),
        ..Job::of("acme/orders", "75")
    };
    let token = recreated.token(&stack);
    for scope in ["read", "write"] {
        let (status, problem) = mint(&stack, &token, "orders", scope).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{scope}: {problem}");
    }
    stack.stop().await;
}

/// Sends `count` copies of a request, `parallel` at a time; every one must answer `expected`.
async fn repeat(stack: &Stack, token: &str, path: &str, count: usize, expected: StatusCode) {
    let body = json!({"scopes": ["write"], "ttl_seconds": 300});
    let statuses: Vec<StatusCode> = futures::stream::iter(0..count)
        .map(|_| async {
            stack
                .call(Method::POST, path, Some(token), Some(&body))
                .await
                .expect("answers")
                .0
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(
        statuses.iter().all(|status| *status == expected),
        "{statuses:?}"
    );
}

/// Seconds since the Unix epoch.
fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// How many audit windows of `window` seconds the interval from `start` to now touches.
fn windows_since(start: u64, window: u64) -> u64 {
    now_seconds() / window - start / window + 1
}

/// The deny events of the trail matching `filter`, with their total count.
async fn denials(stack: &Stack, filter: Document) -> (Vec<Document>, i64) {
    let mut filter = filter;
    filter.insert("decision", "deny");
    let events = stack.stored("audit_events", filter).await.expect("audit");
    let total = events
        .iter()
        .map(|event| event.get_i64("count").expect("every event has a count"))
        .sum();
    (events, total)
}

fn reasons(events: &[Document]) -> BTreeSet<String> {
    events
        .iter()
        .filter_map(|event| event.get_str("reason").ok())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_flood_of_denied_mints_by_one_caller_is_audited_within_its_budget_and_counted() {
    let stack = Stack::start_with(CI_POLICY, github_actions)
        .await
        .expect("stack starts");
    let budget = Settings::default().audit;
    let window = budget.deny_window_seconds;
    let decisions =
        r#"gatekey_decisions_total{action="mint",decision="deny",reason="scope_not_allowed"}"#;
    let metric = |text: &str| metric_sample(text, decisions).unwrap_or_default();
    let before = metric(&stack.metrics_text().await.expect("metrics"));
    let started = now_seconds();

    let caller = Job::of("acme/other", "81");
    let token = caller.token(&stack);
    repeat(
        &stack,
        &token,
        "/v1/apis/orders/credentials",
        500,
        StatusCode::FORBIDDEN,
    )
    .await;
    // Other kinds of denial after the caller's budget is spent are still recorded.
    repeat(
        &stack,
        &token,
        "/v1/apis/made-up-1/credentials",
        3,
        StatusCode::NOT_FOUND,
    )
    .await;
    repeat(
        &stack,
        &token,
        "/v1/apis/made-up-2/credentials",
        2,
        StatusCode::NOT_FOUND,
    )
    .await;

    let windows = windows_since(started, window);
    let (events, total) = denials(
        &stack,
        doc! { "subject": "repo:acme/other:ref:refs/heads/main" },
    )
    .await;
    assert_eq!(total, 505, "the counts add up to every denial");
    let kinds = 2;
    let bound = windows * (u64::from(budget.denials_per_caller) + kinds);
    assert!(
        events.len() as u64 <= bound,
        "{} audit events for 505 denials in {windows} window(s); at most {bound}",
        events.len()
    );
    assert_eq!(
        reasons(&events),
        BTreeSet::from(["scope_not_allowed".to_owned(), "unknown_api".to_owned()])
    );
    let summaries: Vec<&Document> = events
        .iter()
        .filter(|event| matches!(event.get_i64("count"), Ok(count) if count > 1))
        .collect();
    assert!(!summaries.is_empty(), "{events:?}");
    for summary in summaries {
        assert_eq!(summary.get_str("action").ok(), Some("mint"), "{summary}");
        assert!(
            summary.get_str("api_id").is_err(),
            "a caller-chosen API id splits nothing: {summary}"
        );
    }

    let after = metric(&stack.metrics_text().await.expect("metrics"));
    assert!(
        after - before >= 500.0,
        "metrics count every denial: {before} -> {after}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn denials_of_many_callers_of_one_issuer_are_bounded_per_issuer() {
    let stack = Stack::start_with(CI_POLICY, |settings| {
        github_actions(settings);
        settings.audit.denials_per_caller = 2;
        settings.audit.denials_per_issuer = 20;
    })
    .await
    .expect("stack starts");
    let window = Settings::default().audit.deny_window_seconds;
    let started = now_seconds();
    // Anyone in the organisation can make subjects: one per environment name.
    let environments: Vec<String> = (0..60).map(|n| format!("env-{n}")).collect();
    for environment in &environments {
        let job = Job {
            environment: Some(environment),
            ..Job::of("acme/other", "81")
        };
        repeat(
            &stack,
            &job.token(&stack),
            "/v1/apis/orders/credentials",
            2,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let windows = windows_since(started, window);
    let (events, total) = denials(&stack, doc! {}).await;
    assert_eq!(total, 120, "the counts add up to every denial");
    let singles = events
        .iter()
        .filter(|event| event.get_str("subject").is_ok() && matches!(event.get_i64("count"), Ok(1)))
        .count() as u64;
    assert!(
        singles <= windows * 20,
        "{singles} single events in {windows} window(s)"
    );
    assert!(
        events.len() as u64 <= windows * (20 + 1),
        "{} events in {windows} window(s)",
        events.len()
    );
    let issuer_wide: Vec<&Document> = events
        .iter()
        .filter(|event| event.get_str("subject").is_err())
        .collect();
    assert!(!issuer_wide.is_empty(), "{events:?}");
    for summary in issuer_wide {
        assert_eq!(
            summary.get_str("reason").ok(),
            Some("scope_not_allowed"),
            "{summary}"
        );
        assert_eq!(
            summary.get_str("issuer").ok(),
            Some(stack.idp.issuer().as_str()),
            "{summary}"
        );
    }
    stack.stop().await;
}
