//! The usage ingest under load, and its floor.
//!
//! The senders play Kong's `http-log` plugin: each posts batches of [`BATCH_ENTRIES`] log entries
//! shaped like Kong 3.x's (`kong.log.serialize()`: request with headers, response, latencies,
//! route, service, consumer, client IP, start time, request id) to
//! `POST /v1/ingest/kong-http-log` on Gatekey's operators' listener with the ingest secret. The
//! entries are calls of [`CONSUMERS`] credentials Gatekey minted for the run, round-robin, so a
//! batch moves the counters of every one of them; every entry has a request id of its own, so
//! every entry is new and stored (a batch where fewer were stored counts as an error). A batch
//! Gatekey answers 503 `ingest_busy` (no room for it) is posted again as Kong 3.x's queue does:
//! after `queue.initial_retry_delay` (0.01 s), doubled at each attempt; a batch's latency runs
//! from its first post to the answer that stored it, and the refused posts are counted.
//!
//! The floor ([`IngestFloor`]) is what no ingest can avoid: the same unordered `insert_many` of
//! the batch's entry documents and the same counter upserts, issued by Gatekey's own store code
//! (`gatekey_store::UsageRepo::record`) against a fresh SecantusDB, with no HTTP, no parsing, no
//! secret check and no lookup of the issuance records.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde_json::{Value, json};

use gatekey_core::issuance::IssuanceId;
use gatekey_core::usage::{CallIdentity, Latencies, UsageEntry, entry_id, path_without_query};
use gatekey_store::UsageRepo;

use crate::error::BenchError;
use crate::load::Outcome;
use crate::scenarios::expect_status;
use crate::stack::{MINT_API, MINT_ROUTE};

/// Entries per post: `queue.max_batch_size` of `deploy/kong/http-log.yaml`.
pub(crate) const BATCH_ENTRIES: usize = 100;
/// Credentials whose calls the entries are.
pub(crate) const CONSUMERS: usize = 20;
/// The header Kong's `http-log` sends the ingest secret in (its `headers` setting).
const SECRET_HEADER: &str = "x-gatekey-ingest-secret";
/// The client address of the logged calls.
const CLIENT_IP: &str = "10.20.30.40";
/// Kong 3.x's `queue.initial_retry_delay` default: the wait before a refused batch's first
/// retry, doubled at each further one.
const INITIAL_RETRY_DELAY: Duration = Duration::from_millis(10);
/// Kong 3.x's `queue.max_retry_delay` default: the longest wait between two posts of a batch.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);
/// Kong 3.x's `queue.max_retry_time` default: a batch still refused after this long is dropped.
const MAX_RETRY_TIME: Duration = Duration::from_secs(60);

/// A Kong consumer Gatekey minted, as Kong's log entry names it.
#[derive(Debug, Clone)]
pub(crate) struct Consumer {
    /// The issuance id: the consumer's `custom_id`.
    pub issuance_id: String,
    pub id: String,
    pub username: String,
}

