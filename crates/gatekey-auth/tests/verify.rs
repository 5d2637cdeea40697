//! Token verification against real OpenID providers (the development IdP over real sockets):
//! what is accepted, what is refused and why, and how the JWKS cache behaves under rotation and
//! floods of unknown key ids.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatekey_auth::{AuthError, GroupsClaim, IssuerConfig, TokenVerifier, VerifierConfig};
use gatekey_dev_idp::{DevIdpConfig, RunningIdp, SigningAlg, TokenSpec};
use serde_json::json;

const AUDIENCE: &str = "gatekey";

fn issuer(idp: &RunningIdp, name: &str, algorithms: &[&str]) -> IssuerConfig {
    IssuerConfig {
        name: name.to_owned(),
        issuer: idp.issuer(),
        audiences: vec![AUDIENCE.to_owned()],
        algorithms: algorithms.iter().map(|a| (*a).to_owned()).collect(),
        subject_claim: "sub".to_owned(),
        groups_claims: vec![
            GroupsClaim {
                path: "groups".to_owned(),
                prefix: None,
            },
            GroupsClaim {
                path: "ci.repository".to_owned(),
                prefix: Some("ci:repo:".to_owned()),
            },
        ],
        allowed_jose_types: Vec::new(),
    }
}

fn verifier(issuers: Vec<IssuerConfig>) -> TokenVerifier {
    TokenVerifier::new(
        VerifierConfig {
            issuers,
            jwks_refresh_min_interval: Duration::from_secs(30),
            ..VerifierConfig::default()
        },
        &reqwest::Client::new(),
    )
    .expect("valid config")
}

async fn idp() -> RunningIdp {
    gatekey_dev_idp::start(DevIdpConfig::default())
        .await
        .expect("idp")
}

