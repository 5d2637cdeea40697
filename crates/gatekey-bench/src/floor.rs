//! The floor of a mint: the Kong Admin API calls and MongoDB writes Gatekey's mint performs
//! (`crates/gatekey-app/src/mint.rs`), issued directly, in the same order and with the same
//! concurrency, documents of the same shape and the same write concern (`majority`, journaled):
//!
//! 1. insert the `granted` audit event;
//! 2. insert the `pending` issuance;
//! 3. `PUT /consumers/{id}` with username, custom_id and the three tags, to the id derived from
//!    the issuance id ([`gatekey_kong::EntityIds`]);
//! 4. concurrently `PUT /consumers/{id}/acls/{id}`, `PUT /consumers/{id}/key-auth/{id}` (key +
//!    ttl) and `PUT /consumers/{id}/plugins/{id}` (rate-limiting), to their derived ids;
//! 5. `findOneAndUpdate` the issuance `pending -> active` (returning the new document);
//! 6. insert the `issued` audit event.
//!
//! No token check, no policy, no HTTP server: what remains is what no implementation of a mint

use std::time::Duration;

use mongodb::bson::{self, Document, doc};
use mongodb::options::{Acknowledgment, ClientOptions, ReturnDocument, WriteConcern};
use mongodb::{Client, Collection};
use reqwest::StatusCode;
use serde_json::json;
use ulid::Ulid;

use gatekey_kong::EntityIds;

use crate::error::BenchError;
use crate::load::Outcome;
use crate::scenarios::expect_status;
use crate::stack::{MINT_ACL_GROUP, MINT_API};

/// The raw stores a mint writes to.
#[derive(Debug)]
pub(crate) struct Floor {
    http: reqwest::Client,
    kong: String,
    audit: Collection<Document>,
    issuances: Collection<Document>,
    issuer: String,
}

impl Floor {
    /// Connects like Gatekey does (default pool, write concern `majority` + journal) and creates
    /// Gatekey's indexes in `database`.
    pub(crate) async fn connect(
        http: reqwest::Client,
        mongo_uri: &str,
        database: &str,
        kong_admin_url: String,
        issuer: String,
    ) -> Result<Self, BenchError> {
        crate::stack::gatekey_store(mongo_uri, database).await?;
        let mut options = ClientOptions::parse(mongo_uri).await?;
        options.write_concern = Some(
            WriteConcern::builder()
                .w(Acknowledgment::Majority)
                .journal(true)
                .w_timeout(Duration::from_secs(10))
                .build(),
        );
        let db = Client::with_options(options)?.database(database);
        Ok(Self {
            http,
            kong: kong_admin_url,
            audit: db.collection(gatekey_store::AUDIT_EVENTS),
            issuances: db.collection(gatekey_store::ISSUANCES),
            issuer,
        })
    }

    /// One mint's worth of raw calls for client `client`.
    pub(crate) async fn mint(&self, client: usize) -> Outcome {
        match self.sequence(client).await {
            Ok(()) => Outcome::Ok,
            Err(detail) => Outcome::Failed(detail),
        }
    }

    fn audit_event(&self, subject: &str, id: &str, reason: &str, request_id: &str) -> Document {
        doc! {
            "_id": Ulid::new().to_string(),
            "at": bson::DateTime::now(),
            "action": "mint",
            "decision": "allow",
            "reason": reason,
            "detail": null,
            "subject": subject,
            "issuer": &self.issuer,
            "api_id": MINT_API,
            "issuance_id": id,
            "scopes": ["read"],
            "request_id": request_id,
            "client_addr": "127.0.0.1",
        }
    }

