//! The secret Kong's `http-log` plugin sends with every post to the ingest endpoint (its `headers`
//! setting), in `X-Gatekey-Ingest-Secret`. Two secrets are accepted at once (current and
//! previous) so the secret can be rotated without losing log batches.
//!
//! As for the proxy secrets, only digests are kept ([`SecretDigests`]).

use axum::http::{HeaderMap, HeaderName};
use secrecy::ExposeSecret as _;

use crate::config::{IngestSettings, MIN_PROXY_SECRET_BYTES};
use crate::secret_digests::SecretDigests;
use crate::secret_file::{FileError, read_secret_file};

/// The header carrying the ingest secret.
pub const INGEST_SECRET_HEADER: HeaderName = HeaderName::from_static("x-gatekey-ingest-secret");

/// Why the ingest secrets cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IngestSecretError {
    #[error("ingest: the {what} holds fewer than {MIN_PROXY_SECRET_BYTES} bytes")]
    TooShort { what: &'static str },
    #[error(transparent)]
    File(#[from] FileError),
}

/// The accepted ingest secrets: the current one, then the previous one if configured.
#[derive(Debug, Clone)]
pub struct IngestSecrets {
    digests: SecretDigests,
}

impl IngestSecrets {
    /// Reads the current and the previous secret from their files (trimmed).
    pub fn from_settings(settings: &IngestSettings) -> Result<Self, IngestSecretError> {
        let files = [
            Some((&settings.secret_file, "current ingest secret file")),
            settings
                .previous_secret_file
                .as_ref()
                .map(|file| (file, "previous ingest secret file")),
        ];
        let mut secrets = Vec::with_capacity(2);
        for (file, what) in files.into_iter().flatten() {
            let secret = read_secret_file(what, file)?;
            if secret.expose_secret().len() < MIN_PROXY_SECRET_BYTES {
                return Err(IngestSecretError::TooShort { what });
            }
            secrets.push(secret);
        }
        Ok(Self {
            digests: SecretDigests::new(&secrets),
        })
    }

    /// Whether the request carries exactly one value of the header and it is an accepted secret.
    pub fn accepts(&self, headers: &HeaderMap) -> bool {
        self.digests.presented_in(headers, &INGEST_SECRET_HEADER)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    const CURRENT: &str = "current-ingest-secret-0123456789abcdef";
    const PREVIOUS: &str = "previous-ingest-secret-0123456789abcdef";

    fn secret_file(secret: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(file, "{secret}").expect("write secret");
        file
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(INGEST_SECRET_HEADER, value.parse().expect("header value"));
        }
        headers
    }

    fn settings(
        current: &tempfile::NamedTempFile,
        previous: Option<&tempfile::NamedTempFile>,
    ) -> IngestSettings {
        IngestSettings {
            secret_file: current.path().to_owned(),
            previous_secret_file: previous.map(|file| file.path().to_owned()),
            body_limit_bytes: 4096,
            max_entries: 10,
            max_concurrent_writes: 1,
            max_waiting_batches: 0,
            mint_patience_ms: 0,
        }
    }

    #[test]
    fn current_and_previous_are_accepted_and_nothing_else() {
        let (current, previous) = (secret_file(CURRENT), secret_file(PREVIOUS));
        let secrets =
            IngestSecrets::from_settings(&settings(&current, Some(&previous))).expect("secrets");
        assert!(secrets.accepts(&headers(&[CURRENT])));
        assert!(secrets.accepts(&headers(&[PREVIOUS])));
        for refused in [
            headers(&[]),
            headers(&[&CURRENT[1..]]),
            headers(&[CURRENT, CURRENT]),
            headers(&["x"]),
        ] {
            assert!(!secrets.accepts(&refused));
        }
        let printed = format!("{secrets:?}");
        assert!(printed.contains("accepted_secrets: 2") && !printed.contains(CURRENT));
        let only_current =
            IngestSecrets::from_settings(&settings(&current, None)).expect("secrets");
        assert!(!only_current.accepts(&headers(&[PREVIOUS])));
    }

    #[test]
    fn a_short_secret_is_refused_at_startup() {
        let short = secret_file("short");
        assert!(matches!(
            IngestSecrets::from_settings(&settings(&short, None)),
            Err(IngestSecretError::TooShort { .. })
        ));
    }
}
