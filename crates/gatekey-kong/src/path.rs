//! Admin API paths built from caller-supplied names. Every segment is percent-encoded, so a
//! username such as `a/b?c` addresses that consumer and not another endpoint, and each path also
//! has a log form in which credential segments (a key-auth key) are replaced by a placeholder.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::KongError;

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded: stricter
/// than the URL standard's path-segment set, which leaves sub-delimiters such as `;` `=` `@`
/// as they are, so no proxy or router between Gatekey and Kong can read a segment differently.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A relative Admin API path (no leading slash), its loggable form, and its template (every
/// caller-supplied segment as `{}`), which names the operation in metrics with bounded cardinality.
#[derive(Debug, Clone)]
pub(crate) struct AdminPath {
    encoded: String,
    logged: String,
    template: String,
}

impl AdminPath {
    /// Starts at a fixed collection name such as `consumers`.
    pub(crate) fn root(collection: &'static str) -> Self {
        Self {
            encoded: collection.to_owned(),
            logged: format!("/{collection}"),
            template: format!("/{collection}"),
        }
    }

    /// `GET /` itself.
    pub(crate) fn node() -> Self {
        Self {
            encoded: String::new(),
            logged: "/".to_owned(),
            template: "/".to_owned(),
        }
    }

    /// Appends a fixed segment.
    pub(crate) fn lit(mut self, segment: &'static str) -> Self {
        self.encoded.push('/');
        self.encoded.push_str(segment);
        self.logged.push('/');
        self.logged.push_str(segment);
        self.template.push('/');
        self.template.push_str(segment);
        self
    }

    /// Appends a caller-supplied segment (an id or a name), logged as is.
    pub(crate) fn seg(mut self, value: &str) -> Result<Self, KongError> {
        let encoded = encode_segment(value)?;
        self.encoded.push('/');
        self.encoded.push_str(&encoded);
        self.logged.push('/');
        self.logged.push_str(&encoded);
        self.template.push_str("/{}");
        Ok(self)
    }

    /// Appends a segment that may be a credential (a key-auth key); logged as `{redacted}`.
    pub(crate) fn secret_seg(mut self, value: &str) -> Result<Self, KongError> {
        let encoded = encode_segment(value)?;
        self.encoded.push('/');
        self.encoded.push_str(&encoded);
        self.logged.push_str("/{redacted}");
        self.template.push_str("/{}");
        Ok(self)
    }

    pub(crate) fn encoded(&self) -> &str {
        &self.encoded
    }

    pub(crate) fn logged(&self) -> &str {
        &self.logged
    }

    /// `/consumers/{}/acls`: the path with every caller-supplied segment elided.
    pub(crate) fn template(&self) -> &str {
        &self.template
    }
}

/// Percent-encodes a segment ([`SEGMENT`]). Empty, `.` and `..` segments are refused: they would
/// be dropped or resolved by the URL layer or by Kong's nginx and so address a different
/// endpoint (`GET /consumers/` lists every consumer).
fn encode_segment(value: &str) -> Result<String, KongError> {
    if matches!(value, "" | "." | "..") {
        return Err(KongError::InvalidArgument(format!(
            "{value:?} cannot name a Kong entity in a path"
        )));
    }
    Ok(utf8_percent_encode(value, SEGMENT).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_non_ascii_characters_are_encoded() {
        let path = AdminPath::root("consumers")
            .seg("a b/c?d#e%f+é")
            .expect("valid segment");
        assert_eq!(path.encoded(), "consumers/a%20b%2Fc%3Fd%23e%25f%2B%C3%A9");
        let path = AdminPath::root("consumers")
            .seg("2f1c0e9a-6b0c-4d5e-9f00-000000000001")
            .expect("valid segment");
        assert_eq!(
            path.encoded(),
            "consumers/2f1c0e9a-6b0c-4d5e-9f00-000000000001"
        );
    }

    #[test]
    fn segments_that_would_change_the_endpoint_are_refused() {
        for bad in ["", ".", ".."] {
            assert!(matches!(
                AdminPath::root("consumers").seg(bad),
                Err(KongError::InvalidArgument(_))
            ));
        }
        assert!(AdminPath::root("consumers").seg("...").is_ok());
    }

    #[test]
    fn secret_segments_are_not_logged() {
        let path = AdminPath::root("consumers")
            .seg("alice")
            .and_then(|p| p.lit("key-auth").secret_seg("s3cr3t"))
            .expect("valid segments");
        assert_eq!(path.encoded(), "consumers/alice/key-auth/s3cr3t");
        assert_eq!(path.logged(), "/consumers/alice/key-auth/{redacted}");
    }
}
