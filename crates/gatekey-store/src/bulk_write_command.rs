//! The `bulkWrite` command of MongoDB 8.0, sent as it is from writes encoded once. The driver's
//! `Client::bulk_write` takes each write as a `Document` (an ordered map of decoded values),
//! copies it into an operation document, encodes that, and decodes a typed result for each
//! write: some 126,000 instructions a mint, 13 % of them (`docs/performance.md`, "The group
//! commit's own command, the Kong client's transport and the log lines"). Here a write is BSON
//! from the moment it is queued, the command puts those bytes side by side, and the reply is read
//! for what the group commit needs: each write's outcome by its position, and whether the write
//! concern was met.
//!
//! The results come back as a cursor. Without a `cursor.batchSize` the server puts every result
//! in the first batch unless they exceed 16 MiB; a batch's results are a few dozen bytes each, so
//! they always fit, and a reply that keeps some for a later `getMore` leaves those writes without
//! a known outcome ([`BulkWriteReply::outcome`]).
//!
//! The writes travel inside the command document, which MongoDB takes up to 16 MiB (the driver
//! would send them as a separate section of up to 48 MiB). A batch holds at most 256 writes, each
//! a record, an event or an update of bounded fields (a caller's token, the largest of them, is at
//! most 16 KiB), so a command stays far below that; one above it would be refused whole.

use mongodb::bson::{self, Document, RawArrayBuf, RawDocument, RawDocumentBuf, rawdoc};
use mongodb::{Client, Database};
use serde::Deserialize;

use crate::update_command::StatementError;
use crate::{StoreError, metered};

/// One write of a batch, encoded once when it is queued: every command that carries it (this
/// one, or before MongoDB 8.0 an `insert` or `update`) copies these bytes.
#[derive(Debug, Clone)]
pub(crate) enum Write {
    /// A new document.
    Insert(RawDocumentBuf),
    /// An update of the one document `filter` matches; with `upsert`, inserted when none does.
    Update {
        filter: RawDocumentBuf,
        update: RawDocumentBuf,
        upsert: bool,
    },
}

/// An unordered `bulkWrite` command, ready to send (and to send again).
#[derive(Debug)]
pub(crate) struct BulkWriteCommand(RawDocumentBuf);

impl BulkWriteCommand {
    /// The command applying `writes` (each with the collection it writes) to `db`, with the write
    /// concern `concern` (already encoded; none: the server's default).
    pub(crate) fn new<'a>(
        db: &Database,
        writes: impl IntoIterator<Item = (&'static str, &'a Write)>,
        concern: Option<&RawDocument>,
    ) -> Self {
        let mut collections: Vec<&'static str> = Vec::new();
        let mut encoded = RawArrayBuf::new();
        for (collection, write) in writes {
            let namespace = collections
                .iter()
                .position(|known| *known == collection)
                .unwrap_or_else(|| {
                    collections.push(collection);
                    collections.len() - 1
                });
            // The position in `nsInfo`; a batch names a handful of collections.
            let namespace = i32::try_from(namespace).unwrap_or(i32::MAX);
            let mut op_document = RawDocumentBuf::new();
            match write {
                Write::Insert(document) => {
                    op_document.append("insert", namespace);
                    op_document.append_ref("document", document);
                }
                Write::Update {
                    filter,
                    update,
                    upsert,
                } => {
                    op_document.append("update", namespace);
                    op_document.append_ref("filter", filter);
                    op_document.append_ref("updateMods", update);
                    op_document.append("upsert", *upsert);
                    op_document.append("multi", false);
                }
            }
            encoded.push(op_document);
        }
        let mut namespaces = RawArrayBuf::new();
        for collection in collections {
            namespaces.push(rawdoc! { "ns": format!("{}.{collection}", db.name()) });
        }
        let mut command = rawdoc! {
            "bulkWrite": 1,
            "ops": encoded,
            "nsInfo": namespaces,
            "ordered": false,
            "errorsOnly": false,
        };
        if let Some(concern) = concern {
            command.append_ref("writeConcern", concern);
        }
        Self(command)
    }

    /// Sends the command (against `admin`, where `bulkWrite` runs) and returns its reply. An
    /// error is the command's as a whole: a refused write is in the reply.
    pub(crate) async fn send(&self, client: &Client) -> Result<Document, mongodb::error::Error> {
        let admin = client.database("admin");
        metered("bulkWrite", admin.run_raw_command(self.0.clone())).await
    }
}

/// The reply of a `bulkWrite` command, as far as Gatekey reads it.
#[derive(Debug)]
pub(crate) struct BulkWriteReply {
    /// Each write's result, by its position in the command; `None`: not in the first batch.
    results: Vec<Option<WriteResult>>,
    write_concern_error: Option<StatementError>,
}

