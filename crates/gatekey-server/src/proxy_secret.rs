//! Binds Backstage user tokens to the Backstage → Gatekey path.
//!
//! Backstage hands a signed-in user's token to every plugin and forwards it to every proxy target
//! configured with `credentials: forward`, so holding a valid `aud: backstage` token proves only
//! that some Backstage component saw the user. The Gatekey proxy endpoint adds a header carrying a
//! secret that only Backstage's proxy configuration and Gatekey know; tokens of an issuer marked
//! `requires_proxy_secret` are accepted only together with it. Two secrets are accepted at once
//! (current and previous) so the secret can be rotated without an outage.
//!
//! Only digests of the secrets are kept ([`SecretDigests`]).

use std::collections::HashSet;

use axum::http::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret as _, SecretString};

use crate::config::{ProxySecretSettings, Settings};
use crate::error::ApiError;
use crate::secret_digests::SecretDigests;
use crate::secret_file::{FileError, read_secret_file};

/// Why the proxy secrets cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProxySecretError {
    #[error("auth.proxy_secret: {0}")]
    Invalid(String),
    #[error(transparent)]
    File(#[from] FileError),
}

/// Which issuers need the proxy secret, the header carrying it, and the accepted secrets.
#[derive(Clone)]
pub struct ProxySecrets {
    header: HeaderName,
    /// The header as configured (`HeaderName` is lowercase), for messages to callers.
    header_label: String,
    /// The current secret, then the previous one if configured.
    digests: SecretDigests,
    /// Configured names of the issuers whose tokens need the secret.
    issuers: HashSet<String>,
}

impl std::fmt::Debug for ProxySecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySecrets")
            .field("header", &self.header)
            .field("accepted_secrets", &self.digests.len())
            .field("issuers", &self.issuers)
            .finish_non_exhaustive()
    }
}

impl ProxySecrets {
    /// Reads the secrets (environment values or files) for the issuers that need them. With no
    /// `auth.proxy_secret` section no issuer may need one (validation refuses that).
    pub fn from_settings(settings: &Settings) -> Result<Self, ProxySecretError> {
        let issuers: HashSet<String> = settings
            .auth
            .issuers
            .iter()
            .filter(|issuer| issuer.requires_proxy_secret)
            .map(|issuer| issuer.name.clone())
            .collect();
        let Some(config) = &settings.auth.proxy_secret else {
            if issuers.is_empty() {
                return Ok(Self {
                    header: HeaderName::from_static("x-gatekey-proxy-secret"),
                    header_label: String::new(),
                    digests: SecretDigests::new([]),
                    issuers,
                });
            }
            return Err(ProxySecretError::Invalid(
                "issuers require the proxy secret but auth.proxy_secret is not configured"
                    .to_owned(),
            ));
        };
        let header = HeaderName::try_from(config.header.as_str()).map_err(|_| {
            ProxySecretError::Invalid(format!("'{}' is not a header name", config.header))
        })?;
        let digests = SecretDigests::new(&secrets(config)?);
        if digests.is_empty() {
            return Err(ProxySecretError::Invalid(
                "no current secret is configured".to_owned(),
            ));
        }
        Ok(Self {
            header,
            header_label: config.header.clone(),
            digests,
            issuers,
        })
    }

    /// The header carrying the secret, marked sensitive so no log or trace layer prints it.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    /// Refuses a token of `issuer_name` that arrived without an accepted secret.
    pub fn check(&self, issuer_name: &str, headers: &HeaderMap) -> Result<(), ApiError> {
        if !self.issuers.contains(issuer_name) {
            return Ok(());
        }
        if self.digests.presented_in(headers, &self.header) {
            Ok(())
        } else {
            Err(ApiError::ProxySecretRequired {
                issuer: issuer_name.to_owned(),
                header: self.header_label.clone(),
            })
        }
    }
}

/// The current secret, then the previous one, each from the environment or its file (trimmed).
fn secrets(config: &ProxySecretSettings) -> Result<Vec<SecretString>, ProxySecretError> {
    let mut secrets = Vec::with_capacity(2);
    for (value, file, what) in [
        (
            &config.current,
            &config.current_file,
            "current proxy secret file",
        ),
        (
            &config.previous,
            &config.previous_file,
            "previous proxy secret file",
        ),
    ] {
        let secret = match (value, file) {
            (Some(secret), _) => SecretString::from(secret.expose_secret().trim().to_owned()),
            (None, Some(path)) => read_secret_file(what, path)?,
            (None, None) => continue,
        };
        if secret.expose_secret().len() < crate::config::MIN_PROXY_SECRET_BYTES {
            return Err(ProxySecretError::Invalid(format!(
                "the {what} holds fewer than {} bytes",
                crate::config::MIN_PROXY_SECRET_BYTES
            )));
        }
        secrets.push(secret);
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IssuerConfig;

    const CURRENT: &str = "current-secret-0123456789abcdef0123456789";
    const PREVIOUS: &str = "previous-secret-0123456789abcdef012345678";

    fn settings(previous: Option<&str>) -> Settings {
        let mut settings = Settings::default();
        settings.auth.issuers = ["backstage", "company-idp"]
            .into_iter()
            .map(|name| IssuerConfig {
                name: name.to_owned(),
                issuer: format!("https://{name}.example"),
                audiences: vec!["gatekey".to_owned()],
                algorithms: vec!["ES256".to_owned()],
                requires_proxy_secret: name == "backstage",
                group_prefix: Some(format!("{name}:")),
                ..IssuerConfig::default()
            })
            .collect();
        settings.auth.proxy_secret = Some(ProxySecretSettings {
            header: "X-Gatekey-Proxy-Secret".to_owned(),
            current: Some(CURRENT.to_owned().into()),
            current_file: None,
            previous: previous.map(|p| p.to_owned().into()),
            previous_file: None,
        });
        settings
    }

    fn with_secret(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                "x-gatekey-proxy-secret",
                value.parse().expect("header value"),
            );
        }
        headers
    }

    #[test]
    fn only_issuers_that_require_it_need_the_secret_and_only_an_accepted_one_passes() {
        let secrets = ProxySecrets::from_settings(&settings(None)).expect("secrets");
        assert!(secrets.check("company-idp", &HeaderMap::new()).is_ok());
        assert!(secrets.check("backstage", &with_secret(&[CURRENT])).is_ok());
        for refused in [
            with_secret(&[]),
            with_secret(&[PREVIOUS]),
            with_secret(&[&CURRENT[..CURRENT.len() - 1]]),
            with_secret(&[CURRENT, "another"]),
        ] {
            let err = secrets
                .check("backstage", &refused)
                .expect_err("refused without the current secret");
            assert!(matches!(err, ApiError::ProxySecretRequired { .. }), "{err}");
        }
    }

    #[test]
    fn during_a_rotation_current_and_previous_are_both_accepted() {
        let secrets = ProxySecrets::from_settings(&settings(Some(PREVIOUS))).expect("secrets");
        assert!(secrets.check("backstage", &with_secret(&[CURRENT])).is_ok());
        assert!(
            secrets
                .check("backstage", &with_secret(&[PREVIOUS]))
                .is_ok()
        );
        assert!(secrets.check("backstage", &with_secret(&["x"])).is_err());
    }

    #[test]
    fn debug_shows_no_secret() {
        let secrets = ProxySecrets::from_settings(&settings(Some(PREVIOUS))).expect("secrets");
        let printed = format!("{secrets:?}");
        assert!(printed.contains("accepted_secrets: 2"), "{printed}");
        assert!(!printed.contains(CURRENT) && !printed.contains(PREVIOUS));
    }
}
