//! Token verification against real OpenID providers (the development IdP over real sockets):
//! what is accepted, what is refused and why, and how the key cache behaves under rotation,
//! floods of unknown key ids and outages.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

mod support;

use std::time::Duration;

use gatekey_auth::{AuthError, GroupsClaim, IssuerConfig, VerifierConfig};
use gatekey_dev_idp::{DevIdpConfig, SigningAlg, TokenSpec};
use serde_json::json;
use support::{AUDIENCE, SUBJECT, idp, issuer, prefixed, spec, verifier, verifier_with};

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn rs256_and_es256_tokens_verify_and_map_subject_and_groups() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256", "ES256"])]);
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        let token = idp.sign(
            &spec()
                .alg(alg)
                .groups(["team-b", "team-a", "team-a"])
                .claim("realm_access", json!({"roles": ["admin"]}))
                .claim("repository", json!("org/orders")),
        );
        let identity = verifier.verify(&token).await.expect("valid token");
        assert_eq!(identity.subject, SUBJECT);
        assert_eq!(identity.issuer, idp.issuer());
        assert_eq!(identity.issuer_name, "dev");
        assert_eq!(
            identity.groups,
            ["ci:repo:org/orders", "role:admin", "team-a", "team-b"],
            "array, nested path and string claims, prefixed, deduplicated, sorted"
        );
        assert_eq!(identity.claims["repository"], "org/orders");
        assert_eq!(identity.claims["sub"], SUBJECT);
        let expires_in = identity.expires_at - chrono::Utc::now();
        assert!(
            expires_in > chrono::Duration::minutes(59) && expires_in <= chrono::Duration::hours(1)
        );
    }
    idp.shutdown().await;
}

