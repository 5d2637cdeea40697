//! The store's one error type: driver failures, plus the outcomes callers must tell apart
//! (a refused transition, a missing record, a duplicate id, a bad cursor, an index conflict).

use gatekey_core::issuance::{IssuanceId, IssuanceState};
use mongodb::error::{Error as MongoError, ErrorKind, WriteFailure};

/// Server error code of a unique index violation.
pub(crate) const DUPLICATE_KEY: i32 = 11_000;

/// Everything that can go wrong in the store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The server could not be reached or refused the operation.
    #[error("MongoDB operation failed: {0}")]
    Mongo(#[from] MongoError),
    /// The configuration cannot work (for example a retention a TTL index cannot express).
    #[error("invalid store configuration: {0}")]
    InvalidConfig(String),
    #[error("issuance {id} not found")]
    NotFound { id: IssuanceId },
    /// The record is not in a state that may move to `to`; nothing was changed.
    #[error("an issuance cannot move from {from} to {to}")]
    InvalidTransition {
        from: IssuanceState,
        to: IssuanceState,
    },
    /// A document with this `_id` already exists.
    #[error("{collection} already holds a document with id {id}")]
    DuplicateId {
        collection: &'static str,
        id: String,
    },
    /// A page cursor that this store did not hand out.
    #[error("invalid page cursor {0:?}")]
    InvalidCursor(String),
    /// A page size outside `1..=200`.
    #[error("page limit must be between 1 and {max}, not {limit}")]
    InvalidLimit { limit: u32, max: u32 },
    /// An index under one of Gatekey's names (or with the same keys under another name) does
    /// not match what Gatekey needs. Drop it, then restart: the index is created again.
    #[error(
        "index {name:?} on {collection} conflicts with an existing index ({detail}); drop it and restart"
    )]
    IndexConflict {
        collection: &'static str,
        name: String,
        detail: String,
    },
    /// A caller's limit counter kept changing under a reservation: each time it had room, another
    /// request of the same caller took it first. Nothing was counted; the caller may retry.
    #[error("the limit counter kept changing over {attempts} attempts; nothing was counted")]
    Contended { attempts: u32 },
    /// The server refused to write one document of a batch, for a reason other than a duplicate
    /// `_id` (the other documents of the batch are unaffected).
    #[error("{collection} refused document {id} (code {code}): {message}")]
    WriteRefused {
        collection: &'static str,
        id: String,
        code: i32,
        message: String,
    },
    /// The writes were made on the primary but not acknowledged as the write concern asks
    /// (majority, journaled) within its timeout.
    #[error("{collection}: the write concern was not satisfied (code {code}): {message}")]
    WriteConcernFailed {
        collection: &'static str,
        code: i32,
        message: String,
    },
    /// A command sent as it is answered with something its caller cannot read.
    #[error("unexpected reply to {command}: {detail}")]
    UnexpectedReply {
        command: &'static str,
        detail: String,
    },
    /// The store's batch writer has stopped (the runtime is shutting down); nothing was written.
    #[error("the store's batch writer has stopped")]
    WriterStopped,
    /// A stored document that cannot be turned back into a domain value.
    #[error("unreadable {collection} document {id}: {detail}")]
    CorruptDocument {
        collection: &'static str,
        id: String,
        detail: String,
    },
}

impl StoreError {
    /// Turns a duplicate-key failure of a single insert into [`StoreError::DuplicateId`].
    pub(crate) fn from_insert(err: MongoError, collection: &'static str, id: String) -> Self {
        match err.kind.as_ref() {
            ErrorKind::Write(WriteFailure::WriteError(write)) if write.code == DUPLICATE_KEY => {
                Self::DuplicateId { collection, id }
            }
            _ => Self::Mongo(err),
        }
    }
}

/// Whether the failure is a unique index violation, whichever way the server reported it (a
/// write error of an insert, or a command error of an upserting `findAndModify`).
pub(crate) fn is_duplicate_key(err: &MongoError) -> bool {
    match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(write)) => write.code == DUPLICATE_KEY,
        ErrorKind::Command(command) => command.code == DUPLICATE_KEY,
        _ => false,
    }
}

/// The server's error code, when the error is a command failure.
pub(crate) fn command_code(err: &MongoError) -> Option<i32> {
    match err.kind.as_ref() {
        ErrorKind::Command(command) => Some(command.code),
        _ => None,
    }
}
