//! Policy as code in the running service: every record and audit event names the revision of the
//! policy that decided it, `GET /v1/policy` shows the policy in force to admins, a changed policy
//! file takes effect without a restart (and is audited), an invalid one is refused while the old
//! one keeps serving, and `GET /v1/apis/{id}` explains what would grant a missing scope on a
//! discoverable API.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::time::Duration;

use gatekey_core::policy::Policy;
use gatekey_e2e::rig::{Rig, eventually};
use gatekey_e2e::{POLICY, Stack, metric_sample};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// [`POLICY`], where `payments-team` may also request `orders/write`.
fn wider_policy() -> String {
    POLICY.replace(
        "allowed_groups: [orders-team]",
        "allowed_groups: [orders-team, payments-team]",
    )
}

fn digest(policy: &str) -> String {
    Policy::parse("policy.yaml", policy)
        .expect("a valid policy")
        .revision()
        .digest
        .clone()
}

/// A stack that polls its policy file every 100 ms.
async fn stack() -> Stack {
    Stack::start_with(POLICY, |settings| settings.policy_poll_interval_ms = 100)
        .await
        .expect("stack")
}

async fn policy_view(stack: &Stack) -> Value {
    let admin = stack.token("user:default/root", &["platform-admins"]);
    let (status, view) = stack
        .call(Method::GET, "/v1/policy", Some(&admin), None)
        .await
        .expect("policy");
    assert_eq!(status, StatusCode::OK, "{view}");
    view
}

/// Waits until `GET /v1/policy` satisfies `done` (the poll interval is 100 ms).
async fn wait_for_policy(stack: &Stack, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let view = policy_view(stack).await;
        if done(&view) {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the policy did not change: {}", policy_view(stack).await);
}

async fn mint_write(stack: &Stack, subject: &str) -> (StatusCode, Value) {
    let token = stack.token(subject, &["payments-team"]);
    stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(&token),
            Some(&json!({"scopes": ["write"], "ttl_seconds": 60})),
        )
        .await
        .expect("mint")
}

async fn audit(stack: &Stack, query: &str) -> Vec<Value> {
    let admin = stack.token("user:default/root", &["platform-admins"]);
    let (status, page) = stack
        .call(
            Method::GET,
            &format!("/v1/audit?limit=200&{query}"),
            Some(&admin),
            None,
        )
        .await
        .expect("audit");
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().expect("items").clone()
}

