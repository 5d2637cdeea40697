//! Proxy behaviour: key-auth, acl and rate-limiting as Kong 3.7+ answers, and what reaches the
//! upstream.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Harness, header, read};

#[tokio::test]
async fn valid_key_in_header_reaches_upstream_with_consumer_headers() {
    let h = Harness::start().await;
    let consumer = h
        .consumer_with_key("alice", "alice-key", &["orders-read", "other"])
        .await;
    let response = h
        .proxy(
            Method::GET,
            "/orders/42?expand=items",
            &[("apikey", "alice-key")],
        )
        .await;
    assert!(header(&response, "x-kong-request-id").is_some());
    let (status, echoed) = read(response).await;
    assert_eq!(status, StatusCode::OK, "{echoed}");
    assert_eq!(echoed["method"], "GET");
    assert_eq!(
        echoed["path"], "/base/42",
        "strip_path removes /orders, service path is prefixed"
    );
    assert_eq!(echoed["query"], "expand=items");
    let headers = &echoed["headers"];
    assert_eq!(headers["x-consumer-id"], consumer["id"]);
    assert_eq!(headers["x-consumer-username"], "alice");
    assert_eq!(headers["x-consumer-custom-id"], "cid-alice");
    let mut groups: Vec<&str> = headers["x-consumer-groups"]
        .as_str()
        .expect("groups header")
        .split(", ")
        .collect();
    groups.sort_unstable();
    assert_eq!(groups, ["orders-read", "other"]);
    assert_eq!(
        headers["x-credential-identifier"].as_str().map(str::len),
        Some(36)
    );
    assert_eq!(
        headers["apikey"], "alice-key",
        "credentials are not hidden by default"
    );
    h.stop().await;
}

#[tokio::test]
async fn missing_key_is_401_with_www_authenticate() {
    let h = Harness::start().await;
    let response = h.proxy(Method::GET, "/orders", &[]).await;
    assert_eq!(header(&response, "www-authenticate"), Some("Key"));
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "No API key found in request");
    assert_eq!(body["request_id"].as_str().map(str::len), Some(32));

    let response = h.proxy(Method::GET, "/limited", &[]).await;
    assert_eq!(
        header(&response, "www-authenticate"),
        Some("Key realm=\"gatekey\"")
    );
    h.stop().await;
}

#[tokio::test]
async fn unknown_key_is_401_unauthorized() {
    let h = Harness::start().await;
    let response = h.proxy(Method::GET, "/orders", &[("apikey", "nope")]).await;
    assert_eq!(header(&response, "www-authenticate"), Some("Key"));
    let (status, body) = read(response).await;
    assert_eq!(
        (status, body["message"].clone()),
        (StatusCode::UNAUTHORIZED, json!("Unauthorized"))
    );
    h.stop().await;
}