#[tokio::test]
async fn a_configured_subject_claim_path_is_used_and_its_absence_is_refused() {
    let idp = idp().await;
    let mut config = issuer(&idp, "ci", &["RS256"]);
    config.subject_claim = "ci.job".to_owned();
    let verifier = verifier(vec![config]);
    let with = idp.sign(&spec().claim("ci", json!({"job": "deploy-42"})));
    assert_eq!(
        verifier.verify(&with).await.expect("valid").subject,
        "deploy-42"
    );
    let without = idp.sign(&spec());
    assert_eq!(
        verifier.verify(&without).await.expect_err("no subject"),
        AuthError::MissingClaim("ci.job".to_owned())
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256"])]);
    let token = idp.sign(&spec().issued_ago(HOUR * 2).expires_in(HOUR));
    assert_eq!(
        verifier.verify(&token).await.expect_err("expired"),
        AuthError::Expired
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn a_remembered_verification_ends_when_the_token_expires() {
    let idp = idp().await;
    let verifier = verifier_with(VerifierConfig {
        issuers: vec![issuer(&idp, "dev", &["RS256"])],
        clock_skew: Duration::ZERO,
        ..VerifierConfig::default()
    });
    let token = idp.sign(&spec().expires_in(Duration::from_secs(1)));
    let first = verifier.verify(&token).await.expect("fresh");
    let again = verifier.verify(&token).await.expect("remembered");
    assert_eq!(first, again, "the remembered identity is the verified one");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        verifier.verify(&token).await.expect_err("expired since"),
        AuthError::Expired
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn a_token_not_yet_valid_or_issued_in_the_future_is_refused() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256"])]);
    let not_before = idp.sign(&spec().not_before_in(Duration::from_secs(600)));
    assert_eq!(
        verifier.verify(&not_before).await.expect_err("nbf ahead"),
        AuthError::NotYetValid
    );
    let issued_ahead = idp.sign(&spec().issued_in(Duration::from_secs(600)));
    assert_eq!(
        verifier.verify(&issued_ahead).await.expect_err("iat ahead"),
        AuthError::NotYetValid
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn expiry_and_not_before_within_the_clock_skew_are_accepted() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256"])]);
    let thirty = Duration::from_secs(30);
    let just_expired = idp.sign(&spec().issued_ago(HOUR + thirty).expires_in(HOUR));
    let almost_valid = idp.sign(&spec().not_before_in(thirty).issued_in(thirty));
    for token in [just_expired, almost_valid] {
        verifier
            .verify(&token)
            .await
            .expect("30 s off is within the 60 s skew");
    }
    idp.shutdown().await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused_and_extra_audiences_are_tolerated() {
    let idp = idp().await;
    let mut config = issuer(&idp, "dev", &["RS256"]);
    config.audiences = vec!["backstage".to_owned(), AUDIENCE.to_owned()];
    let verifier = verifier(vec![config]);
    let elsewhere = idp.sign(&TokenSpec::new(SUBJECT, ["someone-else"]));
    assert_eq!(
        verifier.verify(&elsewhere).await.expect_err("audience"),
        AuthError::WrongAudience
    );
    let second_accepted = idp.sign(&TokenSpec::new(SUBJECT, ["account", AUDIENCE]));
    verifier
        .verify(&second_accepted)
        .await
        .expect("any configured audience, next to others, is enough");
    idp.shutdown().await;
}

#[tokio::test]
async fn a_token_from_an_untrusted_issuer_is_refused() {
    let trusted = idp().await;
    let stranger = idp().await;
    let verifier = verifier(vec![issuer(&trusted, "dev", &["RS256"])]);
    let foreign = stranger.sign(&spec());
    assert_eq!(
        verifier.verify(&foreign).await.expect_err("untrusted"),
        AuthError::UntrustedIssuer
    );
    let trailing_slash = trusted.sign(&spec().issuer(&format!("{}/", trusted.issuer())));
    assert_eq!(
        verifier
            .verify(&trailing_slash)
            .await
            .expect_err("not exact"),
        AuthError::UntrustedIssuer,
        "issuers match exactly"
    );
    assert_eq!(
        stranger.discovery_fetch_count(),
        0,
        "untrusted issuers are never contacted"
    );
    trusted.shutdown().await;
    stranger.shutdown().await;
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256"])]);
    let valid = idp.sign(&spec());
    let unsigned = support::assemble(
        &json!({"alg": "none", "typ": "JWT"}),
        support::payload(&valid),
        b"",
    );
    assert_eq!(
        verifier.verify(&unsigned).await.expect_err("alg none"),
        AuthError::UnsupportedAlgorithm
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_issuers_public_key_is_refused() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256", "ES256"])]);
    let valid = idp.sign(&spec());
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        let pem = idp.signing_public_key_pem(alg);
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": support::current_kid(&idp, alg)});
        let input = format!(
            "{}.{}",
            support::assemble(&header, "", b"")
                .split('.')
                .next()
                .expect("header"),
            support::payload(&valid)
        );
        let mac = support::hmac_sha256(pem.as_bytes(), input.as_bytes());
        let confused = support::assemble(&header, support::payload(&valid), &mac);
        assert_eq!(
            verifier
                .verify(&confused)
                .await
                .expect_err("algorithm confusion"),
            AuthError::UnsupportedAlgorithm
        );
    }
    idp.shutdown().await;
}

#[tokio::test]
async fn an_algorithm_not_pinned_for_the_issuer_is_refused() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256"])]);
    let es256 = idp.sign(&spec().alg(SigningAlg::Es256));
    assert_eq!(
        verifier.verify(&es256).await.expect_err("ES256 not pinned"),
        AuthError::UnsupportedAlgorithm
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn a_tampered_payload_fails_signature_verification() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256", "ES256"])]);
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        let valid = idp.sign(&spec().alg(alg).groups(["readers"]));
        let forged_claims = idp.sign(&spec().alg(alg).groups(["platform-admins"]));
        let parts: Vec<&str> = valid.split('.').collect();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            support::payload(&forged_claims),
            parts[2]
        );
        assert_eq!(
            verifier.verify(&tampered).await.expect_err("tampered"),
            AuthError::InvalidSignature
        );
    }
    idp.shutdown().await;
}

#[tokio::test]
async fn after_key_rotation_a_new_kid_triggers_exactly_one_jwks_refresh_and_verifies() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256"])]);
    let old = idp.sign(&spec());
    verifier.verify(&old).await.expect("before rotation");
    assert_eq!(
        (idp.discovery_fetch_count(), idp.jwks_fetch_count()),
        (1, 1)
    );

    idp.rotate_keys();
    let new = idp.sign(&spec());
    verifier
        .verify(&new)
        .await
        .expect("new key after one refresh");
    assert_eq!(
        idp.jwks_fetch_count(),
        2,
        "exactly one refresh for the new kid"
    );
    verifier.verify(&new).await.expect("cached");
    assert_eq!(idp.jwks_fetch_count(), 2);

    assert_eq!(
        verifier
            .verify(&old)
            .await
            .expect_err("old key left the JWKS"),
        AuthError::UnknownKey
    );
    assert_eq!(
        idp.jwks_fetch_count(),
        2,
        "no second refresh within the interval"
    );
    assert_eq!(idp.discovery_fetch_count(), 1, "discovery is cached");
    idp.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_random_kids_causes_at_most_one_extra_jwks_fetch() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256"])]);
    verifier.verify(&idp.sign(&spec())).await.expect("warm up");
    assert_eq!(idp.jwks_fetch_count(), 1);

    let flood: Vec<String> = (0..50)
        .map(|i| idp.sign(&spec().kid(&format!("random-{i}"))))
        .collect();
    let results = futures::future::join_all(flood.iter().map(|t| verifier.verify(t))).await;
    assert!(results.iter().all(|r| r == &Err(AuthError::UnknownKey)));
    assert!(
        idp.jwks_fetch_count() <= 2,
        "concurrent unknown kids coalesce into one refresh"
    );
    let after_first_flood = idp.jwks_fetch_count();
    for token in &flood {
        assert_eq!(verifier.verify(token).await, Err(AuthError::UnknownKey));
    }
    assert_eq!(
        idp.jwks_fetch_count(),
        after_first_flood,
        "rate limited within the interval"
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn a_token_of_issuer_a_signed_with_issuer_bs_key_fails() {
    let a = idp().await;
    let b = idp().await;
    let verifier = verifier(vec![
        prefixed(issuer(&a, "a", &["RS256"]), "a:"),
        prefixed(issuer(&b, "b", &["RS256"]), "b:"),
    ]);
    verifier
        .verify(&b.sign(&spec()))
        .await
        .expect("B's own token is fine");
    let kid_of_b = support::current_kid(&b, SigningAlg::Rs256);
    let kid_of_a = support::current_kid(&a, SigningAlg::Rs256);

    let foreign_kid = b.sign(&spec().issuer(&a.issuer()).kid(&kid_of_b));
    assert_eq!(
        verifier
            .verify(&foreign_kid)
            .await
            .expect_err("B's kid is not A's"),
        AuthError::UnknownKey
    );
    let borrowed_kid = b.sign(&spec().issuer(&a.issuer()).kid(&kid_of_a));
    assert_eq!(
        verifier
            .verify(&borrowed_kid)
            .await
            .expect_err("B's signature under A's kid"),
        AuthError::InvalidSignature
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn every_group_carries_its_issuers_prefix_so_equal_names_of_two_issuers_differ() {
    let a = idp().await;
    let b = idp().await;
    let verifier = verifier(vec![
        prefixed(issuer(&a, "a", &["RS256"]), "idp:"),
        prefixed(issuer(&b, "b", &["RS256"]), "gha:"),
    ]);
    let token = |idp: &gatekey_dev_idp::RunningIdp| {
        idp.sign(
            &spec()
                .groups(["orders-team"])
                .claim("repository", json!("acme/orders")),
        )
    };
    let from_a = verifier.verify(&token(&a)).await.expect("A's token");
    let from_b = verifier.verify(&token(&b)).await.expect("B's token");
    assert_eq!(from_a.subject, from_b.subject, "the same subject string");
    assert_eq!(
        from_a.groups,
        ["idp:ci:repo:acme/orders", "idp:orders-team"]
    );
    assert_eq!(
        from_b.groups,
        ["gha:ci:repo:acme/orders", "gha:orders-team"]
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn an_oversized_token_is_refused_before_parsing() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256"])]);
    let garbage = "x".repeat(16 * 1024 + 1);
    assert_eq!(
        verifier.verify(&garbage).await.expect_err("huge"),
        AuthError::TooLarge
    );
    let padded = idp.sign(&spec().claim("padding", json!("p".repeat(17 * 1024))));
    assert_eq!(
        verifier.verify(&padded).await.expect_err("huge"),
        AuthError::TooLarge
    );
    assert_eq!(idp.discovery_fetch_count(), 0);
    assert_eq!(
        verifier.verify("a.b").await.expect_err("two parts"),
        AuthError::Malformed
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn a_backstage_token_type_is_refused_unless_allowed() {
    let idp = idp().await;
    let user = idp.sign(&spec().alg(SigningAlg::Es256).typ("vnd.backstage.user"));
    let limited = idp.sign(
        &spec()
            .alg(SigningAlg::Es256)
            .typ("vnd.backstage.limited-user"),
    );
    let strict = verifier(vec![issuer(&idp, "backstage", &["ES256"])]);
    assert_eq!(
        strict.verify(&user).await.expect_err("typ"),
        AuthError::DisallowedTokenType
    );

    let mut config = issuer(&idp, "backstage", &["ES256"]);
    config.allowed_jose_types = vec!["vnd.backstage.user".to_owned()];
    let backstage = verifier(vec![config]);
    backstage.verify(&user).await.expect("allowed type");
    assert_eq!(
        backstage.verify(&limited).await.expect_err("other type"),
        AuthError::DisallowedTokenType
    );
    let plain = idp.sign(&spec().alg(SigningAlg::Es256));
    backstage.verify(&plain).await.expect("JWT stays accepted");
    idp.shutdown().await;
}

#[tokio::test]
async fn an_issuer_under_a_path_is_discovered() {
    let idp = gatekey_dev_idp::start(DevIdpConfig {
        issuer_path: "/realms/dev".to_owned(),
        ..DevIdpConfig::default()
    })
    .await
    .expect("dev IdP");
    assert!(idp.issuer().ends_with("/realms/dev"));
    let verifier = verifier(vec![issuer(&idp, "keycloak-like", &["RS256"])]);
    verifier.verify(&idp.sign(&spec())).await.expect("valid");
    idp.shutdown().await;
}

#[tokio::test]
async fn a_token_from_the_dev_token_endpoint_verifies() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["ES256"])]);
    let response: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/token", idp.issuer()))
        .json(&json!({"sub": SUBJECT, "groups": ["payments-team"], "alg": "ES256", "ttl_seconds": 600}))
        .send()
        .await
        .expect("token endpoint")
        .json()
        .await
        .expect("JSON");
    assert_eq!(response["token_type"], "Bearer");
    assert_eq!(response["expires_in"], 600);
    let identity = verifier
        .verify(response["access_token"].as_str().expect("token"))
        .await
        .expect("valid");
    assert_eq!(identity.groups, ["payments-team"]);
    idp.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_issuer_yields_issuer_unavailable() {
    let idp = idp().await;
    let verifier = verifier(vec![issuer(&idp, "dev", &["RS256"])]);
    let token = idp.sign(&spec());
    idp.shutdown().await;
    let err = verifier.verify(&token).await.expect_err("down");
    assert!(
        matches!(&err, AuthError::IssuerUnavailable { issuer, .. } if issuer == "dev"),
        "{err:?}"
    );
    assert_eq!(err.oauth_error_code(), "temporarily_unavailable");
    assert!(
        !err.description().contains("127.0.0.1"),
        "no internal address for callers"
    );
}

#[tokio::test]
async fn check_issuers_reports_reachable_and_unreachable_issuers() {
    let up = idp().await;
    let down = idp().await;
    let verifier = verifier(vec![
        prefixed(issuer(&up, "up", &["RS256"]), "up:"),
        prefixed(issuer(&down, "down", &["RS256"]), "down:"),
    ]);
    down.shutdown().await;
    let health = verifier.check_issuers(Duration::from_secs(5)).await;
    assert_eq!(health.len(), 2);
    assert_eq!(
        (health[0].name.as_str(), health[0].reachable()),
        ("up", true)
    );
    assert_eq!(health[0].error, None);
    assert_eq!(
        (health[1].name.as_str(), health[1].reachable()),
        ("down", false)
    );
    assert!(!health[1].has_keys());
    assert!(
        health[1]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("discovery")),
        "{health:?}"
    );

    verifier
        .verify(&up.sign(&spec()))
        .await
        .expect("keys loaded by the check are used");
    assert_eq!((up.discovery_fetch_count(), up.jwks_fetch_count()), (1, 1));
    up.shutdown().await;
}

#[tokio::test]
async fn stale_keys_are_refetched_and_kept_while_the_issuer_is_down() {
    let idp = idp().await;
    let verifier = verifier_with(VerifierConfig {
        issuers: vec![issuer(&idp, "dev", &["RS256"])],
        jwks_max_age: Duration::from_millis(200),
        jwks_refresh_min_interval: Duration::from_millis(100),
        ..VerifierConfig::default()
    });
    let token = idp.sign(&spec());
    verifier.verify(&token).await.expect("fresh");
    tokio::time::sleep(Duration::from_millis(250)).await;
    verifier
        .verify(&token)
        .await
        .expect("stale keys verify while they are refetched");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while idp.jwks_fetch_count() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        (idp.discovery_fetch_count(), idp.jwks_fetch_count()),
        (1, 2),
        "refetched in the background"
    );

    idp.shutdown().await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    verifier
        .verify(&token)
        .await
        .expect("stale keys keep working during an outage");
    let health = verifier.check_issuers(Duration::from_secs(5)).await;
    assert!(!health[0].reachable(), "{health:?}");
    assert!(health[0].has_keys(), "{health:?}");
}

#[test]
fn configuration_errors_are_readable() {
    let bad = IssuerConfig {
        name: "bad".to_owned(),
        issuer: "ftp://idp.example".to_owned(),
        audiences: Vec::new(),
        algorithms: vec!["HS256".to_owned(), "XX999".to_owned()],
        subject_claim: String::new(),
        groups_claims: vec![GroupsClaim {
            path: String::new(),
            prefix: None,
        }],
        preset: None,
        required_claims: Vec::new(),
        allowed_jose_types: Vec::new(),
        group_prefix: None,
        groups_from_userinfo: false,
        requires_proxy_secret: false,
    };
    let duplicate = IssuerConfig {
        name: "bad".to_owned(),
        ..bad.clone()
    };
    let http = reqwest::Client::new();
    let err = gatekey_auth::TokenVerifier::new(
        VerifierConfig {
            issuers: vec![bad, duplicate],
            clock_skew: Duration::from_secs(900),
            ..VerifierConfig::default()
        },
        &http,
    )
    .expect_err("invalid");
    let text = err.to_string();
    for needle in [
        "clock_skew is 900 s; it must be at most 300 s",
        "issuer 'bad': issuer \"ftp://idp.example\" must be an http(s) URL",
        "issuer 'bad': list at least one accepted audience",
        "issuer 'bad': algorithm HS256 is never accepted",
        "issuer 'bad': algorithm XX999 is not supported; use one of RS256",
        "issuer 'bad': subject_claim must not be empty",
        "issuer 'bad': a groups claim has an empty path",
        "issuer 'bad': the name is used twice",
        "ftp://idp.example is configured twice",
        "issuer 'bad': declare a group_prefix",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let none =
        gatekey_auth::TokenVerifier::new(VerifierConfig::default(), &http).expect_err("no issuers");
    assert!(none.to_string().contains("no trusted issuer is configured"));
}
