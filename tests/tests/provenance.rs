//! Provenance from the gateway into an upstream's database (docs/provenance.md): a key minted by
//! Gatekey, a call through the Kong simulator (configured by `deploy/kong/kong.yaml`) to the
//! example upstream `deploy/examples/orders-service`, and the documented aggregation, parsed from
//! the document itself, naming the caller, their groups and purpose. Forged consumer headers sent
//! with a real key must not reach the upstream as the consumer's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use futures::TryStreamExt as _;
use gatekey_e2e::{POLICY, Stack};
use mongodb::bson::{Bson, Document};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const REPOSITORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The pipeline of docs/provenance.md: the first `json` block after its marker comment.
fn documented_pipeline() -> Vec<Document> {
    let text = std::fs::read_to_string(format!("{REPOSITORY}/docs/provenance.md")).unwrap();
    let after_marker = text
        .split_once("<!-- provenance-pipeline:")
        .expect("docs/provenance.md marks its pipeline")
        .1;
    let block = after_marker
        .split_once("```json\n")
        .expect("a json block follows the marker")
        .1
        .split_once("\n```")
        .expect("the json block ends")
        .0;
    let stages: Vec<Value> = serde_json::from_str(block).expect("the pipeline is JSON");
    stages
        .into_iter()
        .map(
            |stage| match Bson::try_from(stage).expect("JSON converts to BSON") {
                Bson::Document(document) => document,
                other => panic!("a stage is not a document: {other}"),
            },
        )
        .collect()
}

/// deploy/kong/kong.yaml with the `orders` service pointed at `upstream`.
fn deploy_kong_config(upstream: &str) -> String {
    let config = std::fs::read_to_string(format!("{REPOSITORY}/deploy/kong/kong.yaml")).unwrap();
    assert!(config.contains("http://orders-api:8080"));
    config.replace("http://orders-api:8080", upstream)
}