/// The server's result of one write.
#[derive(Debug, Clone, Deserialize)]
struct WriteResult {
    /// The write's position in the command.
    idx: usize,
    /// `0` when the server refused the write (then `code` says why).
    ok: f64,
    /// Documents the write matched or inserted (an upsert that inserted counts 1).
    #[serde(default)]
    n: i64,
    #[serde(default)]
    code: i32,
    #[serde(default)]
    errmsg: String,
}

#[derive(Deserialize)]
struct RawReply {
    cursor: ResultsCursor,
    #[serde(rename = "writeConcernError")]
    write_concern_error: Option<StatementError>,
}

#[derive(Deserialize)]
struct ResultsCursor {
    #[serde(rename = "firstBatch")]
    first_batch: Vec<WriteResult>,
}

/// What the reply says of one write.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WriteOutcome {
    /// Applied; `matched`: it matched or inserted a document (an update may match none).
    Applied { matched: bool },
    /// Refused on its own, with the server's code and message.
    Refused { code: i32, message: String },
    /// The write concern failed for the whole command: applied, but perhaps not durably.
    WriteConcernFailed { code: i32, message: String },
    /// The reply holds no result for it.
    Missing,
}

impl BulkWriteReply {
    /// Reads the reply to a command of `count` writes; results for positions beyond them are
    /// ignored.
    pub(crate) fn read(reply: Document, count: usize) -> Result<Self, StoreError> {
        let reply: RawReply =
            bson::from_document(reply).map_err(|err| StoreError::UnexpectedReply {
                command: "bulkWrite",
                detail: err.to_string(),
            })?;
        let mut results = vec![None; count];
        for result in reply.cursor.first_batch {
            if let Some(slot) = results.get_mut(result.idx) {
                *slot = Some(result);
            }
        }
        Ok(Self {
            results,
            write_concern_error: reply.write_concern_error,
        })
    }

    /// What the reply says of the write at `index`.
    pub(crate) fn outcome(&self, index: usize) -> WriteOutcome {
        if let Some(concern) = &self.write_concern_error {
            return WriteOutcome::WriteConcernFailed {
                code: concern.code,
                message: concern.message.clone(),
            };
        }
        match self.results.get(index).and_then(Option::as_ref) {
            None => WriteOutcome::Missing,
            Some(result) if result.ok == 0.0 => WriteOutcome::Refused {
                code: result.code,
                message: result.errmsg.clone(),
            },
            Some(result) => WriteOutcome::Applied {
                matched: result.n > 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::doc;

    use super::*;

    fn reply(results: Vec<Document>, concern: Option<Document>) -> BulkWriteReply {
        let mut reply = doc! {
            "cursor": { "id": 0_i64, "firstBatch": results, "ns": "admin.$cmd.bulkWrite" },
            "nErrors": 1,
            "ok": 1.0,
        };
        if let Some(concern) = concern {
            reply.insert("writeConcernError", concern);
        }
        BulkWriteReply::read(reply, 5).expect("a well-formed reply")
    }

    #[test]
    fn each_write_reads_its_own_result_by_position() {
        let reply = reply(
            vec![
                doc! { "ok": 1.0, "idx": 2, "n": 0, "nModified": 0 },
                doc! { "ok": 1.0, "idx": 0, "n": 1 },
                doc! { "ok": 0.0, "idx": 1, "code": 11000, "errmsg": "E11000 duplicate key", "n": 0 },
                doc! { "ok": 1, "idx": 3, "n": 1, "nModified": 0, "upserted": { "_id": "c" } },
                doc! { "ok": 1.0, "idx": 1_000_000, "n": 1 },
            ],
            None,
        );
        assert_eq!(reply.outcome(0), WriteOutcome::Applied { matched: true });
        assert_eq!(
            reply.outcome(1),
            WriteOutcome::Refused {
                code: 11000,
                message: "E11000 duplicate key".to_owned()
            }
        );
        assert_eq!(reply.outcome(2), WriteOutcome::Applied { matched: false });
        assert_eq!(reply.outcome(3), WriteOutcome::Applied { matched: true });
        assert_eq!(reply.outcome(4), WriteOutcome::Missing);
    }

    #[test]
    fn an_unmet_write_concern_is_every_writes_outcome() {
        let reply = reply(
            vec![doc! { "ok": 1.0, "idx": 0, "n": 1 }],
            Some(doc! { "code": 64, "errmsg": "waiting for replication timed out" }),
        );
        assert!(matches!(
            reply.outcome(0),
            WriteOutcome::WriteConcernFailed { code: 64, .. }
        ));
    }

    #[test]
    fn a_reply_without_its_cursor_is_unreadable() {
        assert!(matches!(
            BulkWriteReply::read(doc! { "ok": 1.0 }, 1),
            Err(StoreError::UnexpectedReply {
                command: "bulkWrite",
                ..
            })
        ));
    }
}
