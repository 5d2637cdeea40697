//! Group commit of a mint's writes. Every mint counts itself against its caller's limits,
//! appends two audit events and one `pending` record, and activates the record, each awaited
//! before the mint goes on. Sent one command each, they cost the server a command's overhead
//! and Gatekey a wake-up for every reply. Here the writes that callers make while a batch is out
//! wait in a queue and leave together as soon as it returns, whatever their collection: on
//! MongoDB 8.0 and later as one unordered `bulkWrite` command, which answers each write by its
//! position; before 8.0, which has no `bulkWrite`, as one unordered `insert_many` per collection
//! of appends and one unordered `update` command per collection of conditional updates and
//! upserts, sent together. Each caller still waits for its own write's outcome (write concern
//! `majority`), so nothing is acknowledged before it is durable; an idle server sees one write
//! per command, exactly as before, and a busy one sees fewer, larger commands.
//!
//! One batch is out at a time. Several in flight split the same writes into more, smaller
//! commands: on a server that serves one command after another, each more costs a command's
//! overhead there and a wake-up here (`docs/performance.md`, "Every write of a mint
//! group-committed"). A batch slower than [`SLOW_WRITE`] (a stalled connection) stops holding
//! back the next, up to [`MAX_IN_FLIGHT`] out at once.
//!
//! A write whose caller stopped waiting before its batch left (a mint past its deadline) is not
//! sent: nobody could act on its outcome.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::join_all;
use mongodb::bson::{self, RawDocumentBuf, doc, rawdoc};
use mongodb::error::{Error as MongoError, ErrorKind};
use mongodb::{Client, Database};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::bulk_write_command::{BulkWriteCommand, BulkWriteReply, Write, WriteOutcome};
use crate::error::DUPLICATE_KEY;
use crate::update_command::{UpdateReply, encoded_write_concern, send_update};
use crate::{StoreError, metered};

/// Server error code of a command the server does not have.
const COMMAND_NOT_FOUND: i32 = 59;
/// The wire version of MongoDB 8.0, the first with `bulkWrite`.
const BULK_WRITE_SINCE: i32 = 25;
/// Most writes in one batch.
const MAX_BATCH: usize = 256;
/// How long the batch out holds back the next one: past it, the batch counts as slow, and the
/// next leaves without waiting for it.
const SLOW_WRITE: Duration = Duration::from_millis(250);
/// Most batches out at once, all but one of them slow.
const MAX_IN_FLIGHT: usize = 4;
/// Writes that may wait for their batch (in the channel, then in line) before callers wait to
/// enqueue.
const QUEUE_CAPACITY: usize = 4_096;

/// One write waiting for its batch, and who waits for its outcome.
struct Queued<W, O> {
    write: W,
    /// The collection written.
    collection: &'static str,
    /// The `_id` written, for errors about it.
    id: String,
    outcome: oneshot::Sender<Result<O, StoreError>>,
}

/// Queues `write` for the next batch of `queue` and waits for its outcome.
async fn queue_and_wait<W, O>(
    queue: &mpsc::Sender<Queued<W, O>>,
    collection: &'static str,
    id: String,
    write: W,
) -> Result<O, StoreError> {
    let (outcome, answer) = oneshot::channel();
    queue
        .send(Queued {
            write,
            collection,
            id,
            outcome,
        })
        .await
        .map_err(|_| StoreError::WriterStopped)?;
    answer.await.map_err(|_| StoreError::WriterStopped)?
}

/// Whether a write of a batch matched its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Matched {
    /// It did (an insert, an upsert, an update that found its document in the state it asks).
    Yes,
    /// An update that may have matched nothing: read the document to learn its state.
    Unknown,
}

/// How batches leave: learnt from the server's handshake before the first batch, and turned to
/// per collection for good if the server answers that it has no `bulkWrite`.
#[derive(Debug, Default)]
struct BatchCommands {
    /// Whether the server's version has been asked.
    asked: AtomicBool,
    /// Whether the server has no `bulkWrite` (MongoDB before 8.0).
    per_collection: AtomicBool,
}

