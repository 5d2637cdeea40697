//! The four steps of a pass, each a loop of bounded batches: stale `pending` records, expired
//! `active` records, live records whose consumer is missing, and orphan consumers in Kong. Each
//! returns `Some(end)` when the pass must stop (budget spent, lease lost), `None` to go on.

use std::collections::HashMap;

use futures::{StreamExt as _, TryStreamExt as _};
use gatekey_core::issuance::{FailureCode, Issuance, IssuanceId, IssuanceState};
use gatekey_kong::{Consumer, ListQuery};
use gatekey_store::StoreError;
use tokio::time::Instant;

use super::outcomes::ReapKind;
use super::{
    Bounds, CONSUMER_MISSING_BY, Context, KONG_CONCURRENCY, PassEnd, PassReport, Progress,
    ReconcileError, Sweep,
};
use crate::chrono_duration;
use crate::consumers::{ISSUANCE_TAG_PREFIX, MANAGED_TAG, consumer_username};
use crate::term::Term;

/// The consumer of a record: its Kong id when the record has one, else its derived username.
fn consumer_of(record: &Issuance) -> String {
    record.kong.as_ref().map_or_else(
        || consumer_username(&record.id),
        |kong| kong.consumer_id.clone(),
    )
}

/// The issuance a consumer belongs to, from its `gatekey-issuance:<id>` tag.
fn issuance_of(consumer: &Consumer) -> Option<IssuanceId> {
    consumer
        .tags
        .iter()
        .find_map(|tag| tag.strip_prefix(ISSUANCE_TAG_PREFIX))
        .and_then(|id| id.parse().ok())
}

/// Runs `handle` over `items`, a few Kong calls at a time; counts the items it resolved.
async fn each<T, F, Fut>(items: Vec<T>, handle: F) -> Result<u64, ReconcileError>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<bool, ReconcileError>>,
{
    futures::stream::iter(items)
        .map(handle)
        .buffer_unordered(KONG_CONCURRENCY)
        .try_fold(0, |count, resolved| async move {
            Ok(count + u64::from(resolved))
        })
        .await
}

/// 1. `pending` records older than the pending timeout: failed, slot freed, consumer deleted.
pub(super) async fn stale_pending(
    context: &Context,
    term: &mut Term,
    bounds: &Bounds,
    report: &mut PassReport,
) -> Result<Option<PassEnd>, ReconcileError> {
    let timeout = context.settings.pending_timeout();
    loop {
        if let Some(end) = bounds.before_batch(term).await? {
            return Ok(Some(end));
        }
        let cutoff = term.db_now() - chrono_duration(timeout);
        let batch = async {
            let stale = context
                .store
                .issuances()
                .list_pending_older_than(cutoff, context.settings.batch_size)
                .await?;
            let found = stale.len();
            let resolved = each(stale, |record| resolve_stale(context, record)).await?;
            Ok((found, resolved))
        };
        match bounds.run(term, batch).await? {
            Ok((found, resolved)) => {
                report.stale_pending += resolved;
                if found < batch_len(context) {
                    return Ok(None);
                }
            }
            Err(end) => return Ok(Some(end)),
        }
    }
}

async fn resolve_stale(context: &Context, record: Issuance) -> Result<bool, ReconcileError> {
    let failed = context
        .store
        .issuances()
        .mark_failed(&record.id, FailureCode::Abandoned, context.clock.now())
        .await;
    match failed {
        Ok(_) => {}
        // The mint finished (or another pass resolved it) in the meantime.
        Err(StoreError::InvalidTransition { .. } | StoreError::NotFound { .. }) => {
            return Ok(false);
        }
        Err(err) => return Err(err.into()),
    }
    context.outcomes.free_slot(&record).await;
    // Any consumer left behind goes now; if this fails, the orphan sweep finds it (its record
    // is `failed`).
    context
        .kong
        .delete_consumer(&consumer_username(&record.id))
        .await?;
    let why = format!(
        "abandoned: the mint did not finish within {} s",
        context.settings.pending_timeout_seconds
    );
    context
        .outcomes
        .resolved(ReapKind::StalePending, Some(&record), record.id, &why)
        .await;
    Ok(true)
}

/// 2. `active` records past their expiry (MongoDB's time), not reaped yet: consumer deleted,
///    record marked reaped, slot freed.
pub(super) async fn expired(
    context: &Context,
    term: &mut Term,
    bounds: &Bounds,
    report: &mut PassReport,
) -> Result<Option<PassEnd>, ReconcileError> {
    loop {
        if let Some(end) = bounds.before_batch(term).await? {
            return Ok(Some(end));
        }
        let now = term.db_now();
        let batch = async {
            let expired = context
                .store
                .issuances()
                .list_expired_unreaped(now, context.settings.batch_size)
                .await?;
            let found = expired.len();
            let resolved = reap_expired(context, expired).await?;
            Ok((found, resolved))
        };
        match bounds.run(term, batch).await? {
            Ok((found, resolved)) => {
                report.expired += resolved;
                if found < batch_len(context) {
                    return Ok(None);
                }
            }
            Err(end) => return Ok(Some(end)),
        }
    }
}

