//! How to reach the Admin API, and the one place that turns it into an HTTP client. OSS Kong has
//! no Admin API authentication of its own: production puts it on a private interface or behind a
//! Kong route with key-auth or mutual TLS, so the client takes an optional header + token, an
//! extra root CA and a client certificate. Every problem with them is reported here, at
//! startup, as [`KongError::Config`] rather than on the first call.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
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

    /// The headers every call carries: the user agent and the auth header (marked sensitive).
    pub(crate) fn default_headers(&self) -> Result<HeaderMap, KongError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("gatekey-kong/", env!("CARGO_PKG_VERSION"))),
        );
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
        Ok(headers)
    }

    /// The connection pool every call goes through: HTTP/1.1, plain or over TLS (rustls with
    /// the built-in web PKI roots, the extra CA and the client certificate), connections within
    /// `connect_timeout`. It follows no redirect and reads no proxy from the environment: the
    /// Admin API's address is the one configured.
    pub(crate) fn http_client(&self) -> Result<HttpClient, KongError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(pem) = &self.ca_cert_pem {
            let certificates = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    KongError::Config(format!("ca_cert_pem is not a valid PEM certificate: {e}"))
                })?;
            if certificates.is_empty() {
                return Err(KongError::Config(
                    "ca_cert_pem holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)"
                        .to_owned(),
                ));
            }
            for certificate in certificates {
                roots.add(certificate).map_err(|e| {
                    KongError::Config(format!("ca_cert_pem holds an unusable CA certificate: {e}"))
                })?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| KongError::Config(format!("cannot set up TLS: {e}")))?
        .with_root_certificates(roots);
        let tls = match &self.client_identity_pem {
            None => tls.with_no_client_auth(),
            Some(pem) => {
                let identity_error = |detail: String| {
                    KongError::Config(format!(
                        "client_identity_pem must hold a PEM certificate chain and its private key: {detail}"
                    ))
                };
                let chain = CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| identity_error(e.to_string()))?;
                if chain.is_empty() {
                    return Err(identity_error("no certificate".to_owned()));
                }
                let key = PrivateKeyDer::from_pem_slice(pem)
                    .map_err(|e| identity_error(format!("no private key ({e})")))?;
                tls.with_client_auth_cert(chain, key)
                    .map_err(|e| identity_error(e.to_string()))?
            }
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.connect_timeout));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Client::builder(TokioExecutor::new()).build(connector))
    }
}

/// The pooled HTTP client of [`KongConfig::http_client`].
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

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
        assert!(matches!(
            config.default_headers(),
            Err(KongError::Config(_))
        ));
        config.admin_auth = Some(AdminAuth {
            header: "Kong-Admin-Token".to_owned(),
            token: SecretString::from("line\nbreak"),
        });
        assert!(
            matches!(config.default_headers(), Err(KongError::Config(m)) if !m.contains("break"))
        );
    }
}