impl Consumer {
    /// The consumer Gatekey created in Kong for credential `issuance_id`, read from the Admin
    /// API by its username (`gatekey-<issuance id>`), as an operator would find it.
    pub(crate) async fn of_credential(
        http: &reqwest::Client,
        kong_admin: &str,
        issuance_id: String,
    ) -> Result<Self, BenchError> {
        #[derive(serde::Deserialize)]
        struct KongConsumer {
            id: String,
            username: String,
            custom_id: String,
        }
        let consumer: KongConsumer = http
            .get(format!("{kong_admin}/consumers/gatekey-{issuance_id}"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if consumer.custom_id != issuance_id {
            return Err(BenchError::Setup(format!(
                "Kong consumer {} has custom_id {}, not {issuance_id}",
                consumer.id, consumer.custom_id
            )));
        }
        Ok(Self {
            issuance_id,
            id: consumer.id,
            username: consumer.username,
        })
    }
}

/// The `n`-th call of the run: its request id, status and path.
struct Call {
    request_id: String,
    status: u16,
    uri: String,
}

impl Call {
    /// Mostly successes, with some client and server errors so that every counter moves.
    fn nth(n: u64) -> Self {
        let status = match n % 20 {
            0 => 404,
            1 => 500,
            2 => 302,
            _ => 200,
        };
        Self {
            request_id: format!("{n:032x}"),
            status,
            uri: format!("/bench-0/orders/{}?expand=lines", n % 1000),
        }
    }
}

/// Milliseconds since the epoch, as Kong's `started_at`.
fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// The senders' side: Gatekey's ingest endpoint and the consumers the entries are calls of.
#[derive(Debug)]
pub(crate) struct IngestSenders {
    http: reqwest::Client,
    url: String,
    secret: HeaderValue,
    consumers: Vec<Consumer>,
    next_call: AtomicU64,
    /// Posts answered 503 `ingest_busy` (and posted again).
    shed: AtomicU64,
}

/// The part of the ingest's answer the senders check.
#[derive(serde::Deserialize)]
struct IngestAnswer {
    received: usize,
    stored: usize,
}

impl IngestSenders {
    pub(crate) fn new(
        http: reqwest::Client,
        url: String,
        secret: &str,
        consumers: Vec<Consumer>,
    ) -> Result<Self, BenchError> {
        if consumers.is_empty() {
            return Err(BenchError::Setup(
                "the ingest needs minted consumers".to_owned(),
            ));
        }
        Ok(Self {
            http,
            url,
            secret: HeaderValue::from_str(secret).map_err(|_| {
                BenchError::Setup("the ingest secret is no header value".to_owned())
            })?,
            consumers,
            next_call: AtomicU64::new(0),
            shed: AtomicU64::new(0),
        })
    }

    /// Posts answered 503 `ingest_busy` so far.
    pub(crate) fn shed_posts(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// One Kong log entry, as `kong.log.serialize()` builds it with `hide_credentials` on (no key
    /// header) behind the bench's route.
    fn entry(&self, n: u64) -> Value {
        let consumer = &self.consumers[usize::try_from(n).unwrap_or(0) % self.consumers.len()];
        let call = Call::nth(n);
        json!({
            "request": {
                "id": call.request_id,
                "method": "GET",
                "uri": call.uri,
                "url": format!("http://gateway.example.com:8000{}", call.uri),
                "querystring": {"expand": "lines"},
                "headers": {
                    "host": "gateway.example.com:8000",
                    "user-agent": "orders-client/2.3.1",
                    "accept": "application/json",
                    "x-forwarded-for": CLIENT_IP,
                },
                "size": 187,
                "tls": null,
            },
            "upstream_uri": call.uri,
            "upstream_status": call.status.to_string(),
            "response": {
                "status": call.status,
                "headers": {
                    "content-type": "application/json",
                    "content-length": "412",
                    "x-kong-upstream-latency": "7",
                    "x-kong-proxy-latency": "1",
                    "via": "kong/3.9.0",
                },
                "size": 655,
            },
            "latencies": {"kong": 1, "proxy": 7, "request": 9, "receive": 1},
            "tries": [{"ip": "10.1.2.3", "port": 8080, "balancer_latency": 0}],
            "route": {
                "id": "6a5f0d2b-1c1e-4d3a-9f3e-2b1f0c9d8e7a",
                "name": MINT_ROUTE,
                "paths": ["/bench-0"],
                "protocols": ["http", "https"],
                "strip_path": true,
                "preserve_host": false,
                "ws_id": "0dc6f45b-8f8d-40d2-a504-473544ee190b",
            },
            "service": {
                "id": "9b3c1e2d-4f5a-4b6c-8d7e-0f1a2b3c4d5e",
                "name": MINT_API,
                "host": "orders.internal",
                "port": 8080,
                "protocol": "http",
                "path": "/",
                "retries": 5,
                "ws_id": "0dc6f45b-8f8d-40d2-a504-473544ee190b",
            },
            "consumer": {
                "id": consumer.id,
                "username": consumer.username,
                "custom_id": consumer.issuance_id,
                "tags": ["gatekey", format!("gatekey-api:{MINT_API}"),
                         format!("gatekey-issuance:{}", consumer.issuance_id)],
            },
            "authenticated_entity": {"id": "b0c1d2e3-f4a5-4b6c-8d7e-9f0a1b2c3d4e"},
            "client_ip": CLIENT_IP,
            "started_at": now_ms(),
            "source": "upstream",
            "workspace": "0dc6f45b-8f8d-40d2-a504-473544ee190b",
        })
    }

    /// One post of [`BATCH_ENTRIES`] new entries; every one of them must be stored.
    pub(crate) async fn post_batch(&self) -> Outcome {
        let first = self
            .next_call
            .fetch_add(BATCH_ENTRIES as u64, Ordering::Relaxed);
        let batch: Vec<Value> = (first..first + BATCH_ENTRIES as u64)
            .map(|n| self.entry(n))
            .collect();
        let body = match serde_json::to_vec(&batch) {
            Ok(body) => body,
            Err(err) => return Outcome::Failed(format!("cannot render the batch: {err}")),
        };
        let answer = match self.deliver(body).await {
            Ok(answer) => answer,
            Err(detail) => return Outcome::Failed(detail),
        };
        match serde_json::from_slice::<IngestAnswer>(&answer) {
            Ok(answer) if answer.received == BATCH_ENTRIES && answer.stored == BATCH_ENTRIES => {
                Outcome::Ok
            }
            Ok(answer) => Outcome::Failed(format!(
                "{} of {} entries stored",
                answer.stored, answer.received
            )),
            Err(err) => Outcome::Failed(format!("unexpected ingest answer: {err}")),
        }
    }

    /// Posts `body` until Gatekey takes it, waiting between posts as Kong's queue does while it
    /// answers 503 `ingest_busy`; the answer that took it, or why it failed.
    async fn deliver(&self, body: Vec<u8>) -> Result<Vec<u8>, String> {
        let mut delay = INITIAL_RETRY_DELAY;
        let first_post = std::time::Instant::now();
        loop {
            let response = self
                .http
                .post(&self.url)
                .header(CONTENT_TYPE, "application/json")
                .header(SECRET_HEADER, self.secret.clone())
                .body(body.clone())
                .send()
                .await;
            if let Ok(busy) = &response
                && busy.status() == StatusCode::SERVICE_UNAVAILABLE
                && busy.headers().contains_key(RETRY_AFTER)
            {
                self.shed.fetch_add(1, Ordering::Relaxed);
                if first_post.elapsed() > MAX_RETRY_TIME {
                    return Err(format!(
                        "answered 503 ingest_busy for {} s: Kong would drop the batch",
                        MAX_RETRY_TIME.as_secs()
                    ));
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY_DELAY);
                continue;
            }
            return expect_status(response, StatusCode::OK).await;
        }
    }
}

/// The raw writes of an ingest, without Gatekey.
#[derive(Debug)]
pub(crate) struct IngestFloor {
    usage: UsageRepo,
    /// The credentials, with the consumer id Kong would log for each.
    consumers: Vec<(IssuanceId, String)>,
    expiries: HashMap<IssuanceId, DateTime<Utc>>,
    next_call: AtomicU64,
}

impl IngestFloor {
    /// Connects with Gatekey's store code (its pool and write concern) and creates its indexes
    /// in `database`.
    pub(crate) async fn connect(mongo_uri: &str, database: &str) -> Result<Self, BenchError> {
        let store = crate::stack::gatekey_store(mongo_uri, database).await?;
        let consumers: Vec<(IssuanceId, String)> = (0..CONSUMERS)
            .map(|_| (IssuanceId::new(), ulid::Ulid::new().to_string()))
            .collect();
        let expires_at = Utc::now() + ChronoDuration::minutes(10);
        let expiries = consumers.iter().map(|(id, _)| (*id, expires_at)).collect();
        Ok(Self {
            usage: store.usage(),
            consumers,
            expiries,
            next_call: AtomicU64::new(0),
        })
    }

    /// The entry Gatekey stores for the `n`-th call (same fields, same id derivation).
    fn entry(&self, n: u64) -> UsageEntry {
        let (issuance_id, consumer_id) =
            &self.consumers[usize::try_from(n).unwrap_or(0) % self.consumers.len()];
        let call = Call::nth(n);
        let started_at_ms = now_ms();
        UsageEntry {
            id: entry_id(&CallIdentity {
                request_id: &call.request_id,
                started_at_ms,
                consumer_id,
                method: "GET",
                uri: &call.uri,
                client_ip: CLIENT_IP,
            }),
            issuance_id: *issuance_id,
            at: DateTime::from_timestamp_millis(started_at_ms).unwrap_or_else(Utc::now),
            method: "GET".to_owned(),
            route: Some(MINT_ROUTE.to_owned()),
            service: Some(MINT_API.to_owned()),
            path: path_without_query(&call.uri),
            status: call.status,
            latencies: Latencies {
                request_ms: 9,
                upstream_ms: Some(7),
                gateway_ms: 1,
            },
            client_ip: Some(CLIENT_IP.to_owned()),
        }
    }

    /// One batch's worth of raw writes: the entries' `insert_many` and the counter upserts.
    pub(crate) async fn record_batch(&self) -> Outcome {
        let first = self
            .next_call
            .fetch_add(BATCH_ENTRIES as u64, Ordering::Relaxed);
        let entries: Vec<UsageEntry> = (first..first + BATCH_ENTRIES as u64)
            .map(|n| self.entry(n))
            .collect();
        match self.usage.record(&entries, &self.expiries).await {
            Ok(recorded) if recorded.stored == BATCH_ENTRIES => Outcome::Ok,
            Ok(recorded) => Outcome::Failed(format!(
                "{} of {BATCH_ENTRIES} entries stored",
                recorded.stored
            )),
            Err(err) => Outcome::Failed(format!("usage record: {err}")),
        }
    }
}
