//! Why reading the catalog failed. A failed refresh keeps the last good catalog; these errors end
//! up in logs and in the `/readyz` details, never in responses to callers.

/// A catalog read that did not complete.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Connection refused, reset, DNS, TLS, or the request timed out.
    #[error("cannot reach the Backstage catalog: {0}")]
    Unreachable(String),
    /// Backstage answered with an error status (401/403: the external access token is wrong or
    /// not allowed to read the catalog).
    #[error("the Backstage catalog answered {status}: {body}")]
    Status { status: u16, body: String },
    /// The answer is not the `by-query` page shape.
    #[error("the Backstage catalog sent an unexpected answer: {0}")]
    UnexpectedBody(String),
    /// More pages than [`crate::MAX_PAGES`]: a cursor loop or a runaway catalog.
    #[error("the Backstage catalog returned more than {0} pages")]
    TooManyPages(usize),
    /// Kong's services, routes or plugins could not be read, so no entity can be checked.
    #[error("cannot read the Kong services that bind catalog entities: {0}")]
    Kong(String),
    /// The configuration cannot work (bad base URL, empty token).
    #[error("catalog configuration: {0}")]
    Config(String),
}