#[tokio::test]
async fn expired_key_is_401_after_the_clock_moves() {
    let h = Harness::start().await;
    h.consumer_with_key("bo", "permanent", &["orders-read"])
        .await;
    let (status, _) = h
        .admin(
            Method::POST,
            "/consumers/bo/key-auth",
            Some(json!({"key": "temp", "ttl": 60})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        h.proxy(Method::GET, "/orders", &[("apikey", "temp")])
            .await
            .status(),
        StatusCode::OK
    );
    h.sim.advance_clock(Duration::from_secs(61));
    let (status, body) = read(h.proxy(Method::GET, "/orders", &[("apikey", "temp")]).await).await;
    assert_eq!(
        (status, body["message"].clone()),
        (StatusCode::UNAUTHORIZED, json!("Unauthorized"))
    );
    assert_eq!(
        h.proxy(Method::GET, "/orders", &[("apikey", "permanent")])
            .await
            .status(),
        StatusCode::OK
    );
    h.stop().await;
}

#[tokio::test]
async fn consumer_outside_the_acl_allow_list_is_403() {
    let h = Harness::start().await;
    h.consumer_with_key("cy", "cy-key", &["billing-read"]).await;
    let (status, body) = read(
        h.proxy(Method::GET, "/orders", &[("apikey", "cy-key")])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["message"], "You cannot consume this service");
    assert!(body["request_id"].is_string());
    h.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_kong_headers_until_the_window_resets() {
    let h = Harness::start().await;
    h.consumer_with_key("di", "di-key", &[]).await;
    let first = h
        .proxy(Method::GET, "/limited/x", &[("x-api-key", "di-key")])
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(header(&first, "x-ratelimit-limit-minute"), Some("2"));
    assert_eq!(header(&first, "x-ratelimit-remaining-minute"), Some("1"));
    assert_eq!(header(&first, "ratelimit-limit"), Some("2"));
    let (_, echoed) = read(first).await;
    assert_eq!(
        echoed["path"], "/limited/x",
        "strip_path: false keeps the prefix"
    );
    assert_eq!(
        h.proxy(Method::GET, "/limited", &[("x-api-key", "di-key")])
            .await
            .status(),
        StatusCode::OK
    );

    let refused = h
        .proxy(Method::GET, "/limited", &[("x-api-key", "di-key")])
        .await;
    assert_eq!(header(&refused, "ratelimit-limit"), Some("2"));
    assert_eq!(header(&refused, "ratelimit-remaining"), Some("0"));
    assert_eq!(header(&refused, "x-ratelimit-remaining-minute"), Some("0"));
    let reset: u64 = header(&refused, "ratelimit-reset")
        .expect("reset")
        .parse()
        .expect("number");
    assert!((1..=60).contains(&reset));
    assert_eq!(
        header(&refused, "retry-after"),
        Some(reset.to_string().as_str())
    );
    let (status, body) = read(refused).await;
    assert_eq!(
        (status, body["message"].clone()),
        (
            StatusCode::TOO_MANY_REQUESTS,
            json!("API rate limit exceeded")
        )
    );

    h.sim.advance_clock(Duration::from_secs(60));
    assert_eq!(
        h.proxy(Method::GET, "/limited", &[("x-api-key", "di-key")])
            .await
            .status(),
        StatusCode::OK
    );
    h.stop().await;
}

#[tokio::test]
async fn consumer_scoped_rate_limit_applies_to_that_consumer_only() {
    let h = Harness::start().await;
    h.consumer_with_key("ed", "ed-key", &["orders-read"]).await;
    h.consumer_with_key("flo", "flo-key", &["orders-read"])
        .await;
    let (status, _) = h
        .admin(
            Method::POST,
            "/consumers/ed/plugins",
            Some(json!({"name": "rate-limiting", "config": {"hour": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        h.proxy(Method::GET, "/orders", &[("apikey", "ed-key")])
            .await
            .status(),
        StatusCode::OK
    );
    let refused = h
        .proxy(Method::GET, "/orders", &[("apikey", "ed-key")])
        .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&refused, "x-ratelimit-limit-hour"), Some("1"));
    for _ in 0..3 {
        assert_eq!(
            h.proxy(Method::GET, "/orders", &[("apikey", "flo-key")])
                .await
                .status(),
            StatusCode::OK
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn key_in_query_string_is_accepted_unless_disabled() {
    let h = Harness::start().await;
    h.consumer_with_key("gil", "gil-key", &["orders-read"])
        .await;
    let (status, echoed) = read(
        h.proxy(Method::GET, "/orders?apikey=gil-key&a=1", &[])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed["headers"]["x-consumer-username"], "gil");
    let (status, body) = read(
        h.proxy(Method::GET, "/headers-only?apikey=gil-key", &[])
            .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].clone()),
        (
            StatusCode::UNAUTHORIZED,
            json!("No API key found in request")
        )
    );
    h.stop().await;
}

#[tokio::test]
async fn hide_credentials_strips_the_key_before_the_upstream() {
    let h = Harness::start().await;
    h.consumer_with_key("hu", "hu-key", &[]).await;
    let (status, echoed) = read(
        h.proxy(Method::GET, "/headers-only", &[("apikey", "hu-key")])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(echoed["headers"].get("apikey").is_none(), "{echoed}");
    assert_eq!(echoed["headers"]["x-consumer-username"], "hu");
    h.stop().await;
}

#[tokio::test]
async fn repeated_key_is_401_duplicate() {
    let h = Harness::start().await;
    h.consumer_with_key("ivy", "ivy-key", &["orders-read"])
        .await;
    let response = h
        .proxy(
            Method::GET,
            "/orders",
            &[("apikey", "ivy-key"), ("apikey", "ivy-key")],
        )
        .await;
    assert_eq!(header(&response, "www-authenticate"), Some("Key"));
    let (status, body) = read(response).await;
    assert_eq!(
        (status, body["message"].clone()),
        (StatusCode::UNAUTHORIZED, json!("Duplicate API key found"))
    );
    h.stop().await;
}

#[tokio::test]
async fn unmatched_paths_methods_and_dead_upstreams_get_kong_errors() {
    let h = Harness::start().await;
    let (status, body) = read(h.proxy(Method::GET, "/nowhere", &[]).await).await;
    assert_eq!(
        (status, body["message"].clone()),
        (
            StatusCode::NOT_FOUND,
            json!("no Route matched with those values")
        )
    );
    assert!(body["request_id"].is_string());
    let (status, _) = read(h.proxy(Method::POST, "/orders", &[]).await).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "orders-read only matches GET"
    );
    let (status, body) = read(h.proxy(Method::GET, "/dead", &[]).await).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        body["message"],
        "An invalid response was received from the upstream server"
    );
    h.stop().await;
}

#[tokio::test]
async fn request_body_and_method_are_forwarded() {
    let h = Harness::start().await;
    h.consumer_with_key("jan", "jan-key", &[]).await;
    let response = h
        .http
        .put(format!("{}/headers-only/items", h.sim.proxy_url()))
        .header("apikey", "jan-key")
        .body("payload")
        .send()
        .await
        .expect("send");
    let (status, echoed) = read(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            echoed["method"].clone(),
            echoed["body"].clone(),
            echoed["path"].clone()
        ),
        (json!("PUT"), json!("payload"), json!("/items"))
    );
    h.stop().await;
}

/// The status of a proxied `GET /orders` with `key`.
async fn orders_with(h: &Harness, key: &str) -> StatusCode {
    h.proxy(Method::GET, "/orders", &[("apikey", key)])
        .await
        .status()
}

#[tokio::test]
async fn a_deleted_key_works_on_the_proxy_node_until_db_update_frequency_passes() {
    let h = Harness::start_with_db_update_frequency(Duration::from_secs(5)).await;
    h.consumer_with_key("dee", "dee-key", &["orders-read"])
        .await;
    assert_eq!(orders_with(&h, "dee-key").await, StatusCode::OK);

    let (status, _) = h.admin(Method::DELETE, "/consumers/dee", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.admin(Method::GET, "/consumers/dee", None).await.0,
        StatusCode::NOT_FOUND,
        "the node that took the deletion no longer has the consumer"
    );
    assert_eq!(
        orders_with(&h, "dee-key").await,
        StatusCode::OK,
        "the other node has not seen the deletion yet"
    );
    h.sim.advance_clock(Duration::from_millis(4_900));
    assert_eq!(orders_with(&h, "dee-key").await, StatusCode::OK);
    h.sim.advance_clock(Duration::from_millis(200));
    let (status, body) = read(
        h.proxy(Method::GET, "/orders", &[("apikey", "dee-key")])
            .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].clone()),
        (StatusCode::UNAUTHORIZED, json!("Unauthorized")),
        "refused once db_update_frequency has passed"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_key_is_refused_from_the_second_its_remaining_ttl_reads_0() {
    let h = Harness::start().await;
    h.consumer_with_key("tia", "tia-permanent", &["orders-read"])
        .await;
    let (status, key) = h
        .admin(
            Method::POST,
            "/consumers/tia/key-auth",
            Some(json!({"key": "tia-ten", "ttl": 10})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let created_at = key["created_at"].as_f64().expect("whole-second created_at");
    // Kong stores the expiry as created_at + ttl: created_at + 10 here, whatever the fraction of
    // the second the key was created in. Move the simulated clock (the real one plus the offset
    // this test adds) relative to that.
    let mut advanced = 0.0;
    let mut advance_to = |h: &Harness, target: f64| {
        let real_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_secs_f64();
        let by = (target - real_now - advanced).max(0.0);
        h.sim.advance_clock(Duration::from_secs_f64(by));
        advanced += by;
    };
    advance_to(&h, created_at + 8.5);
    let (_, read_back) = h.admin(Method::GET, "/key-auths/tia-ten", None).await;
    assert_eq!(read_back["ttl"], 1, "{read_back}");
    assert_eq!(orders_with(&h, "tia-ten").await, StatusCode::OK);

    advance_to(&h, created_at + 9.5);
    let (status, read_back) = h.admin(Method::GET, "/key-auths/tia-ten", None).await;
    assert_eq!(
        (status, read_back["ttl"].clone()),
        (StatusCode::OK, json!(0)),
        "the row is still there, its ttl reads 0"
    );
    assert_eq!(
        orders_with(&h, "tia-ten").await,
        StatusCode::UNAUTHORIZED,
        "key-auth treats a credential whose ttl reads 0 as expired"
    );
    assert_eq!(orders_with(&h, "tia-permanent").await, StatusCode::OK);

    advance_to(&h, created_at + 10.5);
    assert_eq!(
        h.admin(Method::GET, "/key-auths/tia-ten", None).await.0,
        StatusCode::NOT_FOUND
    );
    h.stop().await;
}

/// Consumer headers a client sends, as Kong's key-auth `set_consumer` treats them
/// (`kong/plugins/key-auth/handler.lua`): replaced by the consumer's values, or cleared when the
/// consumer has none, wherever key-auth authenticates; untouched on a route without an
/// authentication plugin. Upstreams that record `X-Consumer-Custom-ID` (docs/provenance.md)
/// rely on the first and must never be reachable through the second.
#[tokio::test]
async fn client_sent_consumer_headers_are_replaced_where_key_auth_runs_and_only_there() {
    let h = Harness::start().await;
    let ivy = h
        .consumer_with_key("ivy", "ivy-key", &["orders-read"])
        .await;
    let forged = [
        ("x-consumer-custom-id", "forged"),
        ("x-consumer-id", "forged"),
        ("x-consumer-username", "forged"),
        ("x-credential-identifier", "forged"),
        ("x-anonymous-consumer", "true"),
    ];
    let mut with_key = vec![("apikey", "ivy-key")];
    with_key.extend(forged);
    let (status, echoed) = read(h.proxy(Method::GET, "/orders", &with_key).await).await;
    assert_eq!(status, StatusCode::OK, "{echoed}");
    let headers = &echoed["headers"];
    assert_eq!(headers["x-consumer-custom-id"], "cid-ivy");
    assert_eq!(headers["x-consumer-id"], ivy["id"]);
    assert_eq!(headers["x-consumer-username"], "ivy");
    assert_ne!(headers["x-credential-identifier"], "forged");
    assert!(headers.get("x-anonymous-consumer").is_none(), "{headers}");

    // A consumer without a custom_id: Kong clears the header rather than passing the client's.
    let (status, _) = h
        .admin(
            Method::POST,
            "/consumers",
            Some(json!({"username": "no-custom-id"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for (path, body) in [
        (
            "/consumers/no-custom-id/key-auth",
            json!({"key": "plain-key"}),
        ),
        (
            "/consumers/no-custom-id/acls",
            json!({"group": "orders-read"}),
        ),
    ] {
        assert_eq!(
            h.admin(Method::POST, path, Some(body)).await.0,
            StatusCode::CREATED
        );
    }
    let mut with_key = vec![("apikey", "plain-key")];
    with_key.extend(forged);
    let (status, echoed) = read(h.proxy(Method::GET, "/orders", &with_key).await).await;
    assert_eq!(status, StatusCode::OK, "{echoed}");
    assert!(
        echoed["headers"].get("x-consumer-custom-id").is_none(),
        "{echoed}"
    );

    // No authentication plugin on the route: Kong passes the client's headers as sent.
    let (status, echoed) = read(h.proxy(Method::GET, "/open", &forged).await).await;
    assert_eq!(status, StatusCode::OK, "{echoed}");
    assert_eq!(echoed["headers"]["x-consumer-custom-id"], "forged");
    h.stop().await;
}
