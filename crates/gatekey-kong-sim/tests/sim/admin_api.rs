//! Admin API conformance: what a client of Kong's Admin API observes, per the contract.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Harness, read};

#[tokio::test]
async fn node_info_and_status_report_a_db_mode_kong_3() {
    let h = Harness::start().await;
    let (status, info) = h.admin(Method::GET, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["version"], "3.9.1");
    assert_eq!(info["configuration"]["database"], "postgres");
    for plugin in ["key-auth", "acl", "rate-limiting"] {
        assert!(
            info["plugins"]["available_on_server"][plugin].is_object(),
            "{plugin}"
        );
    }
    let (status, body) = h.admin(Method::GET, "/status", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["database"]["reachable"], true);
    assert!(body["server"]["total_requests"].as_u64().expect("counter") >= 2);
    h.stop().await;
}

#[tokio::test]
async fn consumer_create_validates_and_refuses_duplicates() {
    let h = Harness::start().await;
    let (status, alice) = h
        .admin(
            Method::POST,
            "/consumers",
            Some(json!({"username": "alice", "tags": ["t"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(alice["custom_id"], Value::Null);
    assert!(alice["created_at"].is_i64() && alice["updated_at"].is_i64());
    assert_eq!(alice["id"].as_str().expect("id").len(), 36);

    let (status, err) = h
        .admin(Method::POST, "/consumers", Some(json!({"tags": ["x"]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], 2);
    assert_eq!(err["name"], "schema violation");
    assert_eq!(
        err["fields"]["@entity"][0],
        "at least one of these fields must be non-empty: 'custom_id', 'username'"
    );

    let (status, err) = h
        .admin(
            Method::POST,
            "/consumers",
            Some(json!({"username": "alice"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        err,
        json!({"code": 5, "name": "unique constraint violation",
               "message": "UNIQUE violation detected on '{username=\"alice\"}'",
               "fields": {"username": "alice"}})
    );

    let (status, err) = h
        .admin(
            Method::POST,
            "/consumers",
            Some(json!({"username": "bob", "nickname": "b"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["fields"]["nickname"], "unknown field");

    let (status, err) = h
        .admin(
            Method::POST,
            "/consumers",
            Some(json!({"username": "bob", "ttl": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], 11);

    let (status, err) = h
        .admin(
            Method::POST,
            "/consumers",
            Some(json!({"id": alice["id"], "username": "carol"})),
        )
        .await;
    assert_eq!(
        (status, err["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(3))
    );
    h.stop().await;
}

#[tokio::test]
async fn plain_errors_for_unknown_paths_methods_and_bodies() {
    let h = Harness::start().await;
    assert_eq!(
        h.admin(Method::GET, "/consumers/nobody", None).await,
        (StatusCode::NOT_FOUND, json!({"message": "Not found"}))
    );
    assert_eq!(
        h.admin(Method::GET, "/no-such-endpoint", None).await,
        (StatusCode::NOT_FOUND, json!({"message": "Not found"}))
    );
    assert_eq!(
        h.admin(Method::DELETE, "/consumers", None).await,
        (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"message": "Method not allowed"})
        )
    );
    let response = h
        .http
        .post(format!("{}/consumers", h.sim.admin_url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(
        read(response).await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "Cannot parse JSON body"})
        )
    );
    let response = h
        .http
        .post(format!("{}/consumers", h.sim.admin_url()))
        .header("content-type", "text/plain")
        .body("username=x")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    h.stop().await;
}

#[tokio::test]
async fn form_bodies_are_accepted_like_json() {
    let h = Harness::start().await;
    let response = h
        .http
        .post(format!("{}/consumers", h.sim.admin_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=formy&tags[]=a&tags[]=b")
        .send()
        .await
        .expect("send");
    let (status, consumer) = read(response).await;
    assert_eq!(status, StatusCode::CREATED, "{consumer}");
    assert_eq!(consumer["tags"], json!(["a", "b"]));
    let response = h
        .http
        .post(format!("{}/consumers/formy/key-auth", h.sim.admin_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("ttl=60")
        .send()
        .await
        .expect("send");
    let (status, key) = read(response).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        key["ttl"].as_i64().is_some_and(|t| (59..=60).contains(&t)),
        "{key}"
    );
    h.stop().await;
}

#[tokio::test]
async fn uuid_shaped_segments_are_only_ids() {
    let h = Harness::start().await;
    let uuid_name = "6c2b7e0a-8a3e-4f4e-9f1a-0d6d3c8b9e01";
    let (status, consumer) = h
        .admin(
            Method::POST,
            "/consumers",
            Some(json!({"username": uuid_name})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        h.admin(Method::GET, &format!("/consumers/{uuid_name}"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let id = consumer["id"].as_str().expect("id");
    let (status, by_id) = h
        .admin(Method::GET, &format!("/consumers/{id}"), None)
        .await;
    assert_eq!(
        (status, &by_id["username"]),
        (StatusCode::OK, &json!(uuid_name))
    );
    h.stop().await;
}

#[tokio::test]
async fn pagination_follows_offset_and_next_across_pages_in_id_order() {
    let h = Harness::start().await;
    for i in 0..4 {
        let (status, _) = h
            .admin(
                Method::POST,
                "/consumers",
                Some(json!({"username": format!("p{i}"), "tags": ["page"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut ids = Vec::new();
    let mut path = "/consumers?size=2&tags=page".to_owned();
    let mut pages = 0;
    loop {
        let (status, page) = h.admin(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        ids.extend(
            page["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|c| c["id"].as_str().expect("id").to_owned()),
        );
        let Some(next) = page["next"].as_str() else {
            assert!(
                page.get("offset").is_none(),
                "last page has no offset: {page}"
            );
            break;
        };
        let offset = page["offset"].as_str().expect("offset with next");
        assert!(
            next.starts_with("/consumers?offset=") && next.ends_with("&tags=page&size=2"),
            "{next}"
        );
        assert!(next.contains(offset));
        path = next.to_owned();
    }
    assert_eq!(pages, 2);
    assert_eq!(ids.len(), 4);
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ordered by id");

    let (status, err) = h.admin(Method::GET, "/consumers?size=0", None).await;
    assert_eq!(
        (status, err["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(9))
    );
    let (status, err) = h.admin(Method::GET, "/consumers?size=abc", None).await;
    assert_eq!(
        (status, err["message"].clone()),
        (StatusCode::BAD_REQUEST, json!("size must be a number"))
    );
    let (status, err) = h.admin(Method::GET, "/consumers?size=1001", None).await;
    assert_eq!(err["message"], "size must be an integer between 1 and 1000");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, err) = h
        .admin(Method::GET, "/consumers?offset=garbage!", None)
        .await;
    assert_eq!(
        (status, err["code"].clone(), err["name"].clone()),
        (StatusCode::BAD_REQUEST, json!(7), json!("invalid offset"))
    );
    h.stop().await;
}

#[tokio::test]
async fn tag_filters_and_or_and_refuse_mixing_or_too_many() {
    let h = Harness::start().await;
    for (name, tags) in [
        ("ab", json!(["a", "b"])),
        ("a", json!(["a"])),
        ("c", json!(["c"])),
    ] {
        h.admin(
            Method::POST,
            "/consumers",
            Some(json!({"username": name, "tags": tags})),
        )
        .await;
    }
    let names = |page: &Value| -> Vec<String> {
        let mut names: Vec<String> = page["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|c| c["username"].as_str().expect("name").to_owned())
            .collect();
        names.sort();
        names
    };
    let (_, and) = h.admin(Method::GET, "/consumers?tags=a,b", None).await;
    assert_eq!(names(&and), ["ab"]);
    let (_, or) = h.admin(Method::GET, "/consumers?tags=b/c", None).await;
    assert_eq!(names(&or), ["ab", "c"]);
    let (status, err) = h.admin(Method::GET, "/consumers?tags=a,b/c", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err,
        json!({"code": 11, "name": "invalid options",
               "message": "invalid option (tags: invalid filter syntax)",
               "options": {"tags": "invalid filter syntax"}})
    );
    let (status, err) = h
        .admin(Method::GET, "/consumers?tags=a,b,c,d,e,f", None)
        .await;
    assert_eq!(
        (status, err["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("invalid option (tags: cannot query more than 5 tags)")
        )
    );
    h.stop().await;
}

#[tokio::test]
async fn put_upserts_by_username_keeping_the_id_and_nulling_omitted_fields() {
    let h = Harness::start().await;
    let (status, created) = h
        .admin(
            Method::PUT,
            "/consumers/dave",
            Some(json!({"custom_id": "d-1", "tags": ["x"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (created["username"].clone(), created["custom_id"].clone()),
        (json!("dave"), json!("d-1"))
    );
    let (status, replaced) = h
        .admin(Method::PUT, "/consumers/dave", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replaced["id"], created["id"]);
    assert_eq!(replaced["custom_id"], Value::Null);
    assert_eq!(replaced["tags"], Value::Null);
    let (status, patched) = h
        .admin(
            Method::PATCH,
            "/consumers/dave",
            Some(json!({"custom_id": "d-2"})),
        )
        .await;
    assert_eq!(
        (
            status,
            patched["custom_id"].clone(),
            patched["username"].clone()
        ),
        (StatusCode::OK, json!("d-2"), json!("dave"))
    );
    assert_eq!(
        h.admin(
            Method::PATCH,
            "/consumers/ghost",
            Some(json!({"custom_id": "g"}))
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    h.stop().await;
}

#[tokio::test]
async fn deleting_a_consumer_cascades_and_missing_top_level_delete_is_204() {
    let h = Harness::start().await;
    h.consumer_with_key("erin", "erin-key", &["g1"]).await;
    let (status, _) = h
        .admin(
            Method::POST,
            "/consumers/erin/plugins",
            Some(json!({"name": "rate-limiting", "config": {"minute": 5}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        h.admin(Method::DELETE, "/consumers/erin", None).await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(
        h.admin(Method::DELETE, "/consumers/erin", None).await.0,
        StatusCode::NO_CONTENT
    );
    for list in ["/key-auths", "/acls", "/plugins"] {
        let (_, page) = h.admin(Method::GET, list, None).await;
        let leftovers: Vec<&Value> = page["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter(|row| row["consumer"].is_object())
            .collect();
        assert!(leftovers.is_empty(), "{list}: {leftovers:?}");
    }
    assert_eq!(
        h.admin(Method::GET, "/consumers/erin/key-auth", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    h.stop().await;
}

#[tokio::test]
async fn key_auth_generates_keys_refuses_duplicates_and_nests_under_its_consumer() {
    let h = Harness::start().await;
    h.consumer_with_key("fay", "fay-key", &[]).await;
    h.consumer_with_key("gus", "gus-key", &[]).await;
    let (status, generated) = h
        .admin(Method::POST, "/consumers/fay/key-auth", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let key = generated["key"].as_str().expect("key");
    assert!(
        key.len() == 32 && key.chars().all(|c| c.is_ascii_alphanumeric()),
        "{key}"
    );
    assert_eq!(generated["ttl"], Value::Null);
    assert!(generated.get("updated_at").is_none());
    assert_eq!(generated["consumer"]["id"].as_str().map(str::len), Some(36));

    let (status, err) = h
        .admin(
            Method::POST,
            "/consumers/fay/key-auth",
            Some(json!({"key": "gus-key"})),
        )
        .await;
    assert_eq!(
        (status, err["code"].clone(), err["fields"].clone()),
        (StatusCode::CONFLICT, json!(5), json!({"key": "gus-key"}))
    );
    assert_eq!(
        h.admin(Method::POST, "/consumers/nobody/key-auth", Some(json!({})))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let (status, by_key) = h
        .admin(Method::GET, "/consumers/fay/key-auth/fay-key", None)
        .await;
    assert_eq!(
        (status, by_key["key"].clone()),
        (StatusCode::OK, json!("fay-key"))
    );
    assert_eq!(
        h.admin(Method::GET, "/consumers/gus/key-auth/fay-key", None)
            .await
            .0,
        StatusCode::NOT_FOUND,
        "another consumer's key"
    );
    assert_eq!(
        h.admin(Method::DELETE, "/consumers/gus/key-auth/fay-key", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.admin(Method::DELETE, "/consumers/nobody/key-auth/fay-key", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.admin(Method::DELETE, "/consumers/fay/key-auth/fay-key", None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.admin(Method::DELETE, "/consumers/fay/key-auth/fay-key", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let (_, page) = h.admin(Method::GET, "/consumers/fay/key-auth", None).await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1));
    let (status, put) = h
        .admin(
            Method::PUT,
            "/consumers/fay/key-auth/chosen",
            Some(json!({"tags": ["p"]})),
        )
        .await;
    assert_eq!(
        (status, put["key"].clone()),
        (StatusCode::OK, json!("chosen"))
    );
    h.stop().await;
}

#[tokio::test]
async fn ttl_reads_as_remaining_seconds_and_expired_keys_are_gone() {
    let h = Harness::start().await;
    h.consumer_with_key("hal", "permanent", &[]).await;
    let (status, created) = h
        .admin(
            Method::POST,
            "/consumers/hal/key-auth",
            Some(json!({"key": "short", "ttl": 100})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        created["ttl"]
            .as_i64()
            .is_some_and(|t| (99..=100).contains(&t)),
        "{created}"
    );

    h.sim.advance_clock(Duration::from_secs(30));
    let (_, read_back) = h
        .admin(Method::GET, "/consumers/hal/key-auth/short", None)
        .await;
    assert!(
        read_back["ttl"]
            .as_i64()
            .is_some_and(|t| (69..=70).contains(&t)),
        "{read_back}"
    );

    let (_, patched) = h
        .admin(
            Method::PATCH,
            "/consumers/hal/key-auth/short",
            Some(json!({"ttl": 500})),
        )
        .await;
    assert!(
        patched["ttl"]
            .as_i64()
            .is_some_and(|t| (499..=500).contains(&t)),
        "PATCH resets: {patched}"
    );
    let (_, cleared) = h
        .admin(
            Method::PATCH,
            "/consumers/hal/key-auth/permanent",
            Some(json!({"ttl": 0})),
        )
        .await;
    assert_eq!(cleared["ttl"], Value::Null);

    for bad in [json!(-1), json!(100_000_001), json!("ten")] {
        let (status, err) = h
            .admin(
                Method::POST,
                "/consumers/hal/key-auth",
                Some(json!({"ttl": bad})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            err["message"],
            "invalid option (ttl: must be an integer between 0 and 100000000)"
        );
    }

    // Advance over HTTP, as an out-of-process test would.
    let response = h
        .http
        .post(format!("{}/_sim/clock/advance", h.sim.admin_url()))
        .json(&json!({"seconds": 501}))
        .send()
        .await
        .expect("advance");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        h.admin(Method::GET, "/consumers/hal/key-auth/short", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.admin(
            Method::PATCH,
            "/consumers/hal/key-auth/short",
            Some(json!({"ttl": 5}))
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (_, page) = h.admin(Method::GET, "/consumers/hal/key-auth", None).await;
    let keys: Vec<&str> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|k| k["key"].as_str())
        .collect();
    assert_eq!(keys, ["permanent"]);
    let (_, all) = h.admin(Method::GET, "/key-auths", None).await;
    assert!(!all.to_string().contains("\"short\""), "{all}");
    h.stop().await;
}

#[tokio::test]
async fn expired_keys_hold_their_unique_key_until_the_purge() {
    let slow = Harness::start().await;
    slow.consumer_with_key("ian", "first", &[]).await;
    slow.admin(
        Method::POST,
        "/consumers/ian/key-auth",
        Some(json!({"key": "reused", "ttl": 1})),
    )
    .await;
    slow.sim.advance_clock(Duration::from_secs(5));
    let (status, _) = slow
        .admin(
            Method::POST,
            "/consumers/ian/key-auth",
            Some(json!({"key": "reused"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "expired but not purged yet");
    slow.stop().await;

    let fast = Harness::start_with_purge(Duration::from_millis(20)).await;
    fast.consumer_with_key("ian", "first", &[]).await;
    fast.admin(
        Method::POST,
        "/consumers/ian/key-auth",
        Some(json!({"key": "reused", "ttl": 1})),
    )
    .await;
    fast.sim.advance_clock(Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, _) = fast
        .admin(
            Method::POST,
            "/consumers/ian/key-auth",
            Some(json!({"key": "reused"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "purged");
    fast.stop().await;
}

#[tokio::test]
async fn acl_groups_are_required_unique_per_consumer_and_deletable_by_name() {
    let h = Harness::start().await;
    let jo = h.consumer_with_key("jo", "jo-key", &["team-a"]).await;
    h.consumer_with_key("kim", "kim-key", &["team-a"]).await;
    let (status, err) = h
        .admin(Method::POST, "/consumers/jo/acls", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["fields"], json!({"group": "required field missing"}));
    let (status, err) = h
        .admin(
            Method::POST,
            "/consumers/jo/acls",
            Some(json!({"group": "team-a"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let id = jo["id"].as_str().expect("id");
    assert_eq!(
        err["message"],
        format!("UNIQUE violation detected on '{{consumer={{id=\"{id}\"}},group=\"team-a\"}}'")
    );
    let (_, page) = h.admin(Method::GET, "/consumers/jo/acls", None).await;
    assert_eq!(page["data"][0]["group"], "team-a");
    assert_eq!(
        h.admin(Method::DELETE, "/consumers/jo/acls/team-a", None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.admin(Method::DELETE, "/consumers/jo/acls/team-a", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, kims) = h.admin(Method::GET, "/consumers/kim/acls", None).await;
    assert_eq!(
        kims["data"].as_array().map(Vec::len),
        Some(1),
        "other consumer keeps its group"
    );
    h.stop().await;
}

#[tokio::test]
async fn consumer_plugins_accept_rate_limiting_and_refuse_unknown_or_unscopable_plugins() {
    let h = Harness::start().await;
    h.consumer_with_key("lee", "lee-key", &[]).await;
    let (status, plugin) = h
        .admin(
            Method::POST,
            "/consumers/lee/plugins",
            Some(json!({"name": "rate-limiting", "config": {"minute": 60, "policy": "local"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plugin}");
    assert_eq!(plugin["config"]["minute"], 60);
    assert_eq!(plugin["config"]["second"], Value::Null);
    assert_eq!(plugin["config"]["error_code"], 429);
    assert_eq!(plugin["enabled"], true);
    let (status, err) = h
        .admin(
            Method::POST,
            "/consumers/lee/plugins",
            Some(json!({"name": "rate-limiting", "config": {"minute": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    let (status, err) = h
        .admin(
            Method::POST,
            "/consumers/lee/plugins",
            Some(json!({"name": "oauth9"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err["fields"]["name"],
        "plugin 'oauth9' not enabled; add it to the 'plugins' configuration property"
    );
    let (status, err) = h
        .admin(
            Method::POST,
            "/consumers/lee/plugins",
            Some(json!({"name": "acl", "config": {"allow": ["x"]}})),
        )
        .await;
    assert_eq!(
        (status, err["fields"]["consumer"].clone()),
        (StatusCode::BAD_REQUEST, json!("value must be null"))
    );
    let (status, err) = h
        .admin(
            Method::POST,
            "/consumers/lee/plugins",
            Some(json!({"config": {}})),
        )
        .await;
    assert_eq!(
        (status, err["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("schema violation (name: required field missing)")
        )
    );
    let (_, page) = h.admin(Method::GET, "/consumers/lee/plugins", None).await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1));
    h.stop().await;
}

#[tokio::test]
async fn declarative_services_routes_and_plugins_are_listed_and_new_ones_created() {
    let h = Harness::start().await;
    let (status, service) = h.admin(Method::GET, "/services/orders", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (service["path"].clone(), service["protocol"].clone()),
        (json!("/base"), json!("http"))
    );
    let (_, routes) = h.admin(Method::GET, "/services/orders/routes", None).await;
    assert_eq!(routes["data"][0]["name"], "orders-read");
    assert_eq!(routes["data"][0]["strip_path"], true);
    let (_, plugins) = h.admin(Method::GET, "/services/orders/plugins", None).await;
    assert_eq!(plugins["data"][0]["name"], "key-auth");
    assert_eq!(plugins["data"][0]["config"]["key_names"], json!(["apikey"]));
    let (_, route_plugins) = h
        .admin(Method::GET, "/routes/orders-read/plugins", None)
        .await;
    assert_eq!(
        route_plugins["data"][0]["config"]["allow"],
        json!(["orders-read"])
    );
    let (_, all) = h.admin(Method::GET, "/plugins", None).await;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(5));
    let (_, seeded) = h.admin(Method::GET, "/consumers/seeded", None).await;
    assert_eq!(seeded["tags"], json!(["declarative"]));
    assert_eq!(
        h.admin(Method::GET, "/services/missing/routes", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let (status, created) = h
        .admin(
            Method::POST,
            "/services",
            Some(json!({"name": "new", "url": "http://example.test:8080/v1"})),
        )
        .await;
    assert_eq!(
        (status, created["port"].clone(), created["host"].clone()),
        (StatusCode::CREATED, json!(8080), json!("example.test"))
    );
    let (status, _) = h
        .admin(
            Method::POST,
            "/services/new/routes",
            Some(json!({"name": "new-route", "paths": ["/new"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, err) = h
        .admin(
            Method::POST,
            "/routes",
            Some(
                json!({"paths": ["/x"], "service": {"id": "00000000-0000-4000-8000-000000000000"}}),
            ),
        )
        .await;
    assert_eq!(
        (status, err["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(4))
    );
    let (status, _) = h
        .admin(
            Method::POST,
            "/services/new/plugins",
            Some(json!({"name": "acl", "config": {"deny": ["x"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, err) = h
        .admin(
            Method::POST,
            "/services",
            Some(json!({"name": "new", "url": "http://other.test"})),
        )
        .await;
    assert_eq!(
        (status, err["fields"]["name"].clone()),
        (StatusCode::CONFLICT, json!("new"))
    );
    h.stop().await;
}

#[tokio::test]
async fn rate_limiting_windows_must_be_positive_and_increase_as_kong_answers() {
    let h = Harness::start().await;
    h.consumer_with_key("rio", "rio-key", &[]).await;
    let plugin = |config: Value| Some(json!({"name": "rate-limiting", "config": config}));
    let (status, err) = h
        .admin(
            Method::POST,
            "/consumers/rio/plugins",
            plugin(json!({"second": 10, "minute": 100, "hour": 50})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err,
        json!({
            "code": 2,
            "name": "schema violation",
            "message": "schema violation (config: The limit for hour(50.0) cannot be lower than the limit for minute(100.0))",
            "fields": {"config": "The limit for hour(50.0) cannot be lower than the limit for minute(100.0)"},
        })
    );
    let (status, err) = h
        .admin(
            Method::POST,
            "/consumers/rio/plugins",
            plugin(json!({"minute": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err,
        json!({
            "code": 2,
            "name": "schema violation",
            "message": "schema violation (config.minute: value must be greater than 0)",
            "fields": {"config": {"minute": "value must be greater than 0"}},
        })
    );
    let (status, created) = h
        .admin(
            Method::POST,
            "/consumers/rio/plugins",
            plugin(json!({"second": 5, "minute": 5, "hour": 300})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "equal windows are allowed: {created}"
    );
    h.stop().await;
}

#[tokio::test]
async fn status_reports_the_database_unreachable_while_it_is_down() {
    let h = Harness::start().await;
    h.sim.set_database_reachable(false);
    let (status, body) = h.admin(Method::GET, "/status", None).await;
    assert_eq!(
        (status, body["database"]["reachable"].clone()),
        (StatusCode::OK, json!(false))
    );
    let (status, body) = h.admin(Method::GET, "/consumers", None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"message": "An unexpected error occurred"})
        )
    );

    // Back up over HTTP, as an out-of-process test would.
    let response = h
        .http
        .post(format!("{}/_sim/database", h.sim.admin_url()))
        .json(&json!({"reachable": true}))
        .send()
        .await
        .expect("switch");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, body) = h.admin(Method::GET, "/status", None).await;
    assert_eq!(body["database"]["reachable"], true);
    assert_eq!(
        h.admin(Method::GET, "/consumers", None).await.0,
        StatusCode::OK
    );
    h.stop().await;
}