/// Deletes the consumers of a batch of expired records (a few at a time), marks the records
/// reaped in one update, frees their slots and audits each.
async fn reap_expired(context: &Context, batch: Vec<Issuance>) -> Result<u64, ReconcileError> {
    let consumers: Vec<String> = batch.iter().map(consumer_of).collect();
    each(consumers, |consumer| async move {
        context.kong.delete_consumer(&consumer).await?;
        Ok(true)
    })
    .await?;
    let ids: Vec<IssuanceId> = batch.iter().map(|record| record.id).collect();
    let records = context.store.issuances();
    let marked = records.mark_reaped(&ids, context.clock.now()).await?;
    let reaped = if usize::try_from(marked).is_ok_and(|marked| marked == batch.len()) {
        batch
    } else {
        // Some were revoked meanwhile: the revocation audited and freed those.
        let current = records.get_many(&ids).await?;
        batch
            .into_iter()
            .filter(|record| {
                current
                    .iter()
                    .any(|c| c.id == record.id && c.state == IssuanceState::Active)
            })
            .collect()
    };
    context.outcomes.free_slots(&reaped).await;
    crate::usage::count_unused_at_expiry(&context.store, &reaped).await;
    let count = u64::try_from(reaped.len()).unwrap_or(u64::MAX);
    context.outcomes.expired(reaped).await;
    Ok(count)
}

/// 3. A batch of live records checked for their consumer; those missing for longer than the
///    orphan grace become `revoked` (audited, slot freed).
pub(super) async fn missing_consumers(
    context: &Context,
    progress: &mut Progress,
    term: &mut Term,
    bounds: &Bounds,
    report: &mut PassReport,
) -> Result<Option<PassEnd>, ReconcileError> {
    let limit = context.settings.consumer_checks_per_pass;
    if limit == 0 {
        return Ok(None);
    }
    if let Some(end) = bounds.before_batch(term).await? {
        return Ok(Some(end));
    }
    let now = term.db_now();
    let grace = context.settings.orphan_grace();
    let batch = async {
        let records = context.store.issuances();
        // Suspects from earlier passes first (re-read: they may have moved on), then the walk.
        let suspects: Vec<IssuanceId> = progress.missing_since.keys().copied().collect();
        let mut batch = records.get_many(&suspects).await?;
        batch.retain(|record| record.state == IssuanceState::Active && !record.is_expired(now));
        progress
            .missing_since
            .retain(|id, _| batch.iter().any(|record| record.id == *id));
        let walked = records
            .list_live_after(progress.live_cursor.as_ref(), now, limit)
            .await?;
        progress.live_cursor = if walked.len() < batch_len_of(limit) {
            None
        } else {
            walked.last().map(|record| record.id)
        };
        batch.extend(
            walked
                .into_iter()
                .filter(|record| !progress.missing_since.contains_key(&record.id)),
        );
        let checked = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        let missing: Vec<(Issuance, bool)> = futures::stream::iter(batch)
            .map(|record| async move {
                let present = context.kong.get_consumer(&consumer_of(&record)).await?;
                Ok::<_, ReconcileError>((record, present.is_some()))
            })
            .buffer_unordered(KONG_CONCURRENCY)
            .try_collect()
            .await?;
        let mut confirmed = Vec::new();
        for (record, present) in missing {
            if present {
                progress.missing_since.remove(&record.id);
                continue;
            }
            let since = *progress
                .missing_since
                .entry(record.id)
                .or_insert_with(Instant::now);
            if since.elapsed() >= grace {
                progress.missing_since.remove(&record.id);
                confirmed.push(record);
            }
        }
        let repaired = each(confirmed, |record| repair_missing(context, record)).await?;
        Ok((checked, repaired))
    };
    match bounds.run(term, batch).await? {
        Ok((checked, repaired)) => {
            report.consumers_checked += checked;
            report.consumers_missing += repaired;
            Ok(None)
        }
        Err(end) => Ok(Some(end)),
    }
}

