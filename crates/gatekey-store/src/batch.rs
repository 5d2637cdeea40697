//! Group commit for appends. Every mint appends two audit events and one `pending` record, each
//! awaited before the mint goes on; sent one `insert` each, they cost most of a mint's CPU in
//! the driver (command building, connection checkout, socket wake-ups), not in the server. Here
//! the documents of one collection that callers append while a write is in flight wait in a
//! queue and leave together, in one unordered `insert_many`, as soon as a write slot is free.
//! Each caller still waits for its own document's outcome (write concern `majority`), so
//! nothing is acknowledged before it is durable; an idle server sees one document per insert,
//! exactly as before, and a busy one sees fewer, larger inserts.
//!
//! A document whose caller stopped waiting before its batch left (a mint past its deadline) is
//! not written: nobody could act on its outcome.

use std::sync::Arc;

use mongodb::Collection;
use mongodb::error::{Error as MongoError, ErrorKind};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::error::DUPLICATE_KEY;
use crate::{StoreError, metered};

/// Most documents in one `insert_many`.
const MAX_BATCH: usize = 256;
/// Inserts of one collection in flight at once: enough that one slow write does not hold up the
/// queue, few enough that the queue fills batches under load.
const WRITE_SLOTS: usize = 4;
/// Documents that may wait for a slot before appending callers wait to enqueue.
const QUEUE_CAPACITY: usize = 4_096;

/// One document waiting for its batch, and who waits for its outcome.
struct QueuedInsert<T> {
    document: T,
    /// The document's `_id`, for a [`StoreError::DuplicateId`].
    id: String,
    outcome: oneshot::Sender<Result<(), StoreError>>,
}

/// The appending side of one collection's group commit; cheap to clone.
pub(crate) struct BatchInserter<T> {
    queue: mpsc::Sender<QueuedInsert<T>>,
}

impl<T> Clone for BatchInserter<T> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<T> std::fmt::Debug for BatchInserter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchInserter")
            .field("queued", &(QUEUE_CAPACITY - self.queue.capacity()))
            .finish()
    }
}

impl<T: Serialize + Send + Sync + 'static> BatchInserter<T> {
    /// Starts the task that writes `collection`'s batches; it ends when the last clone of the
    /// inserter is dropped, after writing what was queued.
    pub(crate) fn start(collection: Collection<T>, name: &'static str) -> Self {
        let (queue, queued) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_batches(collection, name, queued));
        Self { queue }
    }

    /// Inserts `document` (whose `_id` is `id`) with the next batch and waits for its outcome.
    /// An existing `_id` is [`StoreError::DuplicateId`].
    pub(crate) async fn insert(&self, id: String, document: T) -> Result<(), StoreError> {
        let (outcome, answer) = oneshot::channel();
        let queued = QueuedInsert {
            document,
            id,
            outcome,
        };
        self.queue
            .send(queued)
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

/// Takes whatever is queued whenever a write slot is free, and writes it as one batch.
async fn write_batches<T: Serialize + Send + Sync + 'static>(
    collection: Collection<T>,
    name: &'static str,
    mut queued: mpsc::Receiver<QueuedInsert<T>>,
) {
    let slots = Arc::new(Semaphore::new(WRITE_SLOTS));
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let mut batch = Vec::new();
        if queued.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        batch.retain(|insert| !insert.outcome.is_closed());
        if batch.is_empty() {
            continue;
        }
        let collection = collection.clone();
        tokio::spawn(async move {
            write_batch(&collection, name, batch).await;
            drop(slot);
        });
    }
}

/// One unordered `insert_many`, and each document's outcome to whoever waits for it.
async fn write_batch<T: Serialize + Send + Sync>(
    collection: &Collection<T>,
    name: &'static str,
    batch: Vec<QueuedInsert<T>>,
) {
    let (documents, waiting): (Vec<T>, Vec<(String, oneshot::Sender<_>)>) = batch
        .into_iter()
        .map(|insert| (insert.document, (insert.id, insert.outcome)))
        .unzip();
    let written = metered("insert", collection.insert_many(documents).ordered(false)).await;
    for (index, (id, outcome)) in waiting.into_iter().enumerate() {
        let result = match &written {
            Ok(_) => Ok(()),
            Err(err) => outcome_of(err, index, name, id),
        };
        // The caller may have stopped waiting meanwhile; then nobody needs the outcome.
        let _ = outcome.send(result);
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
            Some(write) if write.code == DUPLICATE_KEY => {
                Err(StoreError::DuplicateId { collection, id })
            }
            Some(write) => Err(StoreError::WriteRefused {
                collection,
                id,
                code: write.code,
                message: write.message.clone(),
            }),
            None if failure.write_concern_error.is_none() => Ok(()),
            None => Err(StoreError::Mongo(err.clone())),
        };
    }
    Err(StoreError::Mongo(err.clone()))
}
