//! The development provider's HTTP surface, as the local demo uses it with curl: discovery, JWKS,
//! the token endpoint, and userinfo.

#![allow(
    clippy::expect_used,
    reason = "a test fails by panicking, with the expectation as its message"
)]

use gatekey_dev_idp::{DevIdpConfig, SigningAlg, TokenSpec};
use serde_json::{Value, json};

async fn get(url: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn discovery_and_jwks_describe_the_issuer_and_both_keys_and_rotation_replaces_them() {
    let idp = gatekey_dev_idp::start(DevIdpConfig::default())
        .await
        .expect("start");
    let issuer = idp.issuer();
    let (status, discovery) =
        get(&format!("{issuer}/.well-known/openid-configuration"), None).await;
    assert_eq!(status, 200);
    assert_eq!(discovery["issuer"], issuer.as_str());
    assert_eq!(discovery["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256"])
    );

    let (_, jwks) = get(&format!("{issuer}/jwks"), None).await;
    let key_types: Vec<(&str, &str)> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            (
                k["kty"].as_str().expect("kty"),
                k["alg"].as_str().expect("alg"),
            )
        })
        .collect();
    assert_eq!(key_types, [("RSA", "RS256"), ("EC", "ES256")]);
    let kids = |jwks: &Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].to_string())
            .collect()
    };
    let before = kids(&jwks);
    idp.rotate_keys();
    let (_, rotated) = get(&format!("{issuer}/jwks"), None).await;
    assert!(
        kids(&rotated).iter().all(|kid| !before.contains(kid)),
        "old keys dropped out"
    );
    assert_eq!(
        (idp.discovery_fetch_count(), idp.jwks_fetch_count()),
        (1, 2)
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn the_token_endpoint_signs_what_it_is_asked_and_userinfo_returns_the_users_claims() {
    let idp = gatekey_dev_idp::start(DevIdpConfig::default())
        .await
        .expect("start");
    let issuer = idp.issuer();
    let client = reqwest::Client::new();
    let bad = client
        .post(format!("{issuer}/token"))
        .json(&json!({"groups": []}))
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status().as_u16(), 400, "sub is required");

    let minted: Value = client
        .post(format!("{issuer}/token"))
        .json(&json!({"sub": "user:default/jane", "groups": ["payments-team"], "alg": "ES256"}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(minted["expires_in"], 3600);
    let token = minted["access_token"].as_str().expect("token");
    let (status, info) = get(&format!("{issuer}/userinfo"), Some(token)).await;
    assert_eq!(status, 200);
    assert_eq!(
        info,
        json!({"sub": "user:default/jane", "groups": ["payments-team"]})
    );

    let other = idp.sign(
        &TokenSpec::new("x", ["gatekey"])
            .alg(SigningAlg::Rs256)
            .issuer("http://elsewhere"),
    );
    let (status, error) = get(&format!("{issuer}/userinfo"), Some(&other)).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (401, Some("invalid_token"))
    );
    idp.rotate_keys();
    let (status, _) = get(&format!("{issuer}/userinfo"), Some(token)).await;
    assert_eq!(
        status, 401,
        "tokens of rotated-out keys are no longer honoured"
    );
    idp.shutdown().await;
}
