//! An example upstream API behind Kong that keeps provenance: every document it writes to MongoDB
//! carries the `custom_id` of the Kong consumer that made the call, which for a Gatekey credential
//! is the issuance id. A team that stores it can answer "who changed order 42?" with one
//! aggregation that joins its documents with Gatekey's `issuances` (docs/provenance.md).
//!
//! It trusts `X-Consumer-Custom-ID` because Kong's authentication plugins set that header (or
//! clear it) on every request they authenticate, whatever the client sent. That holds only for
//! requests that came through Kong on a route with an authentication plugin: the service must
//! not be reachable any other way (docs/provenance.md, "Why the header can be trusted").

use std::future::Future;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use mongodb::bson::{self, Document, doc};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;

/// The header Kong's authentication plugins set to the authenticated consumer's `custom_id`.
pub const CONSUMER_CUSTOM_ID: &str = "x-consumer-custom-id";
/// The header Kong's authentication plugins set when the anonymous consumer stands in.
const ANONYMOUS_CONSUMER: &str = "x-anonymous-consumer";
/// The request id Kong adds to every proxied request: joins a change with the gateway's logs.
const KONG_REQUEST_ID: &str = "x-kong-request-id";

/// The collection of orders as they are now: one document per order, `_id` = order number.
pub const ORDERS: &str = "orders";
/// Every change to an order, append-only: the history "who changed order 42?" reads.
pub const ORDER_CHANGES: &str = "order_changes";

/// Longest consumer `custom_id` accepted (Gatekey's are 26-character ULIDs).
const CUSTOM_ID_MAX: usize = 128;
/// Longest request id accepted (Kong's are 32 hex digits).
const REQUEST_ID_MAX: usize = 64;
/// Largest request body: a status change is a few dozen bytes.
const BODY_LIMIT: usize = 4 * 1024;

/// Why a request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    /// No authenticated consumer: the request did not come through an authenticating Kong route.
    #[error("no authenticated gateway consumer on this request")]
    NoConsumer,
    /// The consumer header is there but not one plausible id.
    #[error("the gateway consumer header is malformed")]
    MalformedConsumer,
    #[error("order {0} does not exist")]
    OrderNotFound(u32),
    /// MongoDB failed, or a stored order did not read as an [`Order`].
    #[error("the order store failed")]
    Store(#[from] mongodb::error::Error),
}

impl IntoResponse for OrdersError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::NoConsumer | Self::MalformedConsumer => StatusCode::UNAUTHORIZED,
            Self::OrderNotFound(_) => StatusCode::NOT_FOUND,
            Self::Store(_) => {
                tracing::error!(error = ?self, "order store failure");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let body = json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or_default(),
            "status": status.as_u16(),
            "detail": self.to_string(),
        });
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Placed,
    Paid,
    Shipped,
    Cancelled,
}

impl OrderStatus {
    /// The stored and serialized name.
    fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Paid => "paid",
            Self::Shipped => "shipped",
            Self::Cancelled => "cancelled",
        }
    }
}

/// The body of `PUT /orders/{number}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderChange {
    status: OrderStatus,
}

/// An order as stored and answered: its state and who last changed it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Order {
    #[serde(rename = "_id")]
    pub number: u32,
    pub status: OrderStatus,
    /// The Kong consumer's `custom_id` (a Gatekey issuance id) of the last change.
    pub changed_by_credential: String,
    pub changed_at: bson::DateTime,
}

/// Who made this request, as Kong's authentication said.
#[derive(Debug)]
struct GatewayCaller {
    /// The consumer's `custom_id`: for a Gatekey credential, the issuance id.
    credential: String,
    /// Kong's request id, when present and well-formed.
    request_id: Option<String>,
}

