//! Which Kong consumer Gatekey minted for each credential, remembered in process so that the
//! ingest does not read the issuance records of the same few credentials for every batch: at
//! gateway volume most batches are calls of keys whose records an earlier batch already read.
//!
//! Only what never changes once a credential is active is kept: the consumer id Kong gave it
//! (written once, by the `pending -> active` transition) and its expiry (written at creation).
//! The username is derived from the issuance id. So a remembered credential gives exactly the
//! answer its record would; revocation and reaping change neither field. A record without a
//! Kong consumer (still `pending`, or `failed`) is not remembered: it is read again next time.
//! Nothing is remembered about ids that have no record, so a post of made-up `custom_id`s costs
//! a read each time, as before, and cannot fill the cache.
//!
//! Bounded: at most [`CAPACITY`] credentials (moka evicts those least likely to be used again),
//! each forgotten after [`IDLE`] without a call.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatekey_core::issuance::{Issuance, IssuanceId};
use gatekey_kong::http_log::LogEntry;

use crate::consumers::consumer_username;

/// Credentials remembered at most (a few hundred bytes each).
pub(super) const CAPACITY: u64 = 100_000;
/// A credential not called for this long is forgotten (its record is read again if it is).
const IDLE: Duration = Duration::from_secs(3600);

/// The immutable facts of one active credential the ingest checks entries against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MintedConsumer {
    pub(super) issuance_id: IssuanceId,
    /// The Kong consumer's id, as Kong answered when Gatekey created it.
    pub(super) consumer_id: String,
    pub(super) expires_at: DateTime<Utc>,
}

impl MintedConsumer {
    /// The facts of `record`, when it has a Kong consumer.
    pub(super) fn of(record: &Issuance) -> Option<Self> {
        record.kong.as_ref().map(|kong| Self {
            issuance_id: record.id,
            consumer_id: kong.consumer_id.clone(),
            expires_at: record.expires_at,
        })
    }

    /// Whether the entry's consumer is the one Gatekey created: same consumer id, and the
    /// username Gatekey gives it (Kong omits it only for consumers created without one).
    pub(super) fn logged_in(&self, entry: &LogEntry) -> bool {
        let Some(consumer) = &entry.consumer else {
            return false;
        };
        self.consumer_id == consumer.id
            && consumer
                .username
                .as_deref()
                .is_none_or(|username| username == consumer_username(&self.issuance_id))
    }
}

/// The consumers of credentials the ingest has seen, by issuance id.
#[derive(Debug, Clone)]
pub(super) struct MintedConsumers {
    known: moka::sync::Cache<IssuanceId, MintedConsumer>,
}

impl MintedConsumers {
    pub(super) fn new(capacity: u64) -> Self {
        Self {
            known: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(IDLE)
                .build(),
        }
    }

    /// Those of `ids` remembered, and the ids whose records must be read.
    pub(super) fn split(
        &self,
        ids: &[IssuanceId],
    ) -> (HashMap<IssuanceId, MintedConsumer>, Vec<IssuanceId>) {
        let mut known = HashMap::with_capacity(ids.len());
        let mut unknown = Vec::new();
        for id in ids {
            match self.known.get(id) {
                Some(consumer) => {
                    known.insert(*id, consumer);
                }
                None => unknown.push(*id),
            }
        }
        (known, unknown)
    }

    /// Remembers the consumer of `record`, if it has one; returns it.
    pub(super) fn remember(&self, record: &Issuance) -> Option<MintedConsumer> {
        let consumer = MintedConsumer::of(record)?;
        self.known.insert(record.id, consumer.clone());
        Some(consumer)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use gatekey_core::issuance::{IssuanceState, KongRef};
    use gatekey_kong::http_log::parse_batch;
    use serde_json::json;

    use super::*;
    use crate::test_records::pending_record;

    fn record(active: bool) -> Issuance {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
            .single()
            .expect("time");
        let mut record = pending_record(at);
        if active {
            record.state = IssuanceState::Active;
            record.kong = Some(KongRef {
                consumer_id: "5b7f0c2e-0000-4000-8000-000000000001".to_owned(),
                consumer_username: consumer_username(&record.id),
                credential_id: "key-1".to_owned(),
            });
        }
        record
    }

    /// A Kong log entry of `consumer`, read as the ingest reads a posted batch.
    fn entry(consumer: serde_json::Value) -> LogEntry {
        let mut body = json!({
            "request": {"id": "r-1", "method": "GET", "uri": "/orders", "headers": {}},
            "response": {"status": 200},
            "latencies": {"kong": 1, "proxy": 2, "request": 3},
            "started_at": 1_700_000_000_000_i64,
        });
        body["consumer"] = consumer;
        let mut batch = parse_batch(&serde_json::to_vec(&body).expect("json"), 1)
            .expect("batch")
            .into_iter();
        batch.next().expect("one entry").expect("a log entry")
    }

    #[test]
    fn only_active_credentials_are_remembered_and_then_not_read_again() {
        let consumers = MintedConsumers::new(CAPACITY);
        let pending = record(false);
        let active = record(true);
        assert_eq!(consumers.remember(&pending), None);
        let remembered = consumers.remember(&active).expect("active: remembered");
        assert_eq!(
            remembered.consumer_id,
            "5b7f0c2e-0000-4000-8000-000000000001"
        );
        assert_eq!(remembered.expires_at, active.expires_at);

        let (known, unknown) = consumers.split(&[pending.id, active.id]);
        assert_eq!(
            unknown,
            vec![pending.id],
            "the pending record is read again"
        );
        assert_eq!(known.get(&active.id), Some(&remembered));
    }

    #[test]
    fn a_remembered_consumer_checks_an_entry_exactly_as_its_record_would() {
        let active = record(true);
        let consumer = MintedConsumer::of(&active).expect("active");
        let id = "5b7f0c2e-0000-4000-8000-000000000001";
        let username = consumer_username(&active.id);
        let custom_id = active.id.to_string();
        assert!(consumer.logged_in(&entry(
            json!({"id": id, "username": username, "custom_id": custom_id})
        )));
        // Kong omits the username of a consumer created without one: the id decides.
        assert!(consumer.logged_in(&entry(json!({"id": id, "custom_id": custom_id}))));
        // Another consumer claiming the credential's custom_id, or the right id under another
        // username, is not a call of the credential.
        assert!(!consumer.logged_in(&entry(
            json!({"id": "another-consumer", "username": username, "custom_id": custom_id})
        )));
        assert!(!consumer.logged_in(&entry(
            json!({"id": id, "username": "gatekey-somebody-else", "custom_id": custom_id})
        )));
    }

    #[test]
    fn the_cache_holds_at_most_its_capacity() {
        let consumers = MintedConsumers::new(8);
        for _ in 0..100 {
            consumers.remember(&record(true));
        }
        consumers.known.run_pending_tasks();
        assert!(
            consumers.known.entry_count() <= 8,
            "{}",
            consumers.known.entry_count()
        );
    }
}