fn token(idp: &RunningIdp) -> TokenSpec {
    let _ = idp;
    TokenSpec::new("user:default/jane", [AUDIENCE])
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_and_map_subject_and_groups() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256", "ES256"])]);
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        let signed = idp.sign(
            &token(&idp)
                .alg(alg)
                .groups(["team-b", "team-a", "team-a"])
                .claim("ci", json!({"repository": "org/orders"})),
        );
        let identity = verifier.verify(&signed).await.expect("valid token");
        assert_eq!(identity.subject, "user:default/jane");
        assert_eq!(identity.issuer, idp.issuer());
        assert_eq!(identity.issuer_name, "dev");
        assert_eq!(identity.groups, ["ci:repo:org/orders", "team-a", "team-b"]);
    }
    let single = idp.sign(&token(&idp).claim("groups", json!("solo")));
    assert_eq!(
        verifier.verify(&single).await.expect("valid").groups,
        ["solo"]
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn time_audience_and_issuer_checks_refuse_with_their_reason() {
    let idp = idp().await;
    let other = gatekey_dev_idp::start(DevIdpConfig::default())
        .await
        .expect("idp");
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256"])]);
    let hour = Duration::from_secs(3600);
    let cases = [
        (
            idp.sign(&token(&idp).issued_ago(hour * 2).expires_in(hour)),
            AuthError::Expired,
        ),
        (
            idp.sign(&token(&idp).not_before_in(Duration::from_secs(600))),
            AuthError::NotYetValid,
        ),
        (
            idp.sign(&TokenSpec::new("jane", ["someone-else"])),
            AuthError::WrongAudience,
        ),
        (other.sign(&token(&other)), AuthError::UntrustedIssuer),
        (
            idp.sign(&token(&idp).alg(SigningAlg::Es256)),
            AuthError::UnsupportedAlgorithm,
        ),
        ("a.b".to_owned(), AuthError::Malformed),
    ];
    for (signed, expected) in cases {
        assert_eq!(
            verifier.verify(&signed).await.expect_err("refused"),
            expected
        );
    }
    let within_skew = idp.sign(
        &token(&idp)
            .issued_ago(hour + Duration::from_secs(30))
            .expires_in(hour),
    );
    assert!(
        verifier.verify(&within_skew).await.is_ok(),
        "30 s past exp is within the 60 s skew"
    );
    other.shutdown().await;
    idp.shutdown().await;
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256"])]);
    let valid = idp.sign(&token(&idp));
    let parts: Vec<&str> = valid.split('.').collect();
    let claims = parts[1];

    let none = format!(
        "{}.{claims}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    assert_eq!(
        verifier.verify(&none).await.expect_err("alg none"),
        AuthError::UnsupportedAlgorithm
    );

    // HS256 with the issuer's public key as the HMAC secret (algorithm confusion).
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let input = format!("{header}.{claims}");
    let mac = hmac_sha256(idp.rsa_public_key_pem().as_bytes(), input.as_bytes());
    let confused = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac));
    assert_eq!(
        verifier.verify(&confused).await.expect_err("hs256"),
        AuthError::UnsupportedAlgorithm
    );

    let tampered_claims = URL_SAFE_NO_PAD.encode(
        json!({"iss": idp.issuer(), "sub": "user:default/admin", "aud": AUDIENCE, "exp": 4_000_000_000_u64}).to_string(),
    );
    let tampered = format!("{}.{tampered_claims}.{}", parts[0], parts[2]);
    assert_eq!(
        verifier.verify(&tampered).await.expect_err("tampered"),
        AuthError::InvalidSignature
    );

    let huge = format!("{}.{}.{}", parts[0], "a".repeat(20_000), parts[2]);
    assert_eq!(
        verifier.verify(&huge).await.expect_err("huge"),
        AuthError::TooLarge
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn a_token_from_one_issuer_with_another_issuers_kid_fails() {
    let a = idp().await;
    let b = idp().await;
    let verifier = verifier(vec![
        issuer(&a, "a", &["RS256"]),
        issuer(&b, "b", &["RS256"]),
    ]);
    let b_token = b.sign(&token(&b));
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(b_token.split('.').next().expect("header"))
            .expect("b64"),
    )
    .expect("json");
    let b_kid = header["kid"].as_str().expect("kid");
    // Signed by B's key but claiming to be A: only A's keys are tried.
    let forged = b.sign(&token(&b).issuer(&a.issuer()).kid(b_kid));
    assert!(matches!(
        verifier.verify(&forged).await.expect_err("refused"),
        AuthError::UnknownKey | AuthError::InvalidSignature
    ));
    assert!(verifier.verify(&b_token).await.is_ok());
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn rotation_is_picked_up_once_and_random_kids_do_not_hammer_the_idp() {
    let idp = idp().await;
    let verifier = TokenVerifier::new(
        VerifierConfig {
            issuers: vec![issuer(&idp, "dev", &["RS256"])],
            jwks_refresh_min_interval: Duration::from_millis(300),
            ..VerifierConfig::default()
        },
        &reqwest::Client::new(),
    )
    .expect("config");
    verifier
        .verify(&idp.sign(&token(&idp)))
        .await
        .expect("first");
    assert_eq!(idp.jwks_fetch_count(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    idp.rotate_keys();
    verifier
        .verify(&idp.sign(&token(&idp)))
        .await
        .expect("after rotation");
    assert_eq!(
        idp.jwks_fetch_count(),
        2,
        "exactly one refresh for the new kid"
    );

    let floods = (0..50).map(|i| idp.sign(&token(&idp).kid(&format!("random-{i}"))));
    for forged in floods {
        assert_eq!(
            verifier.verify(&forged).await.expect_err("unknown kid"),
            AuthError::UnknownKey
        );
    }
    assert_eq!(idp.jwks_fetch_count(), 2, "no refresh within the interval");
    idp.shutdown().await;
}

#[tokio::test]
async fn backstage_token_type_is_refused_unless_allowed() {
    let idp = idp().await;
    let typed = idp.sign(&token(&idp).typ("vnd.backstage.user"));
    let strict = verifier(vec![issuer(&idp, "dev", &["RS256"])]);
    assert_eq!(
        strict.verify(&typed).await.expect_err("typ"),
        AuthError::DisallowedTokenType
    );
    let mut config = issuer(&idp, "dev", &["RS256"]);
    config.allowed_jose_types = vec!["vnd.backstage.user".to_owned()];
    assert!(verifier(vec![config]).verify(&typed).await.is_ok());
    idp.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_issuer_is_reported_not_fatal() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256"])]);
    let signed = idp.sign(&token(&idp));
    idp.shutdown().await;
    assert!(matches!(
        verifier.verify(&signed).await.expect_err("down"),
        AuthError::IssuerUnavailable { .. }
    ));
    let health = verifier.check_issuers().await;
    assert_eq!(health.len(), 1);
    assert!(!health[0].reachable && health[0].error.is_some());
}

#[test]
fn configuration_problems_are_all_reported() {
    let bad = IssuerConfig {
        name: "bad".to_owned(),
        issuer: "ftp://x".to_owned(),
        audiences: Vec::new(),
        algorithms: vec!["HS256".to_owned()],
        subject_claim: String::new(),
        groups_claims: Vec::new(),
        allowed_jose_types: Vec::new(),
    };
    let err = TokenVerifier::new(
        VerifierConfig {
            issuers: vec![bad],
            clock_skew: Duration::from_secs(900),
            ..VerifierConfig::default()
        },
        &reqwest::Client::new(),
    )
    .expect_err("invalid");
    let text = err.to_string();
    for needle in [
        "clock skew",
        "http(s) URL",
        "audience",
        "HS256",
        "subject_claim",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
    let none = TokenVerifier::new(VerifierConfig::default(), &reqwest::Client::new())
        .expect_err("no issuers");
    assert!(none.to_string().contains("no trusted issuer"));
}

/// HMAC-SHA256, to forge the algorithm-confusion token.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
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
    let inner_hash = Sha256::digest(&inner);
    let outer: Vec<u8> = block
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(inner_hash.iter().copied())
        .collect();
    Sha256::digest(&outer).to_vec()
}
