//! The provider's signing keys (RSA 2048 for RS256, P-256 for ES256): their JWKS form, public
//! PEMs, and the raw JWS signing and verification operations.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use rsa::pkcs1v15::{SigningKey as RsaSigningKey, VerifyingKey as RsaVerifyingKey};
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

/// Algorithms the provider signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, RSA 2048 key.
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
}

impl SigningAlg {
    /// The JOSE `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }
}

/// One RSA and one EC key, each with its `kid`. `Debug` shows the key ids only.
pub(crate) struct KeySet {
    rsa: RsaSigningKey<Sha256>,
    rsa_public: rsa::RsaPublicKey,
    rsa_kid: String,
    ec: p256::ecdsa::SigningKey,
    ec_kid: String,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("rsa_kid", &self.rsa_kid)
            .field("ec_kid", &self.ec_kid)
            .finish_non_exhaustive()
    }
}

impl KeySet {
    /// Fresh keys under fresh, random key ids.
    #[expect(
        clippy::expect_used,
        reason = "key generation with the OS RNG fails only when the OS has no randomness"
    )]
    pub(crate) fn generate() -> Self {
        let mut rng = rand_core_06::OsRng;
        let rsa = rsa::RsaPrivateKey::new(&mut rng, 2048)
            .expect("RSA-2048 generation with the OS RNG does not fail");
        let rsa_public = rsa.to_public_key();
        Self {
            rsa: RsaSigningKey::<Sha256>::new(rsa),
            rsa_public,
            rsa_kid: format!("rsa-{}", uuid::Uuid::new_v4().simple()),
            ec: p256::ecdsa::SigningKey::random(&mut rng),
            ec_kid: format!("ec-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The `kid` of the key used for `alg`.
    pub(crate) fn kid(&self, alg: SigningAlg) -> &str {
        match alg {
            SigningAlg::Rs256 => &self.rsa_kid,
            SigningAlg::Es256 => &self.ec_kid,
        }
    }

    /// Signs `message` (the JWS signing input) with the key of `alg`.
    pub(crate) fn sign(&self, alg: SigningAlg, message: &[u8]) -> Vec<u8> {
        match alg {
            SigningAlg::Rs256 => {
                let signature: rsa::pkcs1v15::Signature = self.rsa.sign(message);
                rsa::signature::SignatureEncoding::to_vec(&signature)
            }
            SigningAlg::Es256 => {
                let signature: p256::ecdsa::Signature = self.ec.sign(message);
                signature.to_bytes().to_vec()
            }
        }
    }

    /// Whether `signature` over `message` was made by the current key named by `kid` with the
    /// algorithm named `alg`.
    pub(crate) fn verify(&self, alg: &str, kid: &str, message: &[u8], signature: &[u8]) -> bool {
        match SigningAlg::from_name(alg) {
            Some(SigningAlg::Rs256) if kid == self.rsa_kid => {
                rsa::pkcs1v15::Signature::try_from(signature).is_ok_and(|signature| {
                    RsaVerifyingKey::<Sha256>::new(self.rsa_public.clone())
                        .verify(message, &signature)
                        .is_ok()
                })
            }
            Some(SigningAlg::Es256) if kid == self.ec_kid => {
                p256::ecdsa::Signature::from_slice(signature).is_ok_and(|signature| {
                    self.ec.verifying_key().verify(message, &signature).is_ok()
                })
            }
            _ => false,
        }
    }

    /// The public keys as a JWK Set (`use: sig`, with `alg` and `kid`).
    #[expect(
        clippy::expect_used,
        reason = "an uncompressed point always has both coordinates"
    )]
    pub(crate) fn jwks(&self) -> Value {
        let point = self.ec.verifying_key().to_encoded_point(false);
        let coordinate = |c: Option<&p256::FieldBytes>| {
            URL_SAFE_NO_PAD.encode(c.expect("an uncompressed P-256 point has both coordinates"))
        };
        json!({"keys": [
            {
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.rsa_kid,
                "n": URL_SAFE_NO_PAD.encode(self.rsa_public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(self.rsa_public.e().to_bytes_be()),
            },
            {
                "kty": "EC", "use": "sig", "alg": "ES256", "kid": self.ec_kid, "crv": "P-256",
                "x": coordinate(point.x()),
                "y": coordinate(point.y()),
            },
        ]})
    }

    /// The public key of `alg` as SPKI PEM.
    #[expect(
        clippy::expect_used,
        reason = "PEM encoding of a valid public key cannot fail"
    )]
    pub(crate) fn public_key_pem(&self, alg: SigningAlg) -> String {
        match alg {
            SigningAlg::Rs256 => self.rsa_public.to_public_key_pem(LineEnding::LF),
            SigningAlg::Es256 => self.ec.verifying_key().to_public_key_pem(LineEnding::LF),
        }
        .expect("encoding a valid public key as PEM does not fail")
    }
}
