//! Token attacks at the HTTP edge (issue 5, guarantee 6): each forged, stale, misdirected or
//! oversized bearer token is refused with 401 `invalid_token` before any decision, and none of them
//! makes Gatekey hammer an identity provider. `gatekey-auth`'s own tests (`tests/verify.rs`) cover
//! the same attacks against the verifier alone; these prove the service wires it in.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatekey_dev_idp::{RunningIdp, SigningAlg, TokenSpec};
use gatekey_e2e::{AUDIENCE, Stack, TWO_ISSUER_POLICY, trust_second_issuer};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const SUBJECT: &str = "user:default/mallory";

/// Calls `GET /v1/me` with `token`, asserts 401 `invalid_token` with a bearer challenge that does
/// not echo the token, and returns the problem's detail.
async fn refused(stack: &Stack, token: &str) -> String {
    let response = stack
        .http
        .get(format!("{}/v1/me", stack.gatekey_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("call");
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let problem: Value = response.json().await.expect("problem json");
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    assert_eq!(problem["code"], "invalid_token", "{problem}");
    assert!(
        challenge.starts_with("Bearer realm=\"gatekey\", error=\"invalid_token\""),
        "{challenge}"
    );
    let detail = problem["detail"].as_str().expect("detail").to_owned();
    assert!(
        !problem.to_string().contains(token) && !challenge.contains(token),
        "the token must not be echoed"
    );
    detail
}

fn spec() -> TokenSpec {
    TokenSpec::new(SUBJECT, [AUDIENCE]).groups(["platform-admins"])
}

fn segment(token: &str, index: usize) -> &str {
    token.split('.').nth(index).expect("JWS segment")
}

fn encode_header(header: &Value) -> String {
    URL_SAFE_NO_PAD.encode(header.to_string())
}

/// The `kid` `idp` signs RS256 tokens with.
fn current_kid(idp: &RunningIdp) -> String {
    let token = idp.sign(&spec());
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment(&token, 0)).expect("b64"))
            .expect("header json");
    header["kid"].as_str().expect("kid").to_owned()
}

/// HMAC-SHA256 (RFC 2104), to forge the algorithm-confusion token.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
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

#[tokio::test]
async fn alg_none_token_is_refused() {
    let stack = Stack::start().await.expect("stack");
    let valid = stack.idp.sign(&spec());
    for alg in ["none", "None", "NONE"] {
        let unsigned = format!(
            "{}.{}.",
            encode_header(&json!({"alg": alg, "typ": "JWT"})),
            segment(&valid, 1)
        );
        let detail = refused(&stack, &unsigned).await;
        assert!(detail.contains("algorithm"), "{alg}: {detail}");
    }
    stack.stop().await;
}

#[tokio::test]
async fn hs256_token_signed_with_the_issuers_public_key_is_refused() {
    let stack = Stack::start().await.expect("stack");
    let valid = stack.idp.sign(&spec());
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        let public_key = stack.idp.signing_public_key_pem(alg);
        let header =
            encode_header(&json!({"alg": "HS256", "typ": "JWT", "kid": current_kid(&stack.idp)}));
        let input = format!("{header}.{}", segment(&valid, 1));
        let mac = hmac_sha256(public_key.as_bytes(), input.as_bytes());
        let confused = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac));
        let detail = refused(&stack, &confused).await;
        assert!(detail.contains("algorithm"), "{detail}");
    }
    stack.stop().await;
}

#[tokio::test]
async fn expired_token_is_refused() {
    let stack = Stack::start().await.expect("stack");
    // Past the 60 s clock skew Gatekey tolerates.
    let expired = stack.idp.sign(
        &spec()
            .issued_ago(Duration::from_secs(3600))
            .expires_in(Duration::ZERO),
    );
    assert_eq!(refused(&stack, &expired).await, "the token has expired");
    stack.stop().await;
}

#[tokio::test]
async fn not_yet_valid_token_is_refused() {
    let stack = Stack::start().await.expect("stack");
    let not_before = stack
        .idp
        .sign(&spec().not_before_in(Duration::from_secs(600)));
    assert_eq!(
        refused(&stack, &not_before).await,
        "the token is not valid yet"
    );
    let issued_in_the_future = stack.idp.sign(&spec().issued_in(Duration::from_secs(600)));
    assert_eq!(
        refused(&stack, &issued_in_the_future).await,
        "the token is not valid yet"
    );
    stack.stop().await;
}

#[tokio::test]
async fn token_for_another_audience_is_refused() {
    let stack = Stack::start().await.expect("stack");
    let elsewhere = stack
        .idp
        .sign(&TokenSpec::new(SUBJECT, ["another-service"]).groups(["platform-admins"]));
    assert_eq!(
        refused(&stack, &elsewhere).await,
        "the token is not meant for this service (audience)"
    );
    stack.stop().await;
}

