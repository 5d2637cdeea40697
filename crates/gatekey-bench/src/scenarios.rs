//! The operations the bench sends to Gatekey, one HTTP request each, over one keep-alive client.
//! Client `n` is subject `bench-user-<n>` with its own token, so the token cache and the
//! per-subject listing see many callers; the credentials a client mints are the ones it later
//! revokes. The bulk revocation scenario calls as callers of its own (an owner, an admin).

use std::sync::Mutex;
use std::time::Instant;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};

use crate::error::BenchError;
use crate::load::Outcome;
use crate::stack::MINT_API;

/// The part of a mint's answer the bench keeps.
#[derive(serde::Deserialize)]
struct Minted {
    credential: MintedCredential,
}

#[derive(serde::Deserialize)]
struct MintedCredential {
    id: String,
}

/// The part of a bulk revocation job's status the bench reads.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct JobProgress {
    pub id: String,
    /// `running`, then `done`.
    pub state: String,
    pub revoked: u64,
    pub failed: u64,
    pub remaining: u64,
}

/// Gatekey, and what each client needs to call it.
#[derive(Debug)]
pub(crate) struct Gatekey {
    http: reqwest::Client,
    base: String,
    /// `Bearer <token>` of client n.
    authorizations: Vec<HeaderValue>,
    /// Credential ids client n minted and has not revoked yet.
    minted: Vec<Mutex<Vec<String>>>,
    /// When the latest mint request was sent.
    last_mint: Mutex<Option<Instant>>,
}

/// The `Authorization` value of `token`.
pub(crate) fn bearer(token: &str) -> Result<HeaderValue, BenchError> {
    HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| BenchError::Setup("the OpenID provider's token is no header value".to_owned()))
}

impl Gatekey {
    #[expect(
        clippy::expect_used,
        reason = "the tokens are JWTs the bench minted: base64url and dots"
    )]
    pub(crate) fn new(http: reqwest::Client, base: String, tokens: &[String]) -> Self {
        Self {
            http,
            base,
            authorizations: tokens
                .iter()
                .map(|token| {
                    HeaderValue::from_str(&format!("Bearer {token}"))
                        .expect("a JWT is a valid header value")
                })
                .collect(),
            minted: tokens.iter().map(|_| Mutex::new(Vec::new())).collect(),
            last_mint: Mutex::new(None),
        }
    }

    /// When the latest mint request was sent, if any was.
    pub(crate) fn last_mint(&self) -> Option<Instant> {
        *self
            .last_mint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn auth(&self, client: usize) -> HeaderValue {
        self.authorizations[client % self.authorizations.len()].clone()
    }

    /// `GET /v1/apis`.
    pub(crate) async fn list_apis(&self, client: usize) -> Outcome {
        let request = self
            .http
            .get(format!("{}/v1/apis", self.base))
            .header(AUTHORIZATION, self.auth(client));
        expect_status(request.send().await, StatusCode::OK)
            .await
            .map_or_else(Outcome::Failed, |_| Outcome::Ok)
    }

    /// `POST /v1/apis/{MINT_API}/credentials` for the `read` scope; remembers the credential id.
    pub(crate) async fn mint(&self, client: usize) -> Outcome {
        match self.mint_one(client).await {
            Ok(id) => {
                self.pool(client).push(id);
                Outcome::Ok
            }
            Err(detail) => Outcome::Failed(detail),
        }
    }

    /// `POST /v1/apis/{MINT_API}/credentials` for the `read` scope: the new credential's id.
    pub(crate) async fn mint_one(&self, client: usize) -> Result<String, String> {
        self.mint_as(self.auth(client)).await
    }

    /// The same mint by the caller `authorization` (`Bearer <token>`) names.
    pub(crate) async fn mint_as(&self, authorization: HeaderValue) -> Result<String, String> {
        *self
            .last_mint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        let request = self
            .http
            .post(format!("{}/v1/apis/{MINT_API}/credentials", self.base))
            .header(AUTHORIZATION, authorization)
            .json(&serde_json::json!({
                "scopes": ["read"],
                "ttl_seconds": 600,
                "purpose": "gatekey-bench",
            }));
        let body = expect_status(request.send().await, StatusCode::CREATED).await?;
        serde_json::from_slice::<Minted>(&body)
            .map(|minted| minted.credential.id)
            .map_err(|err| format!("mint answer without a credential id: {err}"))
    }

    /// `DELETE /v1/credentials/{id}` of a credential this client minted.
    pub(crate) async fn revoke(&self, client: usize) -> Outcome {
        let Some(id) = self.pool(client).pop() else {
            return Outcome::Exhausted;
        };
        let request = self
            .http
            .delete(format!("{}/v1/credentials/{id}", self.base))
            .header(AUTHORIZATION, self.auth(client));
        expect_status(request.send().await, StatusCode::OK)
            .await
            .map_or_else(Outcome::Failed, |_| Outcome::Ok)
    }

    /// `GET /v1/credentials`: the first page (50) of the caller's credentials.
    pub(crate) async fn list_credentials(&self, client: usize) -> Outcome {
        let request = self
            .http
            .get(format!("{}/v1/credentials", self.base))
            .header(AUTHORIZATION, self.auth(client));
        expect_status(request.send().await, StatusCode::OK)
            .await
            .map_or_else(Outcome::Failed, |_| Outcome::Ok)
    }

    /// `POST /v1/credentials/revocations` by the admin `authorization` names, for every
    /// credential of `issuer`'s `subject`: the id of the job Gatekey accepted (202).
    pub(crate) async fn start_revocation(
        &self,
        authorization: HeaderValue,
        issuer: &str,
        subject: &str,
        reason: &str,
    ) -> Result<String, String> {
        let request = self
            .http
            .post(format!("{}/v1/credentials/revocations", self.base))
            .header(AUTHORIZATION, authorization)
            .json(&serde_json::json!({
                "filter": {"issuer": issuer, "subject": subject},
                "reason": reason,
            }));
        let body = expect_status(request.send().await, StatusCode::ACCEPTED).await?;
        serde_json::from_slice::<JobProgress>(&body)
            .map(|job| job.id)
            .map_err(|err| format!("revocation answer without a job: {err}"))
    }

    /// `GET /v1/credentials/revocations/{id}`: where the job stands.
    pub(crate) async fn revocation_progress(
        &self,
        authorization: HeaderValue,
        id: &str,
    ) -> Result<JobProgress, String> {
        let request = self
            .http
            .get(format!("{}/v1/credentials/revocations/{id}", self.base))
            .header(AUTHORIZATION, authorization);
        let body = expect_status(request.send().await, StatusCode::OK).await?;
        serde_json::from_slice::<JobProgress>(&body)
            .map_err(|err| format!("unexpected job progress: {err}"))
    }

    /// How many minted credentials wait to be revoked.
    pub(crate) fn unrevoked(&self) -> usize {
        (0..self.minted.len()).map(|n| self.pool(n).len()).sum()
    }

    fn pool(&self, client: usize) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.minted[client % self.minted.len()]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The body of a response with the expected status, or a one-line description of what came.
pub(crate) async fn expect_status(
    response: Result<reqwest::Response, reqwest::Error>,
    expected: StatusCode,
) -> Result<Vec<u8>, String> {
    let response = response.map_err(|err| format!("request failed: {err}"))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|err| format!("reading the body failed: {err}"))?;
    if status == expected {
        Ok(body.to_vec())
    } else {
        let text = String::from_utf8_lossy(&body);
        Err(format!(
            "{status}: {}",
            text.chars().take(200).collect::<String>()
        ))
    }
}
