//! How to reach the Admin API, and the one place that turns it into an HTTP client. OSS Kong has
//! no Admin API authentication of its own: production puts it on a private interface or behind a
//! Kong route with key-auth or mutual TLS, so the client takes an optional header + token, an
//! extra root CA and a client certificate. Every problem with them is reported here, at
//! startup, as [`KongError::Config`] rather than on the first call.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

use crate::error::KongError;

/// A header the Admin API (or the proxy route in front of it) requires on every call, e.g.
/// `Kong-Admin-Token` (Enterprise RBAC) or `apikey` (a key-auth protected loopback route).
#[derive(Debug, Clone)]
pub struct AdminAuth {
    pub header: String,
    /// Sent as a sensitive header value; `Debug` shows it redacted.
    pub token: SecretString,
}

/// How to reach the Admin API.
#[derive(Clone)]
pub struct KongConfig {
    /// Base URL; a path prefix (`https://gw.internal/kong-admin`) is kept.
    pub admin_url: Url,
    /// Deadline for one attempt, connection included.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub admin_auth: Option<AdminAuth>,
    /// Extra root CA certificates (PEM, one or more), trusted besides the built-in roots.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Client certificate chain and private key (PEM, PKCS#8/RSA/SEC1 key) for mutual TLS.
    /// `Debug` shows it redacted.
    pub client_identity_pem: Option<Vec<u8>>,
    /// Extra attempts for idempotent calls (GET, PUT, DELETE) after a timeout, a connection
    /// failure or a 5xx, with exponential backoff and jitter (100 ms, 200 ms, ... capped at 2 s,
    /// each stretched by a random 0-100 %), never past the caller's deadline
    /// ([`KongClient::with_deadline`](crate::KongClient::with_deadline)). POST is never
    /// retried: a lost answer could otherwise create an entity twice.
    pub max_retries: u32,
}

impl KongConfig {
    /// `admin_url` with 5 s per call, 2 s to connect, 2 retries, no auth and the built-in roots.
    pub fn new(admin_url: Url) -> Self {
        Self {
            admin_url,
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            admin_auth: None,
            ca_cert_pem: None,
            client_identity_pem: None,
            max_retries: 2,
        }
    }

    /// The HTTP client every call goes through, with the auth header as a default header.
    pub(crate) fn http_client(&self) -> Result<reqwest::Client, KongError> {
        let mut headers = HeaderMap::new();
        if let Some(auth) = &self.admin_auth {
            let name = HeaderName::from_bytes(auth.header.as_bytes()).map_err(|_| {
                KongError::Config(format!(
                    "admin_auth header {:?} is not a valid header name",
                    auth.header
                ))
            })?;
            let mut value = HeaderValue::from_str(auth.token.expose_secret()).map_err(|_| {
                KongError::Config(
                    "the admin token is not a valid header value (control characters?)".to_owned(),
                )
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(self.request_timeout)
            .connect_timeout(self.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gatekey-kong/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &self.ca_cert_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                KongError::Config(format!("ca_cert_pem is not a valid PEM certificate: {e}"))
            })?;
            if certificates.is_empty() {
                return Err(KongError::Config(
                    "ca_cert_pem holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)"
                        .to_owned(),
                ));
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if let Some(pem) = &self.client_identity_pem {
            let identity = reqwest::Identity::from_pem(pem).map_err(|e| {
                KongError::Config(format!(
                    "client_identity_pem must hold a PEM certificate chain and its private key: {e}"
                ))
            })?;
            builder = builder.identity(identity);
        }
        builder.build().map_err(|e| {
            KongError::Config(format!(
                "cannot build the HTTP client (invalid CA or client certificate?): {e}"
            ))
        })
    }
}

impl fmt::Debug for KongConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KongConfig")
            .field("admin_url", &self.admin_url.as_str())
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("admin_auth", &self.admin_auth)
            .field(
                "ca_cert_pem",
                &self
                    .ca_cert_pem
                    .as_ref()
                    .map(|pem| format!("{} bytes", pem.len())),
            )
            .field(
                "client_identity_pem",
                &self.client_identity_pem.as_ref().map(|_| "[redacted]"),
            )
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> KongConfig {
        KongConfig::new(Url::parse("http://127.0.0.1:8001").expect("url"))
    }

    #[test]
    fn debug_redacts_the_token_and_the_private_key() {
        let mut config = config();
        config.admin_auth = Some(AdminAuth {
            header: "Kong-Admin-Token".to_owned(),
            token: SecretString::from("t0ken-value"),
        });
        config.client_identity_pem = Some(b"-----BEGIN PRIVATE KEY-----\nsecretbits".to_vec());
        let debug = format!("{config:?}");
        assert!(debug.contains("Kong-Admin-Token"));
        assert!(!debug.contains("t0ken-value"));
        assert!(!debug.contains("secretbits"));
    }

    #[test]
    fn invalid_pem_is_a_config_error() {
        let mut bad_ca = config();
        bad_ca.ca_cert_pem = Some(b"not a certificate".to_vec());
        assert!(
            matches!(bad_ca.http_client(), Err(KongError::Config(m)) if m.contains("ca_cert_pem"))
        );
        let mut broken_ca = config();
        broken_ca.ca_cert_pem =
            Some(b"-----BEGIN CERTIFICATE-----\nAAAA!!\n-----END CERTIFICATE-----\n".to_vec());
        assert!(matches!(
            broken_ca.http_client(),
            Err(KongError::Config(m)) if m.contains("ca_cert_pem")
        ));
        let mut bad_identity = config();
        bad_identity.client_identity_pem = Some(b"nothing".to_vec());
        assert!(matches!(
            bad_identity.http_client(),
            Err(KongError::Config(m)) if m.contains("client_identity_pem")
        ));
    }

    #[test]
    fn invalid_auth_header_is_a_config_error() {
        let mut config = config();
        config.admin_auth = Some(AdminAuth {
            header: "bad header".to_owned(),
            token: SecretString::from("x"),
        });
        assert!(matches!(config.http_client(), Err(KongError::Config(_))));
        config.admin_auth = Some(AdminAuth {
            header: "Kong-Admin-Token".to_owned(),
            token: SecretString::from("line\nbreak"),
        });
        assert!(matches!(config.http_client(), Err(KongError::Config(m)) if !m.contains("break")));
    }
}
