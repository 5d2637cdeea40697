//! The `limit_counters` collection: what Gatekey's per-caller mint limits count, kept exact
//! across replicas because each mint is judged and counted by one conditional update of one
//! document. Nothing is read first, so two replicas can never both take the last slot.
//!
//! One document per caller (issuer and subject; `_id` is a hash of both):
//!
//! ```text
//! { _id, issuer, subject,
//!   recent: [ { issuance_id, at } ],                       // latest mints, oldest first, ≤ rate
//!   live:   { "api:<api id>": [ { issuance_id, expires_at, reserved_at } ] },
//!                                                          // earliest expiry first, ≤ cap
//!   expires_at }                                           // nothing counts after it (TTL index)
//! ```
//!
//! A reservation is one conditional update with upsert, sent as one statement of an `update`
//! command that carries every reservation made while the previous command was out (the group
//! commit of `batch.rs`; each statement is still judged alone and atomically). Its filter admits
//! the mint only when `recent` has fewer entries than the rate or its oldest entry has left the
//! window, and the API's `live` list has fewer entries than the cap or its earliest entry has
//! expired. Its update pushes both entries, keeps each list sorted and trimmed to its limit
//! (`$push` with `$sort` and `$slice`), which drops the entry that no longer counted. Because a
//! list is sorted and holds at most its limit, "fewer than the limit still count" is decided by
//! two array positions, which a filter can test (`$exists` on position `limit - 1`, a comparison
//! on position 0); a longer list, left by a lowered limit, fails the filter and is pruned on the
//! slow path.
//!
//! When the filter does not match, the upsert collides with the existing `_id` (duplicate key):
//! the caller is at a limit, or the lists need pruning (a lowered limit, entries that stopped
//! counting), or another request took or freed a slot in between. The slow path prunes what no
//! longer counts, judges the document it gets back by the same rules (which limit, and when it
//! frees up), and tries again only when there is room.
//!
//! A live slot is released with a `$pull` by issuance id (a mint that failed, a credential
//! revoked or withdrawn); at the latest it stops counting at its `expires_at`. Rate entries are
//! never released: a mint that failed was still started.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use gatekey_core::issuance::IssuanceId;
use mongodb::bson::{self, Document, doc, rawdoc};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::batch::BatchUpdater;
use crate::time::{from_bson, to_bson};
use crate::{LIMIT_COUNTERS, StoreError, metered};

/// Reservations tried before giving up on a counter that keeps changing: every retry means that
/// a slot was freed and taken again by another request of the same caller in between.
const MAX_ATTEMPTS: u32 = 5;

/// The limits a reservation is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MintLimits {
    /// Mints one caller may start per window, all APIs together.
    pub mints_per_window: u32,
    /// The rate limit's rolling window.
    pub window: Duration,
    /// Live credentials one caller may hold per API.
    pub live_per_api: u32,
}

/// The mint asking for a slot.
#[derive(Debug, Clone, Copy)]
pub struct MintSlot<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub api_id: &'a str,
    pub issuance_id: IssuanceId,
    /// When the credential expires, and its slot with it.
    pub expires_at: DateTime<Utc>,
}

/// One live credential (or a mint still making it) counted against the cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSlot {
    pub issuance_id: IssuanceId,
    pub expires_at: DateTime<Utc>,
    /// When the mint took the slot (before its issuance record was written).
    pub reserved_at: DateTime<Utc>,
}

/// The outcome of [`LimitCounterRepo::reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitVerdict {
    /// The mint is counted in both limits.
    Reserved,
    /// The caller started as many mints as allowed within the window; one leaves it at
    /// `frees_at`. Nothing was counted.
    RateReached { frees_at: DateTime<Utc> },
    /// The caller holds as many live credentials for the API as allowed; the earliest expires at
    /// `frees_at`. `holders` are the slots counted. Nothing was counted.
    LiveCapReached {
        frees_at: DateTime<Utc>,
        holders: Vec<LiveSlot>,
    },
}

#[derive(Debug, Deserialize)]
struct CounterDoc {
    #[serde(default)]
    recent: Vec<RecentDoc>,
    #[serde(default)]
    live: HashMap<String, Vec<LiveDoc>>,
}

#[derive(Debug, Deserialize)]
struct RecentDoc {
    issuance_id: IssuanceId,
    at: bson::DateTime,
}

#[derive(Debug, Deserialize)]
struct LiveDoc {
    issuance_id: IssuanceId,
    expires_at: bson::DateTime,
    reserved_at: bson::DateTime,
}