async fn repair_missing(context: &Context, record: Issuance) -> Result<bool, ReconcileError> {
    let revoked = context
        .store
        .issuances()
        .mark_revoked(&record.id, CONSUMER_MISSING_BY, context.clock.now())
        .await;
    match revoked {
        Ok(_) => {}
        // Revoked or failed by its owner meanwhile.
        Err(StoreError::InvalidTransition { .. } | StoreError::NotFound { .. }) => {
            return Ok(false);
        }
        Err(err) => return Err(err.into()),
    }
    context.outcomes.free_slot(&record).await;
    let why = format!(
        "Kong no longer had consumer {} of this active credential; marked revoked",
        consumer_of(&record)
    );
    context
        .outcomes
        .resolved(ReapKind::ConsumerMissing, Some(&record), record.id, &why)
        .await;
    Ok(true)
}

/// 4. The orphan sweep: a few pages of Kong's `gatekey` consumers per pass, resumed from the
///    saved offset, a new sweep at most every orphan interval.
pub(super) async fn orphans(
    context: &Context,
    progress: &mut Progress,
    term: &mut Term,
    bounds: &Bounds,
    report: &mut PassReport,
) -> Result<Option<PassEnd>, ReconcileError> {
    if matches!(progress.sweep, Sweep::Idle) {
        if progress
            .next_sweep_at
            .is_some_and(|next| Instant::now() < next)
        {
            return Ok(None);
        }
        progress.sweep = Sweep::Reading { offset: None };
        progress.next_sweep_at = Some(Instant::now() + context.settings.orphan_interval());
    }
    for _ in 0..context.settings.orphan_pages_per_pass {
        let Sweep::Reading { offset } = progress.sweep.clone() else {
            return Ok(None);
        };
        if let Some(end) = bounds.before_batch(term).await? {
            return Ok(Some(end));
        }
        let now = term.db_now();
        let batch = async {
            let query = ListQuery {
                size: Some(context.settings.batch_size),
                offset,
                ..ListQuery::tagged_all([MANAGED_TAG])
            };
            let page = match context.kong.list_consumers(&query).await {
                Ok(page) => page,
                Err(err) => {
                    // A stale offset (or Kong down): the sweep starts over next time.
                    return Err::<_, ReconcileError>(err.into());
                }
            };
            let ids: Vec<IssuanceId> = page.data.iter().filter_map(issuance_of).collect();
            let records: HashMap<IssuanceId, Issuance> = context
                .store
                .issuances()
                .get_many(&ids)
                .await?
                .into_iter()
                .map(|record| (record.id, record))
                .collect();
            let grace_cutoff = (now - chrono_duration(context.settings.orphan_grace())).timestamp();
            let orphans: Vec<(Consumer, Option<Issuance>)> = page
                .data
                .into_iter()
                .filter(|consumer| consumer.created_at <= grace_cutoff)
                .filter_map(|consumer| {
                    let record = issuance_of(&consumer)
                        .and_then(|id| records.get(&id))
                        .cloned();
                    match record.as_ref().map(|r| r.state) {
                        Some(IssuanceState::Pending | IssuanceState::Active) => None,
                        Some(IssuanceState::Failed | IssuanceState::Revoked) | None => {
                            Some((consumer, record))
                        }
                    }
                })
                .collect();
            let deleted = each(orphans, |(consumer, record)| {
                delete_orphan(context, consumer, record)
            })
            .await?;
            Ok((page.offset, deleted))
        };
        let outcome = bounds.run(term, batch).await;
        match outcome {
            Ok(Ok((next, deleted))) => {
                report.orphan_pages += 1;
                report.orphans += deleted;
                progress.sweep = match next {
                    Some(offset) => Sweep::Reading {
                        offset: Some(offset),
                    },
                    None => Sweep::Idle,
                };
            }
            Ok(Err(end)) => return Ok(Some(end)),
            Err(err) => {
                progress.sweep = Sweep::Idle;
                return Err(err);
            }
        }
    }
    Ok(None)
}

async fn delete_orphan(
    context: &Context,
    consumer: Consumer,
    record: Option<Issuance>,
) -> Result<bool, ReconcileError> {
    context.kong.delete_consumer(&consumer.id).await?;
    let why = match &record {
        Some(record) => format!(
            "consumer {} outlived its {} record",
            consumer.id, record.state
        ),
        None => format!("consumer {} has no issuance record", consumer.id),
    };
    match issuance_of(&consumer) {
        Some(id) => {
            context
                .outcomes
                .resolved(ReapKind::Orphan, record.as_ref(), id, &why)
                .await;
        }
        None => {
            tracing::info!(consumer = %consumer.id, "reaped a gatekey consumer without an issuance tag");
        }
    }
    Ok(true)
}

fn batch_len(context: &Context) -> usize {
    batch_len_of(context.settings.batch_size)
}

fn batch_len_of(limit: u32) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}
