//! The provider's signing keys (RSA 2048 for RS256, P-256 for ES256), their JWKS form, and the
//! raw signing operations.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use rsa::pkcs1v15::SigningKey as RsaSigningKey;
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

/// Algorithms the provider signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SigningAlg {
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "ES256")]
    Es256,
}

impl SigningAlg {
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }
}

/// One RSA and one EC key, each with its `kid`.
#[derive(Debug)]
pub struct KeySet {
    rsa: rsa::RsaPrivateKey,
    rsa_kid: String,
    ec: p256::ecdsa::SigningKey,
    ec_kid: String,
}

impl KeySet {
    pub fn generate() -> Self {
        let mut rng = rand_core_06::OsRng;
        let rsa = rsa::RsaPrivateKey::new(&mut rng, 2048)
            .expect("RSA-2048 generation with the OS RNG succeeds");
        let ec = p256::ecdsa::SigningKey::random(&mut rng);
        Self {
            rsa,
            rsa_kid: format!("rsa-{}", uuid::Uuid::new_v4().simple()),
            ec,
            ec_kid: format!("ec-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    pub fn kid(&self, alg: SigningAlg) -> &str {
        match alg {
            SigningAlg::Rs256 => &self.rsa_kid,
            SigningAlg::Es256 => &self.ec_kid,
        }
    }

    /// Signs `message` (the JWS signing input) with the key of `alg`.
    pub fn sign(&self, alg: SigningAlg, message: &[u8]) -> Vec<u8> {
        match alg {
            SigningAlg::Rs256 => {
                let key = RsaSigningKey::<Sha256>::new(self.rsa.clone());
                let signature: rsa::pkcs1v15::Signature =
                    rsa::signature::Signer::sign(&key, message);
                rsa::signature::SignatureEncoding::to_vec(&signature)
            }
            SigningAlg::Es256 => {
                let signature: p256::ecdsa::Signature = self.ec.sign(message);
                signature.to_bytes().to_vec()
            }
        }
    }

    pub fn jwks(&self) -> Value {
        let public = self.rsa.to_public_key();
        let point = self.ec.verifying_key().to_encoded_point(false);
        let coordinate =
            |c: Option<&p256::FieldBytes>| c.map(|b| URL_SAFE_NO_PAD.encode(b)).unwrap_or_default();
        json!({"keys": [
            {
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.rsa_kid,
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            },
            {
                "kty": "EC", "use": "sig", "alg": "ES256", "kid": self.ec_kid, "crv": "P-256",
                "x": coordinate(point.x()),
                "y": coordinate(point.y()),
            },
        ]})
    }

    pub fn rsa_public_pem(&self) -> String {
        self.rsa
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }
}