impl BatchCommands {
    /// Whether the next batch leaves per collection. The first call asks the server (`hello`)
    /// for its wire version; if the server cannot be asked, the batch tries `bulkWrite`, whose
    /// answer settles it.
    async fn per_collection(&self, db: &Database) -> bool {
        if !self.asked.swap(true, Ordering::Relaxed) {
            let version = db
                .run_command(doc! { "hello": 1 })
                .await
                .ok()
                .and_then(|hello| hello.get_i32("maxWireVersion").ok());
            if version.is_some_and(|version| version < BULK_WRITE_SINCE) {
                self.fall_back();
            }
        }
        self.per_collection.load(Ordering::Relaxed)
    }

    fn fall_back(&self) {
        if !self.per_collection.swap(true, Ordering::Relaxed) {
            tracing::info!(
                "MongoDB is older than 8.0 and has no bulkWrite: batched writes leave as one command per collection"
            );
        }
    }
}

/// The group commit of every collection's batched writes; cheap to clone. Its task ends when the
/// last clone (and the last handle on it) is dropped, after writing what was queued.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<Queued<Write, Matched>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("queued", &(QUEUE_CAPACITY - self.queue.capacity()))
            .finish()
    }
}

impl GroupCommit {
    /// Starts the task that writes the batches to `db` through `client`; fails if the
    /// database's write concern cannot be encoded.
    pub(crate) fn start(client: Client, db: Database) -> Result<Self, StoreError> {
        let (queue, queued) = mpsc::channel(QUEUE_CAPACITY);
        let commands = Arc::new(BatchCommands::default());
        let concern = Arc::new(encoded_write_concern(&db)?);
        tokio::spawn(write_batches(queued, move |batch| {
            let (client, db, commands, concern) = (
                client.clone(),
                db.clone(),
                Arc::clone(&commands),
                Arc::clone(&concern),
            );
            async move {
                if commands.per_collection(&db).await {
                    return write_per_collection(&db, batch).await;
                }
                if let Some(batch) =
                    bulk_write(&client, &db, concern.as_ref().as_ref(), batch).await
                {
                    commands.fall_back();
                    write_per_collection(&db, batch).await;
                }
            }
        }));
        Ok(Self { queue })
    }

    async fn write(
        &self,
        collection: &'static str,
        id: String,
        write: Write,
    ) -> Result<Matched, StoreError> {
        queue_and_wait(&self.queue, collection, id, write).await
    }
}

/// The appending side of one collection's group commit; cheap to clone.
pub(crate) struct BatchInserter<T> {
    commit: GroupCommit,
    collection: &'static str,
    documents: PhantomData<fn(T)>,
}

impl<T> Clone for BatchInserter<T> {
    fn clone(&self) -> Self {
        Self {
            commit: self.commit.clone(),
            collection: self.collection,
            documents: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for BatchInserter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchInserter")
            .field("collection", &self.collection)
            .finish_non_exhaustive()
    }
}

impl<T: Serialize> BatchInserter<T> {
    /// Appends to `collection` through `commit`.
    pub(crate) fn new(commit: GroupCommit, collection: &'static str) -> Self {
        Self {
            commit,
            collection,
            documents: PhantomData,
        }
    }

