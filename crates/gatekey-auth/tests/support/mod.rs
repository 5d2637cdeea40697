//! Test support: development OpenID providers on real sockets, issuer settings that map groups
//! three ways, and hand-crafted (forged) tokens.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatekey_auth::{GroupsClaim, IssuerConfig, TokenVerifier, VerifierConfig};
use gatekey_dev_idp::{DevIdpConfig, RunningIdp, TokenSpec};
use serde_json::Value;

pub(crate) const AUDIENCE: &str = "gatekey";
pub(crate) const SUBJECT: &str = "user:default/jane";

/// A development IdP on a free local port.
pub(crate) async fn idp() -> RunningIdp {
    gatekey_dev_idp::start(DevIdpConfig::default())
        .await
        .expect("dev IdP starts")
}

/// Trusts `idp` for `AUDIENCE` with `algorithms` pinned; groups come from `groups`,
/// `realm_access.roles` (prefixed `role:`) and `repository` (prefixed `ci:repo:`).
pub(crate) fn issuer(idp: &RunningIdp, name: &str, algorithms: &[&str]) -> IssuerConfig {
    IssuerConfig {
        name: name.to_owned(),
        issuer: idp.issuer(),
        audiences: vec![AUDIENCE.to_owned()],
        algorithms: algorithms.iter().map(|a| (*a).to_owned()).collect(),
        groups_claims: vec![
            GroupsClaim {
                path: "groups".to_owned(),
                prefix: None,
            },
            GroupsClaim {
                path: "realm_access.roles".to_owned(),
                prefix: Some("role:".to_owned()),
            },
            GroupsClaim {
                path: "repository".to_owned(),
                prefix: Some("ci:repo:".to_owned()),
            },
        ],
        ..IssuerConfig::default()
    }
}

/// A verifier with default limits (60 s skew, 30 s refresh interval).
/// `config` with its groups prefixed by `group_prefix` (needed once several issuers are trusted).
pub(crate) fn prefixed(config: IssuerConfig, group_prefix: &str) -> IssuerConfig {
    IssuerConfig {
        group_prefix: Some(group_prefix.to_owned()),
        ..config
    }
}

pub(crate) fn verifier(issuers: Vec<IssuerConfig>) -> TokenVerifier {
    verifier_with(VerifierConfig {
        issuers,
        ..VerifierConfig::default()
    })
}

pub(crate) fn verifier_with(config: VerifierConfig) -> TokenVerifier {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client");
    TokenVerifier::new(config, &http).expect("valid verifier settings")
}

/// A token for `SUBJECT` and `AUDIENCE`.
pub(crate) fn spec() -> TokenSpec {
    TokenSpec::new(SUBJECT, [AUDIENCE])
}

/// The decoded JOSE header of `token`.
pub(crate) fn header(token: &str) -> Value {
    let segment = token.split('.').next().expect("header segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("JSON")
}

/// The `kid` `idp` currently signs with for `alg`.
pub(crate) fn current_kid(idp: &RunningIdp, alg: gatekey_dev_idp::SigningAlg) -> String {
    header(&idp.sign(&spec().alg(alg)))["kid"]
        .as_str()
        .expect("kid")
        .to_owned()
}

/// The payload segment of `token`, as signed.
pub(crate) fn payload(token: &str) -> &str {
    token.split('.').nth(1).expect("payload segment")
}

/// `header.payload.signature` with `header` serialized and base64url-encoded.
pub(crate) fn assemble(header: &Value, payload: &str, signature: &[u8]) -> String {
    format!(
        "{}.{payload}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// HMAC-SHA256 (RFC 2104), to forge the algorithm-confusion token.
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest as _, Sha256};
    let mut block = [0_u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = block
        .iter()
        .map(|b| b ^ 0x36)
        .chain(message.iter().copied())
        .collect();
    let outer: Vec<u8> = block
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(Sha256::digest(&inner))
        .collect();
    Sha256::digest(&outer).to_vec()
}
