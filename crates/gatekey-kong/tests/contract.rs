//! Contract tests of the Kong Admin API client over real sockets. They run against the in-repo
//! simulator, or against a real Kong when `KONG_ADMIN_URL` is set (optionally with
//! `KONG_ADMIN_HEADER` and `KONG_ADMIN_TOKEN`); every entity they create carries a tag unique to
//! the test and is deleted afterwards. Tests of faults and transport behaviour need a server
//! that misbehaves on demand, so they always use a local simulator or a tiny local server.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method as AxumMethod, StatusCode};
use axum::routing::get;
use gatekey_kong::{
    AdminAuth, EntityIds, KongClient, KongConfig, KongError, ListQuery, NewAcl, NewConsumer,
    NewKeyAuth, NewPlugin, TagFilter,
};
use gatekey_kong_sim::Fault;
use reqwest::Method;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use support::{Fixture, contract, quick_client, serve, start_sim};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use url::Url;

fn consumer(fx: &Fixture, name: &str) -> NewConsumer {
    NewConsumer {
        username: Some(fx.name(name)),
        custom_id: None,
        tags: fx.tags(),
    }
}

fn ids<'a>(consumers: impl IntoIterator<Item = &'a gatekey_kong::Consumer>) -> BTreeSet<String> {
    consumers.into_iter().map(|c| c.id.clone()).collect()
}

#[tokio::test]
async fn node_info_and_status_describe_a_writable_node() {
    contract("node_info", |fx| async move {
        let node = fx.client.node_info().await.expect("GET /");
        assert!(node.version.starts_with('3'), "version {}", node.version);
        assert!(node.configuration.database.is_some());
        assert!(node.accepts_writes());
        let status = fx.client.status().await.expect("GET /status");
        assert!(status.database.reachable);
    })
    .await;
}

#[tokio::test]
async fn consumers_are_created_read_upserted_and_deleted() {
    contract("consumer_crud", |fx| async move {
        let created = fx
            .client
            .create_consumer(&NewConsumer {
                custom_id: Some(fx.name("cid")),
                ..consumer(&fx, "alice")
            })
            .await
            .expect("create");
        assert_eq!(created.username.as_deref(), Some(fx.name("alice").as_str()));
        assert_eq!(created.tags, vec![fx.tag.clone()]);
        assert!(created.created_at > 1_600_000_000);

        let by_name = fx
            .client
            .get_consumer(&fx.name("alice"))
            .await
            .expect("get");
        assert_eq!(by_name.map(|c| c.id), Some(created.id.clone()));
        let by_id = fx.client.get_consumer(&created.id).await.expect("get");
        assert_eq!(by_id.and_then(|c| c.custom_id), Some(fx.name("cid")));

        // PUT replaces the whole record but keeps the id: the omitted custom_id becomes null.
        let replaced = fx
            .client
            .upsert_consumer(
                &fx.name("alice"),
                &NewConsumer {
                    tags: fx.tags_with(&["replaced"]),
                    ..NewConsumer::default()
                },
            )
            .await
            .expect("upsert existing");
        assert_eq!(replaced.id, created.id);
        assert_eq!(replaced.custom_id, None);
        assert_eq!(
            replaced.username.as_deref(),
            Some(fx.name("alice").as_str())
        );
        assert!(replaced.tags.contains(&"replaced".to_owned()));

        let inserted = fx
            .client
            .upsert_consumer(&fx.name("bob"), &consumer(&fx, "ignored-by-put"))
            .await
            .expect("upsert new");
        assert_ne!(inserted.id, created.id);
        assert_eq!(inserted.username.as_deref(), Some(fx.name("bob").as_str()));

        fx.client
            .delete_consumer(&created.id)
            .await
            .expect("delete");
        assert!(
            fx.client
                .get_consumer(&created.id)
                .await
                .expect("get")
                .is_none()
        );
        fx.client
            .delete_consumer(&created.id)
            .await
            .expect("deleting an absent consumer is Ok");
        fx.client
            .delete_consumer(&fx.name("never-existed"))
            .await
            .expect("deleting an unknown username is Ok");
    })
    .await;
}