fn is_plain_token(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl GatewayCaller {
    /// Reads the consumer Kong authenticated. Exactly one `X-Consumer-Custom-ID` value is
    /// required (Kong sets one, replacing whatever the client sent); the anonymous consumer of a
    /// key-auth `anonymous` setting is no caller of ours.
    fn from_headers(headers: &HeaderMap) -> Result<Self, OrdersError> {
        if headers.contains_key(ANONYMOUS_CONSUMER) {
            return Err(OrdersError::NoConsumer);
        }
        let mut values = headers.get_all(CONSUMER_CUSTOM_ID).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(if headers.contains_key(CONSUMER_CUSTOM_ID) {
                OrdersError::MalformedConsumer
            } else {
                OrdersError::NoConsumer
            });
        };
        let credential = value
            .to_str()
            .ok()
            .filter(|value| is_plain_token(value, CUSTOM_ID_MAX))
            .ok_or(OrdersError::MalformedConsumer)?
            .to_owned();
        let request_id = headers
            .get(KONG_REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .filter(|value| is_plain_token(value, REQUEST_ID_MAX))
            .map(str::to_owned);
        Ok(Self {
            credential,
            request_id,
        })
    }
}

/// The service's MongoDB collections.
#[derive(Debug, Clone)]
struct Collections {
    orders: Collection<Order>,
    changes: Collection<Document>,
}

/// `PUT /orders/{number}`: sets the order's status, recording who did it on the order and in
/// its change history.
async fn change_order(
    State(collections): State<Collections>,
    Path(number): Path<u32>,
    headers: HeaderMap,
    Json(change): Json<OrderChange>,
) -> Result<Json<Order>, OrdersError> {
    let caller = GatewayCaller::from_headers(&headers)?;
    let now = bson::DateTime::now();
    // History first: if the order's update then fails, the history names a change that may not
    // have happened (and who attempted it), never a change without its author.
    let status = change.status.as_str();
    collections
        .changes
        .insert_one(doc! {
            "order_id": i64::from(number),
            "status": status,
            "changed_by_credential": &caller.credential,
            "changed_at": now,
            "kong_request_id": caller.request_id.as_deref(),
        })
        .await?;
    let order = collections
        .orders
        .find_one_and_update(
            doc! {"_id": i64::from(number)},
            doc! {"$set": {
                "status": status,
                "changed_by_credential": &caller.credential,
                "changed_at": now,
            }},
        )
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await?
        .ok_or(OrdersError::OrderNotFound(number))?;
    tracing::info!(order = number, credential = %caller.credential, "order changed");
    Ok(Json(order))
}

/// `GET /orders/{number}`: the order as it is now. Reads need a gateway consumer too.
async fn read_order(
    State(collections): State<Collections>,
    Path(number): Path<u32>,
    headers: HeaderMap,
) -> Result<Json<Order>, OrdersError> {
    GatewayCaller::from_headers(&headers)?;
    collections
        .orders
        .find_one(doc! {"_id": i64::from(number)})
        .await?
        .map(Json)
        .ok_or(OrdersError::OrderNotFound(number))
}

/// Creates the index the provenance aggregation's `$match` and `$sort` use (docs/provenance.md);
/// a no-op when it exists.
pub async fn ensure_indexes(database: &Database) -> Result<(), OrdersError> {
    let index = IndexModel::builder()
        .keys(doc! {"order_id": 1, "changed_at": -1})
        .options(
            IndexOptions::builder()
                .name("order_changes_order_id_changed_at".to_owned())
                .build(),
        )
        .build();
    database
        .collection::<Document>(ORDER_CHANGES)
        .create_index(index)
        .await?;
    Ok(())
}

/// The service's routes over the `orders` and `order_changes` collections of `database`.
pub fn router(database: &Database) -> Router {
    let collections = Collections {
        orders: database.collection(ORDERS),
        changes: database.collection(ORDER_CHANGES),
    };
    Router::new()
        .route("/orders/{number}", get(read_order).put(change_order))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(collections)
}

/// Serves [`router`] on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    database: &Database,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(database))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn the_consumer_kong_set_is_the_caller() {
        let caller = GatewayCaller::from_headers(&headers(&[
            ("x-consumer-custom-id", "01JC2M4ZK7Q6V4D8W3X5Y9T0AB"),
            ("x-kong-request-id", "0f3a9c"),
        ]))
        .unwrap();
        assert_eq!(caller.credential, "01JC2M4ZK7Q6V4D8W3X5Y9T0AB");
        assert_eq!(caller.request_id.as_deref(), Some("0f3a9c"));
    }

    #[test]
    fn no_consumer_or_the_anonymous_one_is_refused() {
        assert!(matches!(
            GatewayCaller::from_headers(&HeaderMap::new()),
            Err(OrdersError::NoConsumer)
        ));
        assert!(matches!(
            GatewayCaller::from_headers(&headers(&[
                ("x-consumer-custom-id", "anon"),
                ("x-anonymous-consumer", "true"),
            ])),
            Err(OrdersError::NoConsumer)
        ));
    }

    #[test]
    fn two_values_or_odd_characters_are_malformed() {
        for pairs in [
            &[("x-consumer-custom-id", "a"), ("x-consumer-custom-id", "b")][..],
            &[("x-consumer-custom-id", "a b")][..],
            &[("x-consumer-custom-id", "")][..],
            &[("x-consumer-custom-id", "{\"$ne\":1}")][..],
        ] {
            assert!(
                matches!(
                    GatewayCaller::from_headers(&headers(pairs)),
                    Err(OrdersError::MalformedConsumer)
                ),
                "{pairs:?}"
            );
        }
    }
}
