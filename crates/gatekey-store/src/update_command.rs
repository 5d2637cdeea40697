//! The `update` command sent as it is, with many statements: the driver's `update_one` and
//! `update_many` send one statement per command. The server answers which statements it refused,
//! by position, and whether the write concern was met; both callers (the usage counters, the
//! group commit's updates on a MongoDB before 8.0) read each statement's outcome from that.

use mongodb::Database;
use mongodb::bson::{self, RawArrayBuf, RawDocumentBuf, rawdoc};
use serde::Deserialize;

use crate::{StoreError, metered};

/// The reply of an `update` command, as far as Gatekey reads it.
#[derive(Debug, Deserialize)]
pub(crate) struct UpdateReply {
    /// Statements that matched a document or inserted one, in total.
    #[serde(default, rename = "n")]
    pub(crate) matched: usize,
    #[serde(default, rename = "writeErrors")]
    pub(crate) write_errors: Vec<StatementError>,
    #[serde(rename = "writeConcernError")]
    pub(crate) write_concern_error: Option<StatementError>,
}

/// A statement the server refused, or its write concern failure (`index` absent).
#[derive(Debug, Deserialize)]
pub(crate) struct StatementError {
    #[serde(default)]
    pub(crate) index: usize,
    pub(crate) code: i32,
    #[serde(default, rename = "errmsg")]
    pub(crate) message: String,
}

/// Sends `statements` (`{q, u, upsert}` documents) to `collection` in one unordered `update`
/// command with the database's write concern. An error is the command's as a whole; a refused
/// statement is in the reply.
pub(crate) async fn send_update(
    db: &Database,
    collection: &'static str,
    statements: Vec<RawDocumentBuf>,
) -> Result<UpdateReply, StoreError> {
    let mut updates = RawArrayBuf::new();
    for statement in statements {
        updates.push(statement);
    }
    let mut command = rawdoc! {
        "update": collection,
        "updates": updates,
        "ordered": false,
    };
    if let Some(concern) = encoded_write_concern(db)? {
        command.append("writeConcern", concern);
    }
    let reply = metered("update", db.run_raw_command(command)).await?;
    bson::from_document(reply).map_err(|err| StoreError::UnexpectedReply {
        command: "update",
        detail: err.to_string(),
    })
}

/// The database's write concern as the commands Gatekey builds carry it (`None`: the server's
/// default).
pub(crate) fn encoded_write_concern(db: &Database) -> Result<Option<RawDocumentBuf>, StoreError> {
    db.write_concern()
        .map(|concern| {
            bson::to_raw_document_buf(concern).map_err(|err| {
                StoreError::InvalidConfig(format!("the write concern cannot be sent: {err}"))
            })
        })
        .transpose()
}