#[tokio::test]
async fn usernames_with_reserved_characters_round_trip_through_paths() {
    contract("encoding", |fx| async move {
        let username = fx.name("a b?c#d%e+é");
        let created = fx
            .client
            .upsert_consumer(
                &username,
                &NewConsumer {
                    tags: fx.tags(),
                    ..NewConsumer::default()
                },
            )
            .await
            .expect("upsert");
        assert_eq!(created.username.as_deref(), Some(username.as_str()));
        let found = fx.client.get_consumer(&username).await.expect("get");
        assert_eq!(found.map(|c| c.id), Some(created.id));
        assert!(matches!(
            fx.client.get_consumer("..").await,
            Err(KongError::InvalidArgument(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn consumer_lists_paginate_by_size() {
    contract("paginate", |fx| async move {
        let mut created = BTreeSet::new();
        for i in 0..5 {
            let c = fx
                .client
                .create_consumer(&consumer(&fx, &format!("page-{i}")))
                .await
                .expect("create");
            created.insert(c.id);
        }
        let mut query = ListQuery {
            size: Some(2),
            ..ListQuery::tagged_all([fx.tag.clone()])
        };
        let mut sizes = Vec::new();
        let mut seen = BTreeSet::new();
        loop {
            let page = fx.client.list_consumers(&query).await.expect("page");
            sizes.push(page.data.len());
            for c in &page.data {
                assert!(seen.insert(c.id.clone()), "{} listed twice", c.id);
            }
            match page.offset {
                Some(offset) => query.offset = Some(offset),
                None => break,
            }
        }
        assert_eq!(sizes, vec![2, 2, 1]);
        assert_eq!(seen, created);

        let all = fx
            .client
            .list_all_consumers(&ListQuery {
                size: Some(2),
                ..ListQuery::tagged_all([fx.tag.clone()])
            })
            .await
            .expect("all pages");
        assert_eq!(ids(&all), created);
    })
    .await;
}

#[tokio::test]
async fn tag_filters_select_all_of_or_any_of() {
    contract("tags", |fx| async move {
        let (x, y) = (fx.name("x"), fx.name("y"));
        let make = |name: &'static str, extra: Vec<String>| {
            let fx = fx.clone();
            async move {
                let mut tags = vec![fx.tag.clone()];
                tags.extend(extra);
                fx.client
                    .create_consumer(&NewConsumer {
                        username: Some(fx.name(name)),
                        custom_id: None,
                        tags: Some(tags),
                    })
                    .await
                    .expect("create")
                    .id
            }
        };
        let only_x = make("only-x", vec![x.clone()]).await;
        let only_y = make("only-y", vec![y.clone()]).await;
        let both = make("both", vec![x.clone(), y.clone()]).await;
        let _neither = make("neither", vec![]).await;

        let list = |filter: TagFilter| {
            let client = fx.client.clone();
            async move {
                let query = ListQuery {
                    tags: Some(filter),
                    ..ListQuery::default()
                };
                ids(&client.list_all_consumers(&query).await.expect("list"))
            }
        };
        assert_eq!(
            list(TagFilter::All(vec![x.clone(), y.clone()])).await,
            BTreeSet::from([both.clone()])
        );
        assert_eq!(
            list(TagFilter::Any(vec![x.clone(), y.clone()])).await,
            BTreeSet::from([only_x.clone(), only_y, both.clone()])
        );
        assert_eq!(
            list(TagFilter::All(vec![fx.tag.clone(), x.clone()])).await,
            BTreeSet::from([only_x, both])
        );
        let mixed = ListQuery {
            tags: Some(TagFilter::All(vec![format!("{x}/{y}")])),
            ..ListQuery::default()
        };
        assert!(matches!(
            fx.client.list_consumers(&mixed).await,
            Err(KongError::InvalidArgument(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn bad_page_size_and_offset_are_typed_errors() {
    contract("list_errors", |fx| async move {
        let err = fx
            .client
            .list_consumers(&ListQuery {
                size: Some(0),
                ..ListQuery::default()
            })
            .await
            .expect_err("size 0");
        assert!(matches!(err, KongError::InvalidSize { .. }), "{err:?}");
        let err = fx
            .client
            .list_consumers(&ListQuery {
                size: Some(1001),
                ..ListQuery::default()
            })
            .await
            .expect_err("size 1001");
        assert!(matches!(err, KongError::InvalidSize { .. }), "{err:?}");
        let err = fx
            .client
            .list_consumers(&ListQuery {
                offset: Some("!!not-an-offset!!".to_owned()),
                ..ListQuery::default()
            })
            .await
            .expect_err("bad offset");
        assert!(matches!(err, KongError::InvalidOffset { .. }), "{err:?}");
        assert_eq!(err.status(), Some(400));
    })
    .await;
}

#[tokio::test]
async fn duplicate_username_is_a_unique_violation_with_fields() {
    contract("unique", |fx| async move {
        fx.client
            .create_consumer(&consumer(&fx, "dup"))
            .await
            .expect("first");
        let err = fx
            .client
            .create_consumer(&consumer(&fx, "dup"))
            .await
            .expect_err("second");
        let KongError::UniqueViolation { fields, message } = &err else {
            panic!("expected a unique violation, got {err:?}")
        };
        assert_eq!(fields["username"], json!(fx.name("dup")));
        assert!(message.contains("UNIQUE violation"), "{message}");
        assert_eq!(err.status(), Some(409));
        assert!(!err.is_retryable());
    })
    .await;
}

#[tokio::test]
async fn consumer_without_username_or_custom_id_is_a_schema_violation() {
    contract("schema", |fx| async move {
        let err = fx
            .client
            .create_consumer(&NewConsumer {
                tags: fx.tags(),
                ..NewConsumer::default()
            })
            .await
            .expect_err("no username, no custom_id");
        let KongError::SchemaViolation { fields, message } = &err else {
            panic!("expected a schema violation, got {err:?}")
        };
        assert!(fields.contains_key("@entity"), "{fields:?}");
        assert!(message.contains("username"), "{message}");
        assert_eq!(err.status(), Some(400));
    })
    .await;
}

#[tokio::test]
async fn key_auth_credentials_with_generated_and_given_keys() {
    contract("key_auth", |fx| async move {
        let owner = fx
            .client
            .create_consumer(&consumer(&fx, "keys"))
            .await
            .expect("consumer");
        let generated = fx
            .client
            .create_key_auth(
                &owner.id,
                &NewKeyAuth {
                    tags: fx.tags(),
                    ..NewKeyAuth::default()
                },
            )
            .await
            .expect("generated key");
        assert!(generated.key.expose_secret().len() >= 32);
        assert_eq!(generated.ttl, None);
        assert_eq!(generated.consumer.id, owner.id);
        assert!(!format!("{generated:?}").contains(generated.key.expose_secret()));

        let key = format!("{}-given-key", fx.tag);
        let given = fx
            .client
            .create_key_auth(
                &fx.name("keys"),
                &NewKeyAuth {
                    key: Some(SecretString::from(key.clone())),
                    ttl: None,
                    tags: fx.tags(),
                },
            )
            .await
            .expect("given key");
        assert_eq!(given.key.expose_secret(), key);

        let by_id = fx
            .client
            .get_key_auth(&owner.id, &given.id)
            .await
            .expect("get by id");
        assert_eq!(by_id.map(|k| k.id), Some(given.id.clone()));
        let by_key = fx
            .client
            .get_key_auth(&fx.name("keys"), &key)
            .await
            .expect("get by key");
        assert_eq!(by_key.map(|k| k.id), Some(given.id.clone()));
        let listed = fx.client.list_key_auths(&owner.id).await.expect("list");
        let listed: BTreeSet<_> = listed.data.into_iter().map(|k| k.id).collect();
        assert_eq!(
            listed,
            BTreeSet::from([generated.id.clone(), given.id.clone()])
        );

        // Kong echoes a duplicate key in its error; the decoded error must not.
        let err = fx
            .client
            .create_key_auth(
                &owner.id,
                &NewKeyAuth {
                    key: Some(SecretString::from(key.clone())),
                    ttl: None,
                    tags: fx.tags(),
                },
            )
            .await
            .expect_err("duplicate key");
        assert!(matches!(err, KongError::UniqueViolation { .. }), "{err:?}");
        assert!(!format!("{err} {err:?}").contains(&key), "{err:?}");

        fx.client
            .delete_key_auth(&owner.id, &given.id)
            .await
            .expect("delete");
        assert!(
            fx.client
                .get_key_auth(&owner.id, &given.id)
                .await
                .expect("get")
                .is_none()
        );
        fx.client
            .delete_key_auth(&owner.id, &given.id)
            .await
            .expect("deleting again is Ok");
        assert!(matches!(
            fx.client.list_key_auths(&fx.name("nobody")).await,
            Err(KongError::NotFound { .. })
        ));

        // A credential is only reachable under its own consumer.
        let stranger = fx
            .client
            .create_consumer(&consumer(&fx, "stranger"))
            .await
            .expect("consumer");
        assert!(
            fx.client
                .get_key_auth(&stranger.id, &generated.id)
                .await
                .expect("get")
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn key_auth_ttl_counts_down_and_the_key_disappears() {
    contract("key_ttl", |fx| async move {
        let owner = fx
            .client
            .create_consumer(&consumer(&fx, "ttl"))
            .await
            .expect("consumer");
        let credential = fx
            .client
            .create_key_auth(
                &owner.id,
                &NewKeyAuth {
                    ttl: Some(3),
                    tags: fx.tags(),
                    ..NewKeyAuth::default()
                },
            )
            .await
            .expect("key with ttl");
        let remaining = credential.ttl.expect("a ttl is reported");
        assert!((1..=3).contains(&remaining), "remaining {remaining}");

        fx.target.advance(Duration::from_secs(1)).await;
        let later = fx
            .client
            .get_key_auth(&owner.id, &credential.id)
            .await
            .expect("get")
            .expect("still there");
        let later_remaining = later.ttl.expect("ttl");
        assert!(
            later_remaining < remaining || later_remaining <= 2,
            "{later_remaining}"
        );

        fx.target.advance(Duration::from_secs(3)).await;
        assert!(
            fx.client
                .get_key_auth(&owner.id, &credential.id)
                .await
                .expect("get")
                .is_none()
        );
        let listed = fx.client.list_key_auths(&owner.id).await.expect("list");
        assert!(listed.data.is_empty());
        let everywhere = fx
            .client
            .list_top_level_key_auths(&ListQuery::tagged_all([fx.tag.clone()]))
            .await
            .expect("top-level list");
        assert!(everywhere.data.is_empty());
    })
    .await;
}

#[tokio::test]
async fn key_auth_ttl_out_of_range_is_an_invalid_option() {
    contract("key_ttl_range", |fx| async move {
        let owner = fx
            .client
            .create_consumer(&consumer(&fx, "ttl-range"))
            .await
            .expect("consumer");
        let err = fx
            .client
            .create_key_auth(
                &owner.id,
                &NewKeyAuth {
                    ttl: Some(100_000_001),
                    tags: fx.tags(),
                    ..NewKeyAuth::default()
                },
            )
            .await
            .expect_err("ttl above 100000000");
        assert!(
            matches!(&err, KongError::InvalidOptions { message, .. } if message.contains("ttl")),
            "{err:?}"
        );
        let forever = fx
            .client
            .create_key_auth(
                &owner.id,
                &NewKeyAuth {
                    ttl: Some(0),
                    tags: fx.tags(),
                    ..NewKeyAuth::default()
                },
            )
            .await
            .expect("ttl 0 = never expires");
        assert_eq!(forever.ttl, None);
    })
    .await;
}

#[tokio::test]
async fn acl_groups_are_added_listed_and_unique_per_consumer() {
    contract("acls", |fx| async move {
        let owner = fx
            .client
            .create_consumer(&consumer(&fx, "acl"))
            .await
            .expect("consumer");
        for group in ["orders-read", "orders-write"] {
            let acl = fx
                .client
                .add_acl_group(
                    &fx.name("acl"),
                    &NewAcl {
                        group: group.to_owned(),
                        tags: fx.tags(),
                    },
                )
                .await
                .expect("add group");
            assert_eq!(acl.group, group);
            assert_eq!(acl.consumer.id, owner.id);
        }
        let groups: BTreeSet<_> = fx
            .client
            .list_acl_groups(&owner.id)
            .await
            .expect("list")
            .data
            .into_iter()
            .map(|a| a.group)
            .collect();
        assert_eq!(
            groups,
            BTreeSet::from(["orders-read".to_owned(), "orders-write".to_owned()])
        );
        let err = fx
            .client
            .add_acl_group(
                &owner.id,
                &NewAcl {
                    group: "orders-read".to_owned(),
                    tags: fx.tags(),
                },
            )
            .await
            .expect_err("duplicate group");
        let KongError::UniqueViolation { fields, .. } = &err else {
            panic!("expected a unique violation, got {err:?}")
        };
        assert_eq!(fields["group"], "orders-read");
        assert_eq!(fields["consumer"]["id"], json!(owner.id));

        // The same group on another consumer is fine.
        let other = fx
            .client
            .create_consumer(&consumer(&fx, "acl-other"))
            .await
            .expect("consumer");
        fx.client
            .add_acl_group(
                &other.id,
                &NewAcl {
                    group: "orders-read".to_owned(),
                    tags: fx.tags(),
                },
            )
            .await
            .expect("same group, other consumer");
        assert!(matches!(
            fx.client
                .add_acl_group(
                    &fx.name("nobody"),
                    &NewAcl {
                        group: "g".to_owned(),
                        tags: None,
                    }
                )
                .await,
            Err(KongError::NotFound { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn consumer_scoped_rate_limiting_plugin() {
    contract("plugin", |fx| async move {
        let owner = fx
            .client
            .create_consumer(&consumer(&fx, "limited"))
            .await
            .expect("consumer");
        let rate_limit = NewPlugin {
            name: "rate-limiting".to_owned(),
            config: json!({"minute": 60, "policy": "local"}),
            tags: fx.tags(),
        };
        let plugin = fx
            .client
            .add_consumer_plugin(&owner.id, &rate_limit)
            .await
            .expect("plugin");
        assert_eq!(plugin.name, "rate-limiting");
        assert_eq!(plugin.consumer.map(|c| c.id), Some(owner.id.clone()));
        assert_eq!(plugin.config["minute"], 60);
        assert!(plugin.enabled);
        let err = fx
            .client
            .add_consumer_plugin(&owner.id, &rate_limit)
            .await
            .expect_err("same plugin twice");
        assert!(matches!(err, KongError::UniqueViolation { .. }), "{err:?}");
        let err = fx
            .client
            .add_consumer_plugin(
                &owner.id,
                &NewPlugin {
                    name: "rate-limiting".to_owned(),
                    config: json!({}),
                    tags: fx.tags(),
                },
            )
            .await
            .expect_err("no limit");
        assert!(matches!(err, KongError::SchemaViolation { .. }), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn deleting_a_consumer_removes_its_credentials_and_groups() {
    contract("cascade", |fx| async move {
        let owner = fx
            .client
            .create_consumer(&consumer(&fx, "cascade"))
            .await
            .expect("consumer");
        let credential = fx
            .client
            .create_key_auth(
                &owner.id,
                &NewKeyAuth {
                    tags: fx.tags(),
                    ..NewKeyAuth::default()
                },
            )
            .await
            .expect("key");
        fx.client
            .add_acl_group(
                &owner.id,
                &NewAcl {
                    group: "cascade".to_owned(),
                    tags: fx.tags(),
                },
            )
            .await
            .expect("acl");
        let tagged = ListQuery::tagged_all([fx.tag.clone()]);
        let before = fx
            .client
            .list_top_level_key_auths(&tagged)
            .await
            .expect("key-auths");
        assert_eq!(before.data.len(), 1);

        fx.client
            .delete_consumer(&fx.name("cascade"))
            .await
            .expect("delete");

        assert!(
            fx.client
                .get_consumer(&owner.id)
                .await
                .expect("get")
                .is_none()
        );
        assert!(
            fx.client
                .get_key_auth(&owner.id, &credential.id)
                .await
                .expect("get key")
                .is_none()
        );
        let keys = fx
            .client
            .list_top_level_key_auths(&tagged)
            .await
            .expect("key-auths");
        assert!(keys.data.is_empty(), "{:?}", keys.data);
        let acls = fx.client.list_top_level_acls(&tagged).await.expect("acls");
        assert!(acls.data.is_empty(), "{:?}", acls.data);
    })
    .await;
}

#[tokio::test]
async fn services_routes_and_their_plugins_are_readable() {
    contract("services", |fx| async move {
        let name = fx.name("svc");
        let service = fx
            .admin(
                Method::POST,
                "/services",
                Some(json!({"name": name, "url": "http://upstream.invalid:8080/api", "tags": [fx.tag]})),
            )
            .await;
        fx.admin(
            Method::POST,
            &format!("/services/{name}/routes"),
            Some(json!({"name": fx.name("route"), "paths": [format!("/{name}")], "tags": [fx.tag]})),
        )
        .await;
        for plugin in [
            json!({"name": "key-auth", "tags": [fx.tag]}),
            json!({"name": "acl", "config": {"allow": ["orders-read"]}, "tags": [fx.tag]}),
        ] {
            fx.admin(Method::POST, &format!("/services/{name}/plugins"), Some(plugin))
                .await;
        }

        let found = fx
            .client
            .get_service(&name)
            .await
            .expect("get")
            .expect("service exists");
        assert_eq!(found.id, service["id"].as_str().expect("id"));
        assert_eq!((found.host.as_str(), found.port), ("upstream.invalid", 8080));
        assert_eq!(found.path.as_deref(), Some("/api"));
        assert!(fx.client.get_service(&fx.name("missing")).await.expect("get").is_none());

        let tagged = ListQuery::tagged_all([fx.tag.clone()]);
        let services = fx.client.list_services(&tagged).await.expect("services");
        assert_eq!(services.data.len(), 1);
        let routes = fx
            .client
            .list_routes(Some(&name), &ListQuery::default())
            .await
            .expect("routes");
        assert_eq!(routes.data.len(), 1);
        assert_eq!(routes.data[0].service.as_ref().map(|s| s.id.as_str()), Some(found.id.as_str()));
        let all_routes = fx.client.list_routes(None, &tagged).await.expect("routes");
        assert_eq!(all_routes.data.len(), 1);

        let plugins = fx
            .client
            .list_plugins(Some(&found.id), &ListQuery::default())
            .await
            .expect("plugins");
        let names: BTreeSet<_> = plugins.data.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, BTreeSet::from(["acl", "key-auth"]));
        let acl = plugins.data.iter().find(|p| p.name == "acl").expect("acl plugin");
        assert_eq!(acl.config["allow"], json!(["orders-read"]));
        let tagged_plugins = fx.client.list_plugins(None, &tagged).await.expect("plugins");
        assert_eq!(tagged_plugins.data.len(), 2);
        assert!(matches!(
            fx.client.list_routes(Some(&fx.name("missing")), &ListQuery::default()).await,
            Err(KongError::NotFound { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn every_page_of_services_routes_and_plugins_is_read() {
    contract("paging_services", |fx| async move {
        for n in 0..3 {
            let name = fx.name(&format!("svc{n}"));
            fx.admin(
                Method::POST,
                "/services",
                Some(json!({"name": name, "url": "http://upstream.invalid", "tags": [fx.tag, format!("gatekey-entity:api:default:svc{n}")]})),
            )
            .await;
            fx.admin(
                Method::POST,
                &format!("/services/{name}/routes"),
                Some(json!({"name": fx.name(&format!("route{n}")), "paths": [format!("/{name}")], "tags": [fx.tag]})),
            )
            .await;
            fx.admin(
                Method::POST,
                &format!("/services/{name}/plugins"),
                Some(json!({"name": "acl", "config": {"allow": [format!("group-{n}")]}, "tags": [fx.tag]})),
            )
            .await;
        }
        let pages_of_two = ListQuery {
            size: Some(2),
            ..ListQuery::tagged_all([fx.tag.clone()])
        };
        let services = fx.client.list_all_services(&pages_of_two).await.expect("services");
        let names: BTreeSet<_> = services.iter().filter_map(|s| s.name.clone()).collect();
        assert_eq!(names, (0..3).map(|n| fx.name(&format!("svc{n}"))).collect());
        assert!(services.iter().all(|s| s.tags.iter().any(|t| t.starts_with("gatekey-entity:api:default:svc"))));
        let routes = fx.client.list_all_routes(&pages_of_two).await.expect("routes");
        assert_eq!(routes.len(), 3);
        let service_ids: BTreeSet<_> = services.iter().map(|s| s.id.clone()).collect();
        let route_services: BTreeSet<_> =
            routes.iter().filter_map(|r| r.service.as_ref().map(|s| s.id.clone())).collect();
        assert_eq!(route_services, service_ids);
        let plugins = fx.client.list_all_plugins(&pages_of_two).await.expect("plugins");
        let allowed: BTreeSet<_> = plugins
            .iter()
            .filter(|p| p.name == "acl" && p.enabled)
            .map(|p| p.config["allow"][0].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(allowed, BTreeSet::from(["group-0".to_owned(), "group-1".to_owned(), "group-2".to_owned()]));
    })
    .await;
}

/// Fresh entity ids, as a mint derives them from its issuance id.
fn fresh_ids() -> EntityIds {
    EntityIds::from_seed(*uuid::Uuid::new_v4().as_bytes())
}

#[tokio::test]
async fn a_consumer_put_twice_to_its_id_is_one_consumer() {
    contract("put_consumer", |fx| async move {
        let chosen = fresh_ids();
        let body = NewConsumer {
            custom_id: Some(fx.name("custom")),
            ..consumer(&fx, "put")
        };
        let first = fx
            .client
            .put_consumer(&chosen.consumer(), &body)
            .await
            .expect("create");
        assert_eq!(first.id, chosen.consumer().to_string());
        assert_eq!(first.username, Some(fx.name("put")));
        let again = fx
            .client
            .put_consumer(&chosen.consumer(), &body)
            .await
            .expect("repeat");
        assert_eq!(again.id, first.id);
        assert_eq!(again.created_at, first.created_at);
        assert_eq!(again.custom_id, Some(fx.name("custom")));
        let tagged = ListQuery::tagged_all([fx.tag.clone()]);
        let all = fx.client.list_all_consumers(&tagged).await.expect("list");
        assert_eq!(ids(&all), BTreeSet::from([first.id.clone()]));
        let err = fx
            .client
            .put_consumer(&fresh_ids().consumer(), &body)
            .await
            .expect_err("the same username under another id");
        assert!(matches!(err, KongError::UniqueViolation { .. }), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn acl_groups_put_twice_to_their_ids_are_one_membership_each() {
    contract("put_acl", |fx| async move {
        let ids = fresh_ids();
        let owner = fx
            .client
            .put_consumer(&ids.consumer(), &consumer(&fx, "acl-put"))
            .await
            .expect("consumer");
        for _ in 0..2 {
            for group in ["orders-read", "orders-write"] {
                let acl = NewAcl {
                    group: group.to_owned(),
                    tags: fx.tags(),
                };
                let put = fx
                    .client
                    .put_acl_group(&owner.id, &ids.acl(group), &acl)
                    .await
                    .expect("put group");
                assert_eq!(put.id, ids.acl(group).to_string());
                assert_eq!(put.group, group);
                assert_eq!(put.consumer.id, owner.id);
            }
        }
        let groups = fx.client.list_acl_groups(&owner.id).await.expect("list");
        let mut names: Vec<_> = groups.data.iter().map(|a| a.group.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["orders-read", "orders-write"]);
        let err = fx
            .client
            .put_acl_group(
                &owner.id,
                &ids.acl("another id"),
                &NewAcl {
                    group: "orders-read".to_owned(),
                    tags: fx.tags(),
                },
            )
            .await
            .expect_err("a group the consumer holds under another id");
        assert!(matches!(err, KongError::UniqueViolation { .. }), "{err:?}");
        let err = fx
            .client
            .put_acl_group(
                &fresh_ids().consumer().to_string(),
                &ids.acl("x"),
                &NewAcl {
                    group: "x".to_owned(),
                    tags: fx.tags(),
                },
            )
            .await
            .expect_err("no such consumer");
        assert!(matches!(err, KongError::NotFound { .. }), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn a_key_auth_put_twice_to_its_id_is_one_credential() {
    contract("put_key", |fx| async move {
        let ids = fresh_ids();
        let owner = fx
            .client
            .put_consumer(&ids.consumer(), &consumer(&fx, "key-put"))
            .await
            .expect("consumer");
        let key = format!("gk_put_{}", fx.tag);
        let body = NewKeyAuth {
            key: Some(SecretString::from(key.clone())),
            ttl: Some(600),
            tags: fx.tags(),
        };
        let first = fx
            .client
            .put_key_auth(&owner.id, &ids.key_auth(), &body)
            .await
            .expect("create");
        assert_eq!(first.id, ids.key_auth().to_string());
        assert_eq!(first.key.expose_secret(), key);
        assert!(
            first.ttl.is_some_and(|ttl| (590..=600).contains(&ttl)),
            "{:?}",
            first.ttl
        );
        let again = fx
            .client
            .put_key_auth(&owner.id, &ids.key_auth(), &body)
            .await
            .expect("repeat");
        assert_eq!(again.id, first.id);
        assert_eq!(again.created_at, first.created_at);
        let listed = fx.client.list_key_auths(&owner.id).await.expect("list");
        assert_eq!(listed.data.len(), 1);
        assert_eq!(listed.data[0].key.expose_secret(), key);
    })
    .await;
}

#[tokio::test]
async fn a_rate_limiting_plugin_put_twice_to_its_id_is_one_plugin() {
    contract("put_plugin", |fx| async move {
        let ids = fresh_ids();
        let owner = fx
            .client
            .put_consumer(&ids.consumer(), &consumer(&fx, "plugin-put"))
            .await
            .expect("consumer");
        let rate_limit = NewPlugin {
            name: "rate-limiting".to_owned(),
            config: json!({"minute": 60, "policy": "local"}),
            tags: fx.tags(),
        };
        let first = fx
            .client
            .put_consumer_plugin(&owner.id, &ids.rate_limiting(), &rate_limit)
            .await
            .expect("create");
        assert_eq!(first.id, ids.rate_limiting().to_string());
        assert_eq!(
            first.consumer.as_ref().map(|c| c.id.as_str()),
            Some(owner.id.as_str())
        );
        assert_eq!(first.config["minute"], 60);
        let again = fx
            .client
            .put_consumer_plugin(&owner.id, &ids.rate_limiting(), &rate_limit)
            .await
            .expect("repeat");
        assert_eq!(again.id, first.id);
        let plugins = fx
            .admin(
                Method::GET,
                &format!("/consumers/{}/plugins", owner.id),
                None,
            )
            .await;
        let listed: Vec<_> = plugins["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(listed, std::slice::from_ref(&first.id));
        let err = fx
            .client
            .put_consumer_plugin(&owner.id, &fresh_ids().rate_limiting(), &rate_limit)
            .await
            .expect_err("the same plugin for the consumer under another id");
        assert!(matches!(err, KongError::UniqueViolation { .. }), "{err:?}");
    })
    .await;
}

// ---- Behaviour only a local server can produce: faults, silence, refusals, headers, TLS. ----

fn fault(method: AxumMethod, path_contains: &str, status: u16, times: u32) -> Fault {
    Fault {
        method,
        path_contains: path_contains.to_owned(),
        status,
        times,
    }
}

#[tokio::test]
async fn idempotent_calls_are_retried_on_5xx() {
    let sim = start_sim().await;
    let url = Url::parse(&sim.admin_url()).expect("url");
    let client = quick_client(url.clone(), Duration::from_secs(5), 2);
    client
        .create_consumer(&NewConsumer {
            username: Some("retry".to_owned()),
            ..NewConsumer::default()
        })
        .await
        .expect("create");

    sim.inject_fault(fault(AxumMethod::GET, "/consumers/retry", 500, 2));
    let before = sim.admin_request_count();
    let found = client
        .get_consumer("retry")
        .await
        .expect("third attempt succeeds");
    assert!(found.is_some());
    assert_eq!(sim.admin_request_count() - before, 3);

    sim.inject_fault(fault(AxumMethod::PUT, "/consumers/retry", 503, 1));
    let before = sim.admin_request_count();
    client
        .upsert_consumer("retry", &NewConsumer::default())
        .await
        .expect("second attempt succeeds");
    assert_eq!(sim.admin_request_count() - before, 2);

    sim.inject_fault(fault(AxumMethod::GET, "/consumers/retry", 500, 3));
    let before = sim.admin_request_count();
    let err = client
        .get_consumer("retry")
        .await
        .expect_err("retries exhausted");
    assert!(matches!(err, KongError::Api { status: 500, .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(sim.admin_request_count() - before, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_put_whose_first_attempts_fail_lands_once() {
    let sim = start_sim().await;
    let client = quick_client(
        Url::parse(&sim.admin_url()).expect("url"),
        Duration::from_secs(5),
        3,
    );
    let ids = fresh_ids();
    let owner = client
        .put_consumer(
            &ids.consumer(),
            &NewConsumer {
                username: Some("put-retry".to_owned()),
                ..NewConsumer::default()
            },
        )
        .await
        .expect("consumer");
    sim.inject_fault(fault(AxumMethod::PUT, "/key-auth/", 503, 2));
    let before = sim.admin_request_count();
    let started = Instant::now();
    let credential = client
        .put_key_auth(
            &owner.id,
            &ids.key_auth(),
            &NewKeyAuth {
                key: Some(SecretString::from("put-retry-key")),
                ttl: Some(60),
                tags: None,
            },
        )
        .await
        .expect("third attempt succeeds");
    assert_eq!(sim.admin_request_count() - before, 3);
    // Two backoffs of at least 100 ms and 200 ms (jitter only lengthens them).
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(credential.id, ids.key_auth().to_string());
    let listed = client.list_key_auths(&owner.id).await.expect("list");
    assert_eq!(listed.data.len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn retries_stop_at_the_callers_deadline() {
    let sim = start_sim().await;
    let client = quick_client(
        Url::parse(&sim.admin_url()).expect("url"),
        Duration::from_secs(5),
        10,
    );
    sim.inject_fault(fault(AxumMethod::GET, "/consumers/deadline", 500, 100));
    let before = sim.admin_request_count();
    let started = Instant::now();
    let err = client
        .with_deadline(tokio::time::Instant::now() + Duration::from_millis(700))
        .get_consumer("deadline")
        .await
        .expect_err("every attempt fails");
    assert!(matches!(err, KongError::Api { status: 500, .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    // The first two backoffs (100-200 ms, 200-400 ms with jitter) end before the deadline; the
    // third (400-800 ms) would end after it, so the client gives up after three attempts.
    assert_eq!(sim.admin_request_count() - before, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn posts_are_never_retried() {
    let sim = start_sim().await;
    let client = quick_client(
        Url::parse(&sim.admin_url()).expect("url"),
        Duration::from_secs(5),
        3,
    );
    sim.inject_fault(fault(AxumMethod::POST, "/consumers", 500, 1));
    let before = sim.admin_request_count();
    let err = client
        .create_consumer(&NewConsumer {
            username: Some("once".to_owned()),
            ..NewConsumer::default()
        })
        .await
        .expect_err("the fault answers");
    assert!(matches!(err, KongError::Api { status: 500, .. }), "{err:?}");
    assert_eq!(sim.admin_request_count() - before, 1);
    assert!(client.get_consumer("once").await.expect("get").is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_silent_admin_api_times_out_quickly() {
    // Accepts connections (the kernel backlog does) but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = Url::parse(&format!("http://{}", silent.local_addr().expect("addr"))).expect("url");

    let started = Instant::now();
    let err = quick_client(url.clone(), Duration::from_millis(300), 0)
        .status()
        .await
        .expect_err("no answer");
    assert!(matches!(err, KongError::Timeout), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // A retried GET waits for each attempt plus the backoff, and still ends in Timeout.
    let started = Instant::now();
    let err = quick_client(url, Duration::from_millis(300), 1)
        .get_consumer("x")
        .await
        .expect_err("no answer");
    assert!(matches!(err, KongError::Timeout), "{err:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(650) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    drop(silent);
}

#[tokio::test]
async fn a_redirect_is_an_answer_and_is_never_followed() {
    let elsewhere = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&elsewhere);
    let thief = serve(axum::Router::new().fallback(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { axum::Json(json!({ "version": "3.9.1" })) }
    }))
    .await;
    let redirecting = serve(axum::Router::new().fallback(move || {
        let to = thief.to_string();
        async move { (StatusCode::TEMPORARY_REDIRECT, [("location", to)]) }
    }))
    .await;
    let err = quick_client(redirecting, Duration::from_secs(2), 0)
        .node_info()
        .await
        .expect_err("a 307 is not the node's information");
    assert!(matches!(err, KongError::Api { status: 307, .. }), "{err:?}");
    assert_eq!(
        elsewhere.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing, and no admin token, went to the redirect's target"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = Url::parse(&format!("http://127.0.0.1:{port}/kong")).expect("url");
    let client = quick_client(url, Duration::from_secs(2), 0);
    let err = client.node_info().await.expect_err("nothing listens");
    assert!(matches!(err, KongError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.status(), None);
    // Operators read the call, the address and the cause; never a credential.
    let message = err.to_string();
    assert!(
        message.contains(&format!("GET http://127.0.0.1:{port}/kong/"))
            && message.contains("refused"),
        "{message}"
    );
    let err = client
        .get_key_auth("ada", "the-key-itself")
        .await
        .expect_err("nothing listens");
    assert!(
        err.to_string()
            .contains("/kong/consumers/ada/key-auth/{redacted}")
            && !err.to_string().contains("the-key-itself"),
        "{err}"
    );
}

#[tokio::test]
async fn the_admin_token_header_is_sent_on_every_call() {
    async fn guarded(headers: HeaderMap) -> (StatusCode, axum::Json<serde_json::Value>) {
        if headers
            .get("kong-admin-token")
            .and_then(|v| v.to_str().ok())
            == Some("s3cret-token")
        {
            (
                StatusCode::OK,
                axum::Json(json!({"database": {"reachable": true}})),
            )
        } else {
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": "Invalid credentials. Token is invalid"})),
            )
        }
    }
    let url = serve(axum::Router::new().route("/status", get(guarded))).await;

    let mut config = KongConfig::new(url.clone());
    config.admin_auth = Some(AdminAuth {
        header: "Kong-Admin-Token".to_owned(),
        token: SecretString::from("s3cret-token"),
    });
    assert!(!format!("{config:?}").contains("s3cret-token"));
    let client = KongClient::new(&config).expect("client");
    assert!(
        client
            .status()
            .await
            .expect("authorised")
            .database
            .reachable
    );
    assert!(!format!("{client:?}").contains("s3cret-token"));

    let err = quick_client(url, Duration::from_secs(2), 0)
        .status()
        .await
        .expect_err("no token");
    assert!(
        matches!(&err, KongError::Api { status: 401, message, .. } if message.contains("Invalid credentials")),
        "{err:?}"
    );
}

#[tokio::test]
async fn tls_material_is_validated_when_the_client_is_built() {
    let url = Url::parse("https://kong-admin.internal:8444").expect("url");
    let mut config = KongConfig::new(url);
    config.ca_cert_pem = Some(include_bytes!("fixtures/isrg-root-x1.pem").to_vec());
    KongClient::new(&config).expect("a real CA certificate is accepted");

    config.ca_cert_pem = Some(
        b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n".to_vec(),
    );
    let err = KongClient::new(&config).expect_err("PEM of something that is not a certificate");
    assert!(
        matches!(&err, KongError::Config(m) if m.contains("CA") || m.contains("ca_cert_pem")),
        "{err}"
    );

    config.ca_cert_pem = Some(b"garbage".to_vec());
    let err = KongClient::new(&config).expect_err("not PEM at all");
    assert!(
        matches!(&err, KongError::Config(m) if m.contains("ca_cert_pem")),
        "{err}"
    );

    config.ca_cert_pem = None;
    config.client_identity_pem = Some(include_bytes!("fixtures/isrg-root-x1.pem").to_vec());
    let err = KongClient::new(&config).expect_err("a certificate without its key");
    assert!(
        matches!(&err, KongError::Config(m) if m.contains("client_identity_pem")),
        "{err}"
    );
}

// The client over TLS, as production reaches an Admin API behind a Kong route with mutual TLS: a
// front that terminates TLS, demands a client certificate from the test CA, and passes the bytes
// to a simulator. The certificates in `fixtures/tls` are made for these tests alone (a CA, a
// server certificate for `localhost` and `127.0.0.1`, a client certificate), valid until 2126.

const CA: &[u8] = include_bytes!("fixtures/tls/ca.pem");
const SERVER: &[u8] = include_bytes!("fixtures/tls/server.pem");
const CLIENT: &[u8] = include_bytes!("fixtures/tls/client.pem");

/// Listens for TLS connections that present a client certificate of the test CA and relays each
/// to `upstream` in plain TCP. Returns the address it listens on.
async fn mutual_tls_front(upstream: SocketAddr) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(CA).expect("CA"))
        .expect("CA");
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .expect("client verifier");
    let chain = CertificateDer::pem_slice_iter(SERVER)
        .collect::<Result<Vec<_>, _>>()
        .expect("server chain");
    let key = PrivateKeyDer::from_pem_slice(SERVER).expect("server key");
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A refused handshake ends here; the client sees the TLS alert.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    address
}

fn client(front: SocketAddr, ca: Option<&[u8]>, identity: Option<&[u8]>) -> KongClient {
    let url = Url::parse(&format!("https://localhost:{}", front.port())).expect("url");
    let mut config = KongConfig::new(url);
    config.ca_cert_pem = ca.map(<[u8]>::to_vec);
    config.client_identity_pem = identity.map(<[u8]>::to_vec);
    config.request_timeout = Duration::from_secs(5);
    config.max_retries = 0;
    KongClient::new(&config).expect("client")
}

/// The whole chain of a transport error, for assertions on its cause.
fn chain(err: &KongError) -> String {
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(current) = cause {
        text.push_str(": ");
        text.push_str(&current.to_string());
        cause = current.source();
    }
    text
}

#[tokio::test]
async fn the_client_speaks_mutual_tls_with_the_configured_ca_and_certificate() {
    let sim = start_sim().await;
    let upstream = Url::parse(&sim.admin_url())
        .expect("simulator URL")
        .socket_addrs(|| None)
        .expect("simulator address")[0];
    let front = mutual_tls_front(upstream).await;

    let node = client(front, Some(CA), Some(CLIENT))
        .node_info()
        .await
        .expect("the Admin API answers over mutual TLS");
    assert!(!node.version.is_empty());
    let status = client(front, Some(CA), Some(CLIENT))
        .status()
        .await
        .expect("and keeps answering on the pooled connection");
    assert!(status.database.reachable);

    let err = client(front, Some(CA), None)
        .node_info()
        .await
        .expect_err("the front demands a client certificate");
    assert!(matches!(err, KongError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());

    let err = client(front, None, Some(CLIENT))
        .node_info()
        .await
        .expect_err("the built-in roots do not vouch for the test CA");
    assert!(matches!(err, KongError::Transport(_)), "{err:?}");
    assert!(chain(&err).contains("certificate"), "{}", chain(&err));
}