#[tokio::test]
async fn token_from_an_untrusted_issuer_is_refused_without_contacting_it() {
    let stack = Stack::start().await.expect("stack");
    let stranger = gatekey_dev_idp::start(gatekey_dev_idp::DevIdpConfig::default())
        .await
        .expect("idp");
    let foreign = stranger.sign(&spec());
    assert_eq!(
        refused(&stack, &foreign).await,
        "the token's issuer is not trusted"
    );
    // The trusted issuer's own key signing a token that claims another `iss`.
    let relabelled = stack
        .idp
        .sign(&spec().issuer("https://idp.attacker.example"));
    assert_eq!(
        refused(&stack, &relabelled).await,
        "the token's issuer is not trusted"
    );
    assert_eq!(
        (
            stranger.discovery_fetch_count(),
            stranger.jwks_fetch_count()
        ),
        (0, 0),
        "an untrusted issuer is never contacted"
    );
    stranger.shutdown().await;
    stack.stop().await;
}

#[tokio::test]
async fn flood_of_random_kids_refreshes_the_jwks_at_most_once() {
    let stack = Stack::start().await.expect("stack");
    let warm_up = stack.idp.sign(&spec());
    let (status, _) = stack
        .call(reqwest::Method::GET, "/v1/me", Some(&warm_up), None)
        .await
        .expect("me");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stack.idp.jwks_fetch_count(), 1);

    let flood: Vec<String> = (0..200)
        .map(|i| stack.idp.sign(&spec().kid(&format!("random-kid-{i}"))))
        .collect();
    // Concurrently, then once more one by one: still within the 30 s refresh interval.
    let details = futures::future::join_all(flood.iter().map(|t| refused(&stack, t))).await;
    for detail in details {
        assert_eq!(detail, "no key of the token's issuer matches its key id");
    }
    for token in &flood {
        refused(&stack, token).await;
    }
    assert!(
        stack.idp.jwks_fetch_count() <= 2,
        "400 unknown kids cost at most one JWKS refresh, not {}",
        stack.idp.jwks_fetch_count() - 1
    );
    assert_eq!(
        stack.idp.discovery_fetch_count(),
        1,
        "discovery stays cached"
    );
    // The valid token still works (cached keys are kept).
    let (status, _) = stack
        .call(reqwest::Method::GET, "/v1/me", Some(&warm_up), None)
        .await
        .expect("me");
    assert_eq!(status, StatusCode::OK);
    stack.stop().await;
}

#[tokio::test]
async fn oversized_token_is_refused_before_parsing_or_contacting_the_issuer() {
    let stack = Stack::start().await.expect("stack");
    // A validly signed token, padded past the 16 KiB limit, and plain garbage of 24 KiB (both
    // within the 32 KiB limit on the request head).
    let padded = stack
        .idp
        .sign(&spec().claim("padding", json!("p".repeat(17 * 1024))));
    assert!(padded.len() > 16 * 1024);
    let garbage = "A".repeat(24 * 1024);
    for token in [&padded, &garbage] {
        assert_eq!(refused(&stack, token).await, "the token is too large");
    }
    // Beyond the HTTP server's limit on the request head, the connection is refused at once.
    let huge = stack
        .http
        .get(format!("{}/v1/me", stack.gatekey_url))
        .bearer_auth("A".repeat(1024 * 1024))
        .send()
        .await
        .expect("an answer, not a dropped connection");
    assert_eq!(huge.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(
        (
            stack.idp.discovery_fetch_count(),
            stack.idp.jwks_fetch_count()
        ),
        (0, 0),
        "no discovery, no JWKS: the size check comes first"
    );
    stack.stop().await;
}

#[tokio::test]
async fn token_from_issuer_a_with_a_kid_of_issuer_b_is_refused() {
    let b = gatekey_dev_idp::start(gatekey_dev_idp::DevIdpConfig::default())
        .await
        .expect("idp B");
    let b_issuer = b.issuer();
    let stack = Stack::start_with(TWO_ISSUER_POLICY, |settings| {
        trust_second_issuer(settings, b_issuer);
    })
    .await
    .expect("stack");
    let a = &stack.idp;
    // B's own tokens are fine: both issuers are trusted.
    let (status, me) = stack
        .call(reqwest::Method::GET, "/v1/me", Some(&b.sign(&spec())), None)
        .await
        .expect("me");
    assert_eq!(
        (status, &me["issuer_name"]),
        (StatusCode::OK, &json!("idp-b"))
    );

    // B signs a token claiming to come from A, naming B's key: A's keys are the only ones tried.
    let kid_of_b = current_kid(&b);
    let claims_a_names_b = b.sign(&spec().issuer(&a.issuer()).kid(&kid_of_b));
    assert_eq!(
        refused(&stack, &claims_a_names_b).await,
        "no key of the token's issuer matches its key id"
    );
    // B signs a token claiming to come from A, naming A's key: the signature does not verify.
    let claims_a_names_a = b.sign(&spec().issuer(&a.issuer()).kid(&current_kid(a)));
    assert_eq!(
        refused(&stack, &claims_a_names_a).await,
        "the token's signature does not verify"
    );
    b.shutdown().await;
    stack.stop().await;
}