    async fn sequence(&self, client: usize) -> Result<(), String> {
        let subject = format!("bench-user-{client}");
        let ulid = Ulid::new();
        let id = ulid.to_string();
        let request_id = Ulid::new().to_string();
        let now = bson::DateTime::now();
        let expires = bson::DateTime::from_millis(now.timestamp_millis() + 600_000);

        self.audit
            .insert_one(self.audit_event(&subject, &id, "granted", &request_id))
            .await
            .map_err(|e| format!("audit insert: {e}"))?;
        self.issuances
            .insert_one(doc! {
                "_id": &id,
                "subject": &subject,
                "issuer": &self.issuer,
                "api_id": MINT_API,
                "scopes": ["read"],
                "acl_groups": [MINT_ACL_GROUP],
                "purpose": "gatekey-bench",
                "ttl_seconds": 600,
                "state": "pending",
                "issued_at": now,
                "expires_at": expires,
                "kong": null,
                "key_fingerprint": null,
                "failure_reason": null,
                "revoked_at": null,
                "revoked_by": null,
                "request_id": &request_id,
                "updated_at": now,
            })
            .await
            .map_err(|e| format!("issuance insert: {e}"))?;

        let kong = put_kong_side(&self.http, &self.kong, ulid).await?;
        let active = self
            .issuances
            .find_one_and_update(
                doc! { "_id": &id, "state": { "$in": ["pending"] } },
                doc! { "$set": {
                    "kong": {
                        "consumer_id": &kong.consumer_id,
                        "consumer_username": &kong.consumer_username,
                        "credential_id": &kong.credential_id,
                    },
                    // `sha256:` and 64 hex digits, like Gatekey's fingerprint.
                    "key_fingerprint": format!("sha256:{:0>64}", kong.key.len()),
                    "updated_at": bson::DateTime::now(),
                    "state": "active",
                }},
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| format!("issuance update: {e}"))?;
        if active.is_none() {
            return Err("the pending issuance vanished".to_owned());
        }
        self.audit
            .insert_one(self.audit_event(&subject, &id, "issued", &request_id))
            .await
            .map_err(|e| format!("audit insert: {e}"))?;
        Ok(())
    }
}

/// The Kong entities of a credential, as a mint leaves them.
#[derive(Debug)]
pub(crate) struct KongSide {
    pub consumer_id: String,
    pub consumer_username: String,
    pub credential_id: String,
    pub key: String,
}

/// Steps 3 and 4 of a mint for the issuance `id`: the consumer, then its ACL group, key and
/// rate-limiting plugin at once, each `PUT` to the id Gatekey derives from the issuance's.
pub(crate) async fn put_kong_side(
    http: &reqwest::Client,
    kong: &str,
    id: Ulid,
) -> Result<KongSide, String> {
    let username = format!("gatekey-{id}");
    let tags = json!([
        "gatekey",
        format!("gatekey-api:{MINT_API}"),
        format!("gatekey-issuance:{id}")
    ]);
    let ids = EntityIds::from_seed(id.to_bytes());
    let consumer_id = ids.consumer();
    kong_put(
        http,
        kong,
        format!("consumers/{consumer_id}"),
        json!({"username": username, "custom_id": id.to_string(), "tags": tags}),
    )
    .await?;
    let key = format!("gk_{}{}", Ulid::new(), Ulid::new());
    let credential_id = ids.key_auth();
    futures::try_join!(
        kong_put(
            http,
            kong,
            format!("consumers/{consumer_id}/acls/{}", ids.acl(MINT_ACL_GROUP)),
            json!({"group": MINT_ACL_GROUP, "tags": tags}),
        ),
        kong_put(
            http,
            kong,
            format!("consumers/{consumer_id}/key-auth/{credential_id}"),
            json!({"key": key, "ttl": 600, "tags": tags}),
        ),
        kong_put(
            http,
            kong,
            format!("consumers/{consumer_id}/plugins/{}", ids.rate_limiting()),
            json!({
                "name": "rate-limiting",
                "config": {"second": null, "minute": 120, "hour": null, "day": null, "policy": "local"},
                "tags": tags,
            }),
        ),
    )?;
    Ok(KongSide {
        consumer_id: consumer_id.to_string(),
        consumer_username: username,
        credential_id: credential_id.to_string(),
        key,
    })
}

/// A `PUT` upsert to the Kong Admin API at `kong`; Kong answers 200 whether it created or
/// replaced the entity.
async fn kong_put(
    http: &reqwest::Client,
    kong: &str,
    path: String,
    body: serde_json::Value,
) -> Result<Vec<u8>, String> {
    let response = http.put(format!("{kong}/{path}")).json(&body).send().await;
    expect_status(response, StatusCode::OK).await
}
