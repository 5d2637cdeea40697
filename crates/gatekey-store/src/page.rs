//! Keyset pagination shared by both collections: newest first by `_id` (a ULID, so creation
//! order), the cursor being the last `_id` of the previous page. Stable under concurrent inserts:
//! new documents sort before the cursor, so pages never repeat or skip an item.

use std::str::FromStr;

use futures::TryStreamExt as _;
use mongodb::Collection;
use mongodb::bson::{Document, doc};
use serde::de::DeserializeOwned;

use crate::{StoreError, metered};

/// One page of results and the cursor of the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as [`PageRequest::cursor`] for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Which page to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Page size, `1..=`[`PageRequest::MAX_LIMIT`].
    pub limit: u32,
    /// `next_cursor` of the previous page; `None` for the first page.
    pub cursor: Option<String>,
}

impl PageRequest {
    /// Largest page size.
    pub const MAX_LIMIT: u32 = 200;

    /// Checks the limit, and parses the cursor as the id type `I` (a cursor is the text of an
    /// id), returning it in canonical form.
    fn validate<I: FromStr + ToString>(&self) -> Result<Option<String>, StoreError> {
        if !(1..=Self::MAX_LIMIT).contains(&self.limit) {
            return Err(StoreError::InvalidLimit {
                limit: self.limit,
                max: Self::MAX_LIMIT,
            });
        }
        self.cursor
            .as_deref()
            .map(|cursor| {
                cursor
                    .parse::<I>()
                    .map(|id| id.to_string())
                    .map_err(|_| StoreError::InvalidCursor(cursor.to_owned()))
            })
            .transpose()
    }
}

/// Runs `filter` newest first from the request's cursor on, one page of documents `D` whose
/// `_id` text is the id type `I`, converting each with `convert`.
pub(crate) async fn fetch<D, I, T>(
    collection: &Collection<D>,
    mut filter: Document,
    request: &PageRequest,
    id_of: impl Fn(&T) -> String,
    convert: impl Fn(D) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError>
where
    D: DeserializeOwned + Send + Sync,
    I: FromStr + ToString,
{
    if let Some(cursor) = request.validate::<I>()? {
        filter.insert("_id", doc! { "$lt": cursor });
    }
    // One extra document tells whether another page exists, so the last page has no cursor.
    let read = async {
        collection
            .find(filter)
            .sort(doc! { "_id": -1 })
            .limit(i64::from(request.limit) + 1)
            .await?
            .try_collect::<Vec<D>>()
            .await
    };
    let docs = metered("find", read).await?;
    let more = docs.len() > request.limit as usize;
    let items = docs
        .into_iter()
        .take(request.limit as usize)
        .map(convert)
        .collect::<Result<Vec<T>, _>>()?;
    let next_cursor = if more { items.last().map(id_of) } else { None };
    Ok(Page { items, next_cursor })
}