/// The counter document of a caller: a hash of issuer and subject, length-prefixed so that
/// ("ab", "c") and ("a", "bc") differ.
fn counter_id(issuer: &str, subject: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [issuer, subject] {
        hasher.update(part.len().to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The key in `live` of an API's slots: `api:` and the id with every byte outside
/// `[A-Za-z0-9_-]` percent-encoded, so a dot in an API id cannot split a field path.
fn live_key(api_id: &str) -> String {
    let mut key = String::from("api:");
    for byte in api_id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            key.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(key, "%{byte:02X}");
        }
    }
    key
}

/// A limit as an array position or `$slice` length.
fn position(limit: u32) -> i64 {
    i64::from(limit)
}

/// Judges a counter document as the reservation's filter would, after pruning: which limit is
/// reached (the rate first), and when it frees up; `Reserved` means there is room.
fn judge(doc: &CounterDoc, key: &str, limits: &MintLimits, now: DateTime<Utc>) -> LimitVerdict {
    let window_start = now - limits.window;
    let recent: Vec<DateTime<Utc>> = doc
        .recent
        .iter()
        .filter_map(|entry| from_bson(entry.at))
        .filter(|at| *at > window_start)
        .collect();
    if recent.len() >= limits.mints_per_window as usize
        && let Some(oldest) = recent.iter().min()
    {
        return LimitVerdict::RateReached {
            frees_at: *oldest + limits.window,
        };
    }
    let holders: Vec<LiveSlot> = doc
        .live
        .get(key)
        .into_iter()
        .flatten()
        .filter_map(|slot| {
            Some(LiveSlot {
                issuance_id: slot.issuance_id,
                expires_at: from_bson(slot.expires_at)?,
                reserved_at: from_bson(slot.reserved_at)?,
            })
        })
        .filter(|slot| slot.expires_at > now)
        .collect();
    if holders.len() >= limits.live_per_api as usize
        && let Some(frees_at) = holders.iter().map(|slot| slot.expires_at).min()
    {
        return LimitVerdict::LiveCapReached { frees_at, holders };
    }
    LimitVerdict::Reserved
}

/// Counts mints against the per-caller limits. Obtained from [`crate::Store::limit_counters`].
#[derive(Debug, Clone)]
pub struct LimitCounterRepo {
    collection: Collection<Document>,
    /// The group commit of reservations: those made while one batch is out leave together.
    reservations: BatchUpdater,
}

impl LimitCounterRepo {
    pub(crate) fn new(db: &Database, reservations: BatchUpdater) -> Self {
        Self {
            collection: db.collection(LIMIT_COUNTERS),
            reservations,
        }
    }

    /// Counts `slot` in the caller's mint rate and live credentials for its API when both have
    /// room at `now`; otherwise counts nothing and says which limit is reached.
    pub async fn reserve(
        &self,
        slot: &MintSlot<'_>,
        limits: &MintLimits,
        now: DateTime<Utc>,
    ) -> Result<LimitVerdict, StoreError> {
        if limits.mints_per_window == 0 || limits.live_per_api == 0 {
            return Err(StoreError::InvalidConfig(
                "mint limits must be above 0".to_owned(),
            ));
        }
        let id = counter_id(slot.issuer, slot.subject);
        let key = live_key(slot.api_id);
        let field = format!("live.{key}");
        for _ in 0..MAX_ATTEMPTS {
            if self.try_reserve(&id, &field, slot, limits, now).await? {
                return Ok(LimitVerdict::Reserved);
            }
            let counters = self.collection.clone_with_type::<CounterDoc>();
            let prune = counters
                .find_one_and_update(
                    doc! { "_id": &id },
                    doc! { "$pull": {
                        "recent": { "at": { "$lte": to_bson(now - limits.window) } },
                        &field: { "expires_at": { "$lte": to_bson(now) } },
                    } },
                )
                .return_document(ReturnDocument::After);
            let pruned = metered("findAndModify", prune).await?;
            // No document: the TTL monitor removed it in between; the next upsert creates it.
            if let Some(doc) = pruned {
                if doc
                    .recent
                    .iter()
                    .any(|entry| entry.issuance_id == slot.issuance_id)
                {
                    return Ok(LimitVerdict::Reserved);
                }
                let verdict = judge(&doc, &key, limits, now);
                if verdict != LimitVerdict::Reserved {
                    return Ok(verdict);
                }
            }
        }
        Err(StoreError::Contended {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// The conditional upsert; `false` when the filter did not match.
    async fn try_reserve(
        &self,
        id: &str,
        field: &str,
        slot: &MintSlot<'_>,
        limits: &MintLimits,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let rate = limits.mints_per_window;
        let cap = limits.live_per_api;
        // A list longer than its limit (the limit was lowered) never matches: the slow path
        // prunes it to what still counts.
        let filter = rawdoc! {
            "_id": id,
            // A counter that holds this mint already (a batch sent again after its reply was
            // lost) is not counted twice: the slow path finds the mint there.
            "recent.issuance_id": { "$ne": slot.issuance_id.to_string() },
            format!("recent.{rate}"): { "$exists": false },
            format!("{field}.{cap}"): { "$exists": false },
            "$and": [
                { "$or": [
                    { format!("recent.{}", rate - 1): { "$exists": false } },
                    { "recent.0.at": { "$lte": to_bson(now - limits.window) } },
                ] },
                { "$or": [
                    { format!("{field}.{}", cap - 1): { "$exists": false } },
                    { format!("{field}.0.expires_at"): { "$lte": to_bson(now) } },
                ] },
            ],
        };
        let counted_until = slot.expires_at.max(now + limits.window);
        let update = rawdoc! {
            "$push": {
                "recent": {
                    "$each": [ { "issuance_id": slot.issuance_id.to_string(), "at": to_bson(now) } ],
                    "$sort": { "at": 1 },
                    "$slice": -position(rate),
                },
                field: {
                    "$each": [ {
                        "issuance_id": slot.issuance_id.to_string(),
                        "expires_at": to_bson(slot.expires_at),
                        "reserved_at": to_bson(now),
                    } ],
                    "$sort": { "expires_at": 1 },
                    "$slice": -position(cap),
                },
            },
            "$max": { "expires_at": to_bson(counted_until) },
            "$setOnInsert": { "issuer": slot.issuer, "subject": slot.subject },
        };
        // `false`: the filter missed an existing document and the upsert hit its `_id`.
        self.reservations
            .upsert(id.to_owned(), filter, update)
            .await
    }

    /// Frees the live slots of `issuance_ids` (failed, revoked or withdrawn credentials) of the
    /// caller for `api_id`. Slots already gone are ignored, so releasing twice is harmless.
    pub async fn release(
        &self,
        issuer: &str,
        subject: &str,
        api_id: &str,
        issuance_ids: &[IssuanceId],
    ) -> Result<(), StoreError> {
        let ids: Vec<String> = issuance_ids.iter().map(ToString::to_string).collect();
        let slots = doc! { "$pull": {
            format!("live.{}", live_key(api_id)): { "issuance_id": { "$in": ids } },
        } };
        metered(
            "update",
            self.collection
                .update_one(doc! { "_id": counter_id(issuer, subject) }, slots),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_750_000_000 + seconds, 0)
            .single()
            .expect("valid")
    }

    fn limits(rate: u32, cap: u32) -> MintLimits {
        MintLimits {
            mints_per_window: rate,
            window: Duration::seconds(60),
            live_per_api: cap,
        }
    }

    fn live(expiries: &[i64]) -> Vec<LiveDoc> {
        expiries
            .iter()
            .map(|&expiry| LiveDoc {
                issuance_id: IssuanceId::new(),
                expires_at: to_bson(at(expiry)),
                reserved_at: to_bson(at(0)),
            })
            .collect()
    }

    fn counter(recent: &[i64], orders: &[i64]) -> CounterDoc {
        CounterDoc {
            recent: recent
                .iter()
                .map(|&second| RecentDoc {
                    issuance_id: IssuanceId::new(),
                    at: to_bson(at(second)),
                })
                .collect(),
            live: HashMap::from([("api:orders".to_owned(), live(orders))]),
        }
    }

    #[test]
    fn api_ids_become_one_path_component() {
        assert_eq!(live_key("orders"), "api:orders");
        assert_eq!(live_key("orders.v2"), "api:orders%2Ev2");
        assert_eq!(live_key("50%"), "api:50%25");
    }

    #[test]
    fn callers_are_issuer_and_subject_together() {
        assert_ne!(counter_id("ab", "c"), counter_id("a", "bc"));
        assert_ne!(counter_id("idp-a", "jane"), counter_id("idp-b", "jane"));
        assert_eq!(counter_id("idp-a", "jane"), counter_id("idp-a", "jane"));
    }

    #[test]
    fn the_rate_is_judged_first_and_frees_when_the_oldest_mint_leaves_the_window() {
        let doc = counter(&[10, 20, 30], &[600, 700]);
        let verdict = judge(&doc, "api:orders", &limits(3, 2), at(40));
        assert_eq!(verdict, LimitVerdict::RateReached { frees_at: at(70) });
        // At 70 s the mint of 10 s no longer counts.
        let verdict = judge(&doc, "api:orders", &limits(3, 5), at(70));
        assert_eq!(verdict, LimitVerdict::Reserved);
    }

    #[test]
    fn the_cap_counts_unexpired_slots_and_frees_at_the_earliest_expiry() {
        let doc = counter(&[], &[100, 300, 900]);
        let LimitVerdict::LiveCapReached { frees_at, holders } =
            judge(&doc, "api:orders", &limits(10, 2), at(200))
        else {
            panic!("two unexpired slots fill a cap of 2");
        };
        assert_eq!(frees_at, at(300));
        assert_eq!(
            holders.iter().map(|h| h.expires_at).collect::<Vec<_>>(),
            vec![at(300), at(900)]
        );
        assert_eq!(
            judge(&doc, "api:orders", &limits(10, 3), at(200)),
            LimitVerdict::Reserved
        );
        // Another API's slots do not count.
        assert_eq!(
            judge(&doc, "api:billing", &limits(10, 1), at(200)),
            LimitVerdict::Reserved
        );
    }
}