/// Mints a write key for the `orders` API: (issuance id, key).
async fn mint_write_key(stack: &Stack, token: &str, purpose: &str) -> (String, String) {
    let (status, minted) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(token),
            Some(&json!({"scopes": ["write"], "ttl_seconds": 300, "purpose": purpose})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    (
        minted["credential"]["id"].as_str().unwrap().to_owned(),
        minted["key"].as_str().unwrap().to_owned(),
    )
}

/// `PUT /orders/{number}` through the gateway with `key`, plus `extra` headers a client chose.
async fn change_order(
    stack: &Stack,
    number: u32,
    status: &str,
    key: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = stack
        .http
        .put(format!("{}/orders/{number}", stack.kong.proxy_url()))
        .header("apikey", key)
        .json(&json!({ "status": status }));
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn who_changed_order_42_is_one_documented_aggregation() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let orders_url = format!("http://{}", listener.local_addr().unwrap());
    let stack = Stack::start_with_kong(POLICY, |_| deploy_kong_config(&orders_url), |_| {})
        .await
        .unwrap();
    let client = mongodb::Client::with_uri_str(&stack.mongo.uri)
        .await
        .unwrap();
    // Layout A of docs/provenance.md: the upstream's collections in Gatekey's database.
    let database = client.database(&stack.database);
    gatekey_example_orders::ensure_indexes(&database)
        .await
        .unwrap();
    let (stop_orders, stopped) = tokio::sync::oneshot::channel::<()>();
    let orders = tokio::spawn({
        let database = database.clone();
        async move {
            gatekey_example_orders::serve(listener, &database, async move {
                let _ = stopped.await;
            })
            .await
        }
    });

    let alice = stack.token("user:default/alice", &["orders-team", "support"]);
    let (alice_credential, alice_key) =
        mint_write_key(&stack, &alice, "INC-4711: mark order 42 shipped").await;
    // Forged consumer headers next to a real key: two X-Consumer-Custom-ID values, the
    // underscore spelling nginx also accepts, and a claim to be the anonymous consumer.
    let (status, order) = change_order(
        &stack,
        42,
        "shipped",
        &alice_key,
        &[
            ("x-consumer-custom-id", "01JC2M4ZK7Q6V4D8W3X5Y9T0AB"),
            ("x-consumer-custom-id", "forged-second-value"),
            ("x_consumer_custom_id", "forged-underscore"),
            ("x-anonymous-consumer", "true"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["changed_by_credential"], alice_credential.as_str());

    let bob = stack.token("user:default/bob", &["orders-team"]);
    let (bob_credential, bob_key) = mint_write_key(&stack, &bob, "customer cancelled").await;
    let (status, order) = change_order(&stack, 42, "cancelled", &bob_key, &[]).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["changed_by_credential"], bob_credential.as_str());
    // Another order's change must not appear in order 42's answer.
    let (status, _) = change_order(&stack, 7, "paid", &bob_key, &[]).await;
    assert_eq!(status, StatusCode::OK);

    let answers: Vec<Document> = database
        .collection::<Document>(gatekey_example_orders::ORDER_CHANGES)
        .aggregate(documented_pipeline())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let answers: Vec<Value> = answers
        .into_iter()
        .map(|answer| Bson::Document(answer).into_relaxed_extjson())
        .collect();
    assert_eq!(answers.len(), 2, "{answers:#?}");
    let (latest, first) = (&answers[0], &answers[1]);

    assert_eq!(first["status"], "shipped");
    assert_eq!(first["credential_id"], alice_credential.as_str());
    assert_eq!(first["issuer"], stack.idp.issuer().as_str());
    assert_eq!(first["subject"], "user:default/alice");
    let mut groups: Vec<&str> = first["groups_at_mint"]
        .as_array()
        .expect("groups at mint time")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    groups.sort_unstable();
    assert_eq!(groups, ["orders-team", "support"]);
    assert_eq!(first["granting_groups"], json!(["orders-team"]));
    assert_eq!(first["purpose"], "INC-4711: mark order 42 shipped");
    assert_eq!(first["scopes"], json!(["write"]));
    assert!(first["changed_at"].is_object() && first["issued_at"].is_object());
    assert_eq!(
        first["kong_request_id"].as_str().map(str::len),
        Some(32),
        "the change joins Kong's request id: {first}"
    );

    assert_eq!(latest["status"], "cancelled");
    assert_eq!(latest["credential_id"], bob_credential.as_str());
    assert_eq!(latest["subject"], "user:default/bob");
    assert_eq!(latest["purpose"], "customer cancelled");

    // The upstream itself refuses a request that did not come through Kong's authentication.
    let direct = stack
        .http
        .put(format!("{orders_url}/orders/42"))
        .json(&json!({"status": "paid"}))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::UNAUTHORIZED);

    let _ = stop_orders.send(());
    orders.await.unwrap().unwrap();
    stack.stop().await;
}

#[tokio::test]
async fn a_client_sent_consumer_header_never_reaches_the_upstream_as_the_consumers() {
    let stack = Stack::start().await.unwrap();
    let jane = stack.token("user:default/jane", &["payments-team"]);
    let (status, minted) = stack
        .call(
            Method::POST,
            "/v1/apis/orders/credentials",
            Some(&jane),
            Some(&json!({"scopes": ["read"], "ttl_seconds": 300})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let credential = minted["credential"]["id"].as_str().unwrap();
    let key = minted["key"].as_str().unwrap();

    let forged = [
        ("x-consumer-custom-id", "forged"),
        ("x-consumer-id", "forged"),
        ("x-consumer-username", "forged"),
        ("x-credential-identifier", "forged"),
        ("x-anonymous-consumer", "true"),
    ];
    let mut request = stack
        .http
        .get(format!("{}/orders", stack.kong.proxy_url()))
        .header("apikey", key);
    for (name, value) in forged {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let echoed: Value = response.json().await.unwrap();
    let headers = &echoed["headers"];
    assert_eq!(headers["x-consumer-custom-id"], credential);
    for (name, _) in forged {
        assert_ne!(
            headers[name], "forged",
            "{name} reached the upstream as sent"
        );
    }
    assert!(headers.get("x-anonymous-consumer").is_none(), "{headers}");

    // Without a key the forged header goes nowhere: Kong answers 401 itself.
    let response = stack
        .http
        .get(format!("{}/orders", stack.kong.proxy_url()))
        .header("x-consumer-custom-id", credential)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    stack.stop().await;
}