    /// Inserts `document` (whose `_id` is `id`) with the next batch and waits for its outcome.
    /// An existing `_id` is [`StoreError::DuplicateId`].
    pub(crate) async fn insert(&self, id: String, document: T) -> Result<(), StoreError> {
        let document = bson::to_raw_document_buf(&document).map_err(MongoError::from)?;
        self.commit
            .write(self.collection, id, Write::Insert(document))
            .await
            .map(|_| ())
    }
}

/// The group commit of one collection's conditional updates: writes whose filter admits them
/// only in some state of the document.
///
/// An upsert that finds its document in another state collides with its `_id`, and the reply
/// says so by position: [`BatchUpdater::upsert`] knows its outcome. An update that matches
/// nothing is applied without error: [`BatchUpdater::update`] answers [`Matched::Unknown`] when
/// the reply does not show it matched.
///
/// A batch that failed on the way is sent once more ([`once_more_if_lost`]). It may have been
/// applied the first time, so every update must be safe to
/// apply twice: its filter no longer matches once it was applied (an activation finds its record
/// `active`, a reservation finds its mint counted), and the caller settles what the second reply
/// leaves open by reading the document.
#[derive(Clone)]
pub(crate) struct BatchUpdater {
    commit: GroupCommit,
    collection: &'static str,
}

impl std::fmt::Debug for BatchUpdater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchUpdater")
            .field("collection", &self.collection)
            .finish_non_exhaustive()
    }
}

impl BatchUpdater {
    /// Updates documents of `collection` through `commit`.
    pub(crate) fn new(commit: GroupCommit, collection: &'static str) -> Self {
        Self { commit, collection }
    }