async fn readiness_of_policy(stack: &Stack) -> Value {
    let (_, ready) = stack
        .call(Method::GET, "/readyz", None, None)
        .await
        .expect("readyz");
    ready["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == "policy"))
        .cloned()
        .expect("a policy check")
}

#[tokio::test]
async fn a_changed_policy_file_takes_effect_without_restart_and_each_load_is_audited() {
    let stack = stack().await;
    let first = digest(POLICY);
    let view = policy_view(&stack).await;
    assert_eq!(view["revision"], first);
    assert_eq!(view["file"], stack.policy_file.display().to_string());
    assert_eq!(view["catalog_api_ids"], json!([]));
    assert_eq!(view["refused_file"], Value::Null);
    assert_eq!(view["policy"]["apis"][1]["id"], "orders", "{view}");

    let (status, denied) = mint_write(&stack, "user:default/jane").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{denied}");

    let wider = wider_policy();
    stack.replace_policy(&wider).expect("write the policy");
    let second = digest(&wider);
    let view = wait_for_policy(&stack, |view| view["revision"] == second).await;
    assert_ne!(first, second);
    assert_eq!(view["source_revision"], Value::Null);

    // The new policy decides the next mint, and the record and its events name it.
    let (status, minted) = mint_write(&stack, "user:default/jane").await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    assert_eq!(minted["credential"]["policy_revision"], second);
    let id = minted["credential"]["id"].as_str().expect("id");
    let story = audit(&stack, &format!("issuance_id={id}")).await;
    assert_eq!(story.len(), 2, "granted and issued: {story:?}");
    for event in &story {
        assert_eq!(event["policy_revision"], second, "{event}");
    }
    let denial = audit(&stack, "subject=user:default/jane&decision=deny").await;
    assert_eq!(denial.len(), 1, "{denial:?}");
    assert_eq!(denial[0]["policy_revision"], first);

    // Two loads: the start and the change, the latter naming the one before and what changed.
    let loads = audit(&stack, "action=policy_load").await;
    let summary: Vec<(&str, &str)> = loads
        .iter()
        .map(|e| {
            (
                e["reason"].as_str().unwrap_or(""),
                e["policy_revision"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("file_changed", second.as_str()),
            ("startup", first.as_str())
        ]
    );
    assert_eq!(
        loads[0]["detail"],
        format!("previous {first}; payments-team gained orders/write")
    );
    stack.stop().await;
}

#[tokio::test]
async fn an_invalid_policy_file_is_refused_with_its_place_and_reason_and_the_old_one_serves() {
    let stack = stack().await;
    let first = digest(POLICY);
    let scope_without_groups =
        POLICY.replace("allowed_groups: [orders-team]", "allowed_groups: []");
    stack
        .replace_policy(&scope_without_groups)
        .expect("write the policy");
    let view = wait_for_policy(&stack, |view| !view["refused_file"].is_null()).await;
    assert_eq!(view["revision"], first, "the old policy serves");
    let error = view["refused_file"]["error"].as_str().expect("error");
    assert!(
        error.contains(&stack.policy_file.display().to_string())
            && error.contains(
                "apis[0] (orders).scopes[1] (write).allowed_groups: a scope needs at least one \
                 group that may request it"
            ),
        "{error}"
    );
    let check = readiness_of_policy(&stack).await;
    assert_eq!(check["state"], "degraded", "{check}");
    assert!(
        !check["error"]
            .as_str()
            .unwrap_or("")
            .contains("allowed_groups"),
        "the unauthenticated probe does not say why: {check}"
    );
    let metrics = stack.metrics_text().await.expect("metrics");
    assert!(
        metric_sample(&metrics, "gatekey_policy_loads_total{outcome=\"refused\"}")
            .is_some_and(|refused| refused >= 1.0),
        "{metrics}"
    );
    // Mints are still decided by the old policy.
    let token = stack.token("user:default/ann", &["orders-team"]);
    let (status, minted) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(&token),
            Some(&json!({"scopes": ["write"]})),
        )
        .await
        .expect("mint");
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    assert_eq!(minted["credential"]["policy_revision"], first);

    // A valid file ends the refusal.
    let wider = wider_policy();
    stack.replace_policy(&wider).expect("write the policy");
    let view = wait_for_policy(&stack, |view| view["revision"] == digest(&wider)).await;
    assert_eq!(view["refused_file"], Value::Null);
    assert_eq!(readiness_of_policy(&stack).await["state"], "ok");
    stack.stop().await;
}

#[tokio::test]
async fn the_policy_in_force_is_shown_to_admins_only_and_a_refusal_is_audited() {
    let stack = stack().await;
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (status, problem) = stack
        .call(Method::GET, "/v1/policy", Some(&jane), None)
        .await
        .expect("policy");
    assert_eq!(
        (status, &problem["code"]),
        (StatusCode::FORBIDDEN, &json!("not_admin"))
    );
    let (status, _) = stack
        .call(Method::GET, "/v1/policy", None, None)
        .await
        .expect("policy");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let refused = audit(&stack, "subject=user:default/jane&action=read_policy").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["reason"], "not_admin");
    assert_eq!(refused[0]["policy_revision"], digest(POLICY));
    assert_eq!(policy_view(&stack).await["revision"], digest(POLICY));
    stack.stop().await;
}

/// Mints race reloads that grant and withdraw `orders/write` from `payments-team`: whichever
/// policy a mint reads decides it, and the record and events name exactly that policy.
#[tokio::test]
async fn concurrent_mints_during_reloads_each_name_the_policy_that_decided_them() {
    let stack = stack().await;
    let narrow = POLICY.to_owned();
    let wider = wider_policy();
    let (grants, withholds) = (digest(&wider), digest(&narrow));
    let toggling = async {
        for round in 0..16 {
            let next = if round % 2 == 0 { &wider } else { &narrow };
            stack.replace_policy(next).expect("write the policy");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    };
    let minting = async {
        let mut outcomes = Vec::new();
        for batch in 0..12 {
            let mints = (0..4).map(|i| {
                let subject = format!("user:default/racer-{batch}-{i}");
                let stack = &stack;
                async move { (subject.clone(), mint_write(stack, &subject).await) }
            });
            outcomes.extend(futures::future::join_all(mints).await);
            // Pauses of different lengths, so that batches cannot fall into step with the
            // reloads (a batch taking 200 ms on a busy machine made every batch meet one policy).
            tokio::time::sleep(Duration::from_millis(40 + 45 * (batch % 5))).await;
        }
        outcomes
    };
    let ((), outcomes) = tokio::join!(toggling, minting);
    let (mut issued, mut denied) = (0, 0);
    for (subject, (status, body)) in outcomes {
        match status {
            StatusCode::CREATED => {
                issued += 1;
                assert_eq!(body["credential"]["policy_revision"], grants, "{body}");
                let id = body["credential"]["id"].as_str().expect("id");
                for event in audit(&stack, &format!("issuance_id={id}")).await {
                    assert_eq!(event["policy_revision"], grants, "{event}");
                }
            }
            StatusCode::FORBIDDEN => {
                denied += 1;
                assert_eq!(body["code"], "scope_not_allowed", "{body}");
                let events = audit(&stack, &format!("subject={subject}&decision=deny")).await;
                assert_eq!(events.len(), 1, "{events:?}");
                assert_eq!(events[0]["policy_revision"], withholds, "{subject}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(issued > 0 && denied > 0, "{issued} issued, {denied} denied");
    stack.stop().await;
}

#[tokio::test]
async fn a_discoverable_api_explains_which_groups_grant_the_scopes_a_caller_lacks() {
    let discoverable = POLICY.replacen(
        "    max_ttl_seconds: 3600\n",
        "    max_ttl_seconds: 3600\n    discoverable: true\n",
        1,
    );
    let stack = Stack::start_with_policy(&discoverable)
        .await
        .expect("stack");
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (status, api) = stack
        .call(Method::GET, "/v1/apis/orders", Some(&jane), None)
        .await
        .expect("api");
    assert_eq!(status, StatusCode::OK, "{api}");
    assert_eq!(api["scopes"], json!([{"name": "read", "description": ""}]));
    assert_eq!(
        api["unavailable_scopes"],
        json!([{"name": "write", "description": "", "granted_by": ["orders-team"]}])
    );
    // A caller who may request nothing still learns what would let them, on this API only.
    let stranger = stack.token("user:default/sam", &["interns"]);
    let (status, api) = stack
        .call(Method::GET, "/v1/apis/orders", Some(&stranger), None)
        .await
        .expect("api");
    assert_eq!(status, StatusCode::OK, "{api}");
    assert_eq!(api["scopes"], json!([]));
    assert_eq!(
        api["unavailable_scopes"],
        json!([
            {"name": "read", "description": "", "granted_by": ["payments-team", "orders-team"]},
            {"name": "write", "description": "", "granted_by": ["orders-team"]},
        ])
    );
    let (status, problem) = stack
        .call(Method::GET, "/v1/apis/billing", Some(&stranger), None)
        .await
        .expect("api");
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "billing is not discoverable: {problem}"
    );
    assert!(!problem.to_string().contains("finance-team"), "{problem}");
    // The list stays what the caller may request.
    let (_, list) = stack
        .call(Method::GET, "/v1/apis", Some(&stranger), None)
        .await
        .expect("list");
    assert_eq!(list["items"], json!([]));
    stack.stop().await;
}

#[tokio::test]
async fn an_api_that_is_not_discoverable_reveals_no_group() {
    let stack = stack().await;
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (status, api) = stack
        .call(Method::GET, "/v1/apis/orders", Some(&jane), None)
        .await
        .expect("api");
    assert_eq!(status, StatusCode::OK, "{api}");
    assert_eq!(api["unavailable_scopes"], Value::Null, "{api}");
    assert!(!api.to_string().contains("granted_by"), "{api}");
    stack.stop().await;
}

/// The real binary with polling off: a new file waits for SIGHUP, which loads it at once and is
/// audited as such; the process keeps serving.
#[tokio::test]
async fn sighup_reloads_the_policy_file_in_the_running_binary() {
    let rig = Rig::start().await.expect("rig");
    let mut settings = rig.settings();
    settings.policy_poll_interval_ms = 0;
    settings.policy_source_revision = Some("4f2a9c1".to_owned());
    let gatekey = rig.spawn(&settings, "hup").await.expect("gatekey");
    let admin = rig.token("user:default/root", &["platform-admins"]);
    let http = reqwest::Client::new();
    let revision = || async {
        let view: Value = http
            .get(format!("{}/v1/policy", gatekey.url))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("policy")
            .json()
            .await
            .expect("json");
        view["revision"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(revision().await, digest(POLICY));
    let wider = wider_policy();
    std::fs::write(&settings.policy_file, &wider).expect("write the policy");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(revision().await, digest(POLICY), "polling is off");
    gatekey.hang_up().expect("SIGHUP");
    assert!(
        eventually(Duration::from_secs(10), || async {
            revision().await == digest(&wider)
        })
        .await,
        "SIGHUP did not reload the policy"
    );
    // The new policy takes effect before its load is audited: wait for the audit event too.
    let policy_loads = || async {
        http.get(format!("{}/v1/audit?action=policy_load", gatekey.url))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("audit")
            .json::<Value>()
            .await
            .expect("json")
    };
    assert!(
        eventually(Duration::from_secs(10), || async {
            policy_loads().await["items"][0]["reason"] == "sighup"
        })
        .await,
        "the SIGHUP reload was not audited"
    );
    let events = policy_loads().await;
    let latest = &events["items"][0];
    assert_eq!(latest["reason"], "sighup", "{events}");
    assert_eq!(latest["policy_revision"], digest(&wider));
    assert!(
        latest["detail"]
            .as_str()
            .is_some_and(|detail| detail.starts_with("source 4f2a9c1; previous ")),
        "{latest}"
    );
}