    /// Applies `update` to the document `id` if it matches `filter` (which names that `_id`),
    /// inserting it if there is none. `false`: a document `id` exists and does not match, so
    /// nothing was written (the upsert collided with its `_id`).
    pub(crate) async fn upsert(
        &self,
        id: String,
        filter: RawDocumentBuf,
        update: RawDocumentBuf,
    ) -> Result<bool, StoreError> {
        let write = Write::Update {
            filter,
            update,
            upsert: true,
        };
        match self.commit.write(self.collection, id, write).await {
            Ok(_) => Ok(true),
            Err(StoreError::DuplicateId { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Applies `update` to the document `id` if it matches `filter` (which names that `_id`).
    pub(crate) async fn update(
        &self,
        id: String,
        filter: RawDocumentBuf,
        update: RawDocumentBuf,
    ) -> Result<Matched, StoreError> {
        let write = Write::Update {
            filter,
            update,
            upsert: false,
        };
        self.commit.write(self.collection, id, write).await
    }
}

/// One unordered `bulkWrite` of the batch, sent once more if it failed on the way, and each
/// write's outcome to whoever waits for it. Gives the batch back, unsent, when the server has no
/// `bulkWrite`.
///
/// See [`once_more_if_lost`] for why a batch is sent twice and what that means for its writes.
async fn bulk_write(
    client: &Client,
    db: &Database,
    concern: Option<&RawDocumentBuf>,
    batch: Vec<Queued<Write, Matched>>,
) -> Option<Vec<Queued<Write, Matched>>> {
    let command = BulkWriteCommand::new(
        db,
        batch
            .iter()
            .map(|queued| (queued.collection, &queued.write)),
        concern.map(AsRef::as_ref),
    );
    let (sent, resent) = once_more_if_lost(|| command.send(client), is_retryable).await;
    if let Err(err) = &sent
        && lacks_bulk_write(err)
    {
        return Some(batch);
    }
    let reply = sent
        .map_err(StoreError::Mongo)
        .and_then(|reply| BulkWriteReply::read(reply, batch.len()));
    for (index, queued) in batch.into_iter().enumerate() {
        let insert = matches!(queued.write, Write::Insert(_));
        let result = match &reply {
            Ok(reply) => bulk_outcome(reply.outcome(index), index, queued.collection, queued.id),
            Err(err) => Err(err.clone()),
        };
        let result = if insert {
            written_on_resend(result, resent)
        } else {
            result
        };
        // The caller may have stopped waiting meanwhile; then nobody needs the outcome.
        let _ = queued.outcome.send(result);
    }
    None
}

/// Whether `err` says the server has no `bulkWrite`, so that nothing of the batch was applied: a
/// server older than its handshake said, answering that the command does not exist.
fn lacks_bulk_write(err: &MongoError) -> bool {
    matches!(err.kind.as_ref(), ErrorKind::Command(command) if command.code == COMMAND_NOT_FOUND)
}

/// What the `bulkWrite` reply says of the write at `index`: refused on its own (a collision with
/// an existing `_id` is [`StoreError::DuplicateId`]), applied (for an update: whether it matched
/// its document), or, with an unmet write concern, perhaps not durable.
fn bulk_outcome(
    outcome: WriteOutcome,
    index: usize,
    collection: &'static str,
    id: String,
) -> Result<Matched, StoreError> {
    match outcome {
        WriteOutcome::Applied { matched: true } => Ok(Matched::Yes),
        WriteOutcome::Applied { matched: false } => Ok(Matched::Unknown),
        WriteOutcome::Refused { code, message } => Err(refusal(code, &message, collection, id)),
        WriteOutcome::WriteConcernFailed { code, message } => Err(StoreError::WriteConcernFailed {
            collection,
            code,
            message,
        }),
        WriteOutcome::Missing => Err(StoreError::UnexpectedReply {
            command: "bulkWrite",
            detail: format!("no result for write {index} in the first batch"),
        }),
    }
}

/// The writes of a batch to one collection, in the form its command takes them: documents of an
/// `insert_many`, or statements (`{q, u, upsert}`) of an `update`.
struct CollectionWrites {
    collection: &'static str,
    inserts: bool,
    writes: Vec<Queued<RawDocumentBuf, Matched>>,
}

/// Before MongoDB 8.0: the batch's appends as one unordered `insert_many` per collection and its
/// updates as one unordered `update` command per collection, sent together.
async fn write_per_collection(db: &Database, batch: Vec<Queued<Write, Matched>>) {
    let mut groups: Vec<CollectionWrites> = Vec::new();
    for queued in batch {
        let (inserts, write) = match queued.write {
            Write::Insert(document) => (true, document),
            Write::Update {
                filter,
                update,
                upsert,
            } => (
                false,
                rawdoc! { "q": filter, "u": update, "upsert": upsert },
            ),
        };
        let queued = Queued {
            write,
            collection: queued.collection,
            id: queued.id,
            outcome: queued.outcome,
        };
        match groups
            .iter_mut()
            .find(|group| group.collection == queued.collection && group.inserts == inserts)
        {
            Some(group) => group.writes.push(queued),
            None => groups.push(CollectionWrites {
                collection: queued.collection,
                inserts,
                writes: vec![queued],
            }),
        }
    }
    join_all(groups.into_iter().map(|group| async move {
        if group.inserts {
            write_inserts(db, group.collection, group.writes).await;
        } else {
            write_updates(db, group.collection, group.writes).await;
        }
    }))
    .await;
}

/// One unordered `update` command of the batch's statements, and each statement's outcome to
/// whoever waits for it. A command that fails as a whole (a lost connection, an unmet write
/// concern) fails every statement, which may or may not have been applied, as with a single
/// update.
async fn write_updates(
    db: &Database,
    collection: &'static str,
    batch: Vec<Queued<RawDocumentBuf, Matched>>,
) {
    let (statements, waiting): (Vec<RawDocumentBuf>, Vec<(String, oneshot::Sender<_>)>) = batch
        .into_iter()
        .map(|queued| (queued.write, (queued.id, queued.outcome)))
        .unzip();
    let count = statements.len();
    let (reply, _) = once_more_if_lost(
        || send_update(db, collection, statements.clone()),
        |err| matches!(err, StoreError::Mongo(err) if is_retryable(err)),
    )
    .await;
    for (index, (id, outcome)) in waiting.into_iter().enumerate() {
        let result = match &reply {
            Err(err) => Err(err.clone()),
            Ok(reply) => statement_outcome(reply, index, count, collection, id),
        };
        // The caller may have stopped waiting meanwhile; then nobody needs the outcome.
        let _ = outcome.send(result);
    }
}

/// Sends a batch, and once more if the first attempt failed on the way (`lost`); whether it was
/// sent twice. The driver retries a write only where the server numbers retried writes (a
/// replica set), and never an `update` command, while a cleared connection pool (a server monitor
/// that timed out) interrupts the commands in flight. The first attempt may have been applied:
/// every update of a batch is safe to apply twice ([`BatchUpdater`]), and an insert is settled by
/// [`written_on_resend`].
async fn once_more_if_lost<T, E, F, Fut>(send: F, lost: impl Fn(&E) -> bool) -> (Result<T, E>, bool)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    match send().await {
        Err(err) if lost(&err) => (send().await, true),
        first => (first, false),
    }
}

/// An insert of a batch sent twice that finds its `_id` taken was written by the first attempt:
/// every batched insert carries an `_id` Gatekey made for that write alone (a ULID, or one
/// derived from the event it records, whose appends accept a duplicate anyway).
fn written_on_resend(
    result: Result<Matched, StoreError>,
    resent: bool,
) -> Result<Matched, StoreError> {
    match result {
        Err(StoreError::DuplicateId { .. }) if resent => Ok(Matched::Yes),
        result => result,
    }
}

/// Whether a batch failed on the way, so that it is sent once more ([`once_more_if_lost`]): the
/// connection broke or its pool was cleared (a server monitor that timed out interrupts the
/// commands in flight), or the server calls the error retryable.
fn is_retryable(err: &MongoError) -> bool {
    matches!(
        err.kind.as_ref(),
        ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. }
    ) || err.contains_label("RetryableWriteError")
}

/// What the reply to `count` statements says of the one at `index`: refused on its own (a
/// collision with an existing `_id` is [`StoreError::DuplicateId`]), or applied to a matching
/// document (an upsert always counts, matched or inserted) when the reply's total counts every
/// statement the server did not refuse.
fn statement_outcome(
    reply: &UpdateReply,
    index: usize,
    count: usize,
    collection: &'static str,
    id: String,
) -> Result<Matched, StoreError> {
    if let Some(concern) = &reply.write_concern_error {
        return Err(StoreError::WriteConcernFailed {
            collection,
            code: concern.code,
            message: concern.message.clone(),
        });
    }
    match reply
        .write_errors
        .iter()
        .find(|refused| refused.index == index)
    {
        Some(refused) => Err(refusal(refused.code, &refused.message, collection, id)),
        None if reply.matched >= count.saturating_sub(reply.write_errors.len()) => Ok(Matched::Yes),
        None => Ok(Matched::Unknown),
    }
}

/// A write of a batch that the server refused on its own: a collision with an existing `_id` is
/// [`StoreError::DuplicateId`], anything else [`StoreError::WriteRefused`].
fn refusal(code: i32, message: &str, collection: &'static str, id: String) -> StoreError {
    if code == DUPLICATE_KEY {
        StoreError::DuplicateId { collection, id }
    } else {
        StoreError::WriteRefused {
            collection,
            id,
            code,
            message: message.to_owned(),
        }
    }
}

/// Takes whatever is queued whenever the batch out returns (or turns slow), and hands it to
/// `write` as the next batch, at most one write per document: the others of a document wait for
/// the next batch, first in line.
async fn write_batches<W, O, B, F>(mut queued: mpsc::Receiver<Queued<W, O>>, write: B)
where
    B: Fn(Vec<Queued<W, O>>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut waiting = Vec::new();
    loop {
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            return;
        };
        // Everything queued joins the line, so that one document's backlog (a caller sending
        // mints by the hundred) cannot keep other documents' writes in the channel.
        if waiting.is_empty() {
            if queued.recv_many(&mut waiting, QUEUE_CAPACITY).await == 0 {
                return;
            }
        } else {
            while waiting.len() < QUEUE_CAPACITY
                && let Ok(write) = queued.try_recv()
            {
                waiting.push(write);
            }
        }
        waiting.retain(|write| !write.outcome.is_closed());
        let mut batch = std::mem::take(&mut waiting);
        waiting = defer_repeated_documents(&mut batch);
        if batch.is_empty() {
            continue;
        }
        // Dropped when the batch returns or turns slow, whichever comes first.
        let (returned_or_slow, next_turn) = oneshot::channel::<()>();
        let written = write(batch);
        tokio::spawn(async move {
            let mut written = std::pin::pin!(written);
            if tokio::time::timeout(SLOW_WRITE, &mut written)
                .await
                .is_err()
            {
                drop(returned_or_slow);
                written.await;
            }
            drop(permit);
        });
        // Either way the channel closes; there is no value to read.
        let _ = next_turn.await;
    }
}

/// Keeps in `batch` the first write of each of its first [`MAX_BATCH`] documents, in order, and
/// returns the others. Writes to one document in one command gain nothing (the server applies
/// them one after another) and each would wait for all of them: the limit reservations of one
/// busy caller all change its one counter.
fn defer_repeated_documents<W, O>(batch: &mut Vec<Queued<W, O>>) -> Vec<Queued<W, O>> {
    let mut documents = std::collections::HashSet::with_capacity(batch.len().min(MAX_BATCH));
    let (first, repeated) = std::mem::take(batch).into_iter().partition(|write| {
        documents.len() < MAX_BATCH && documents.insert((write.collection, write.id.clone()))
    });
    *batch = first;
    repeated
}

/// One unordered `insert_many` of the batch's documents, and each one's outcome to whoever
/// waits for it.
async fn write_inserts(
    db: &Database,
    collection: &'static str,
    batch: Vec<Queued<RawDocumentBuf, Matched>>,
) {
    let (documents, waiting): (Vec<RawDocumentBuf>, Vec<(String, oneshot::Sender<_>)>) = batch
        .into_iter()
        .map(|queued| (queued.write, (queued.id, queued.outcome)))
        .unzip();
    let inserts = db.collection::<RawDocumentBuf>(collection);
    let (written, resent) = once_more_if_lost(
        || {
            metered(
                "insert",
                inserts.insert_many(documents.clone()).ordered(false),
            )
        },
        is_retryable,
    )
    .await;
    for (index, (id, outcome)) in waiting.into_iter().enumerate() {
        let result = match &written {
            Ok(_) => Ok(Matched::Yes),
            Err(err) => outcome_of(err, index, collection, id).map(|()| Matched::Yes),
        };
        // The caller may have stopped waiting meanwhile; then nobody needs the outcome.
        let _ = outcome.send(written_on_resend(result, resent));
    }
}

/// What a failed batch means for the document at `index`. With its own write error it was not
/// written (a duplicate `_id` is [`StoreError::DuplicateId`]); without one, the other
/// documents' errors do not concern it (the insert is unordered) unless the batch failed as a
/// whole (a write concern error, a lost connection), after which the document may or may not
/// have been written, as with a single insert.
fn outcome_of(
    err: &MongoError,
    index: usize,
    collection: &'static str,
    id: String,
) -> Result<(), StoreError> {
    if let ErrorKind::InsertMany(failure) = err.kind.as_ref() {
        let own = failure
            .write_errors
            .iter()
            .flatten()
            .find(|write| write.index == index);
        return match own {
            Some(write) => Err(refusal(write.code, &write.message, collection, id)),
            None if failure.write_concern_error.is_none() => Ok(()),
            None => Err(StoreError::Mongo(err.clone())),
        };
    }
    Err(StoreError::Mongo(err.clone()))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::time::{Instant, sleep};

    use super::*;
    use crate::update_command::StatementError;

    type Appends = mpsc::Sender<Queued<u32, ()>>;

    /// A queue whose batches `write` answers, as [`GroupCommit::start`]'s task does with MongoDB.
    fn appends<W, F>(write: W) -> Appends
    where
        W: Fn(Vec<Queued<u32, ()>>) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let (queue, queued) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_batches(queued, write));
        queue
    }

    /// A queue whose batches are answered after 10 ms, and what `key` says of each batch's
    /// writes, batch by batch.
    fn recording<K: Send + 'static>(
        key: fn(&Queued<u32, ()>) -> K,
    ) -> (Appends, Arc<Mutex<Vec<Vec<K>>>>) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&batches);
        let appends = appends(move |batch| {
            seen.lock().unwrap().push(batch.iter().map(key).collect());
            answer(batch, Duration::from_millis(10))
        });
        (appends, batches)
    }

    fn id(write: &Queued<u32, ()>) -> String {
        write.id.clone()
    }

    /// Answers every document of `batch` as written after `delay`, as the server would.
    async fn answer(batch: Vec<Queued<u32, ()>>, delay: Duration) {
        sleep(delay).await;
        for insert in batch {
            let _ = insert.outcome.send(Ok(()));
        }
    }

    /// Appends `n` to the document `id` of the test collection.
    async fn insert(appends: &Appends, id: &str, n: u32) -> Result<(), StoreError> {
        queue_and_wait(appends, "test", id.to_owned(), n).await
    }

    fn append(appends: &Appends, n: u32) -> tokio::task::JoinHandle<Result<(), StoreError>> {
        let appends = appends.clone();
        tokio::spawn(async move { insert(&appends, &n.to_string(), n).await })
    }

    #[tokio::test(start_paused = true)]
    async fn appends_made_while_a_batch_is_out_leave_together_when_it_returns() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&sizes);
        let appends = appends(move |batch| {
            seen.lock().unwrap().push(batch.len());
            answer(batch, Duration::from_millis(10))
        });
        let first = append(&appends, 0);
        sleep(Duration::from_millis(1)).await;
        let mut rest = Vec::new();
        for n in 1..=5 {
            rest.push(append(&appends, n));
            sleep(Duration::from_millis(1)).await;
        }
        first.await.unwrap().unwrap();
        for appended in rest {
            appended.await.unwrap().unwrap();
        }
        assert_eq!(*sizes.lock().unwrap(), vec![1, 5]);
    }

    #[tokio::test(start_paused = true)]
    async fn writes_to_one_document_leave_one_per_batch_in_order() {
        let (appends, batches) = recording(id);
        let mut appended = vec![append(&appends, 0)];
        sleep(Duration::from_millis(1)).await;
        for (id, n) in [("a", 1), ("a", 2), ("b", 3), ("a", 4), ("b", 5)] {
            let appends = appends.clone();
            appended.push(tokio::spawn(async move { insert(&appends, id, n).await }));
            sleep(Duration::from_millis(1)).await;
        }
        for append in appended {
            append.await.unwrap().unwrap();
        }
        assert_eq!(
            *batches.lock().unwrap(),
            vec![vec!["0"], vec!["a", "b"], vec!["a", "b"], vec!["a"]]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_id_in_two_collections_is_two_documents_of_one_batch() {
        let (appends, batches) = recording(|write| (write.collection, write.id.clone()));
        let first = append(&appends, 0);
        sleep(Duration::from_millis(1)).await;
        let written: Vec<_> = ["issuances", "audit_events"]
            .into_iter()
            .map(|collection| {
                let appends = appends.clone();
                tokio::spawn(async move {
                    queue_and_wait(&appends, collection, "a".to_owned(), 1).await
                })
            })
            .collect();
        first.await.unwrap().unwrap();
        for write in written {
            write.await.unwrap().unwrap();
        }
        assert_eq!(
            batches.lock().unwrap()[1],
            vec![
                ("issuances", "a".to_owned()),
                ("audit_events", "a".to_owned())
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_documents_backlog_does_not_hold_back_the_others() {
        let (appends, batches) = recording(id);
        let first = append(&appends, 0);
        sleep(Duration::from_millis(1)).await;
        // More writes of one document than a batch holds, then one of another document.
        let mut appended = Vec::new();
        for n in 1..=MAX_BATCH + 20 {
            let appends = appends.clone();
            let n = u32::try_from(n).unwrap();
            appended.push(tokio::spawn(
                async move { insert(&appends, "busy", n).await },
            ));
        }
        sleep(Duration::from_millis(1)).await;
        let other = append(&appends, 1_000);
        first.await.unwrap().unwrap();
        other.await.unwrap().unwrap();
        assert_eq!(batches.lock().unwrap()[1], vec!["busy", "1000"]);
        for append in appended {
            append.await.unwrap().unwrap();
        }
        assert_eq!(batches.lock().unwrap().len(), 2 + MAX_BATCH + 20 - 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_batch_holds_back_the_next_only_until_it_counts_as_slow() {
        let batches = AtomicUsize::new(0);
        let appends = appends(move |batch| {
            let delay = if batches.fetch_add(1, Ordering::SeqCst) == 0 {
                Duration::from_secs(60)
            } else {
                Duration::from_millis(10)
            };
            answer(batch, delay)
        });
        let started = Instant::now();
        let stalled = append(&appends, 0);
        sleep(Duration::from_millis(1)).await;
        insert(&appends, "1", 1).await.unwrap();
        let waited = started.elapsed();
        assert!(
            waited >= SLOW_WRITE && waited < SLOW_WRITE + Duration::from_millis(20),
            "the second append waited {waited:?}"
        );
        assert!(!stalled.is_finished(), "the stalled batch is still out");
        stalled.await.unwrap().unwrap();
        assert!(started.elapsed() >= Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_max_in_flight_batches_are_out_however_slow() {
        let out = Arc::new(AtomicUsize::new(0));
        let most_out = Arc::new(AtomicUsize::new(0));
        let (counting, most) = (Arc::clone(&out), Arc::clone(&most_out));
        let appends = appends(move |batch| {
            let now_out = counting.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now_out, Ordering::SeqCst);
            let counting = Arc::clone(&counting);
            async move {
                answer(batch, Duration::from_secs(60)).await;
                counting.fetch_sub(1, Ordering::SeqCst);
            }
        });
        let mut appended = Vec::new();
        for n in 0..10 {
            appended.push(append(&appends, n));
            sleep(SLOW_WRITE * 2).await;
        }
        assert_eq!(out.load(Ordering::SeqCst), MAX_IN_FLIGHT);
        for append in appended {
            append.await.unwrap().unwrap();
        }
        assert_eq!(most_out.load(Ordering::SeqCst), MAX_IN_FLIGHT);
    }

    fn refused(index: usize, code: i32) -> StatementError {
        StatementError {
            index,
            code,
            message: format!("statement {index} refused"),
        }
    }

    #[test]
    fn each_statement_reads_its_own_outcome_in_the_reply() {
        let reply = UpdateReply {
            matched: 2,
            write_errors: vec![refused(1, DUPLICATE_KEY), refused(3, 2)],
            write_concern_error: None,
        };
        let outcome =
            |index: usize| statement_outcome(&reply, index, 4, "limit_counters", index.to_string());
        assert!(matches!(outcome(0), Ok(Matched::Yes)), "applied");
        assert!(
            matches!(outcome(1), Err(StoreError::DuplicateId { ref id, .. }) if id == "1"),
            "collided with an existing `_id`"
        );
        assert!(
            matches!(outcome(2), Ok(Matched::Yes)),
            "applied beside a refusal"
        );
        assert!(
            matches!(outcome(3), Err(StoreError::WriteRefused { code: 2, ref id, .. }) if id == "3"),
            "refused for its own reason"
        );
    }

    #[test]
    fn a_short_total_leaves_every_unrefused_statement_unknown() {
        let reply = UpdateReply {
            matched: 2,
            write_errors: Vec::new(),
            write_concern_error: None,
        };
        for index in 0..3 {
            assert_eq!(
                statement_outcome(&reply, index, 3, "issuances", String::new()).unwrap(),
                Matched::Unknown
            );
        }
    }

    #[test]
    fn an_unmet_write_concern_fails_every_statement_of_the_batch() {
        let reply = UpdateReply {
            matched: 3,
            write_errors: Vec::new(),
            write_concern_error: Some(refused(0, 64)),
        };
        for index in 0..3 {
            assert!(matches!(
                statement_outcome(&reply, index, 3, "limit_counters", String::new()),
                Err(StoreError::WriteConcernFailed { code: 64, .. })
            ));
        }
    }
}
