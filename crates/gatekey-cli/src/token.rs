//! Where the bearer token comes from, in this order: `--token` / `GATEKEY_TOKEN`, `--token-file`
//! / `GATEKEY_TOKEN_FILE`, then GitHub Actions' OIDC token endpoint
//! (`ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, present in jobs with
//! `permissions: id-token: write`), asked for `--audience`.

use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;
use url::Url;

use crate::failure::CliError;

/// Token sources. The `Debug` output never shows a token.
#[derive(Args, Clone)]
pub struct TokenArgs {
    /// Bearer token: an OIDC token from an issuer Gatekey trusts.
    #[arg(long, env = "GATEKEY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the bearer token (surrounding whitespace is ignored).
    #[arg(long, env = "GATEKEY_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Audience to ask the CI system's token endpoint for; must be one Gatekey accepts.
    #[arg(long, env = "GATEKEY_AUDIENCE", default_value = "gatekey")]
    pub audience: String,
    /// GitHub Actions' token endpoint (set by the runner).
    #[arg(long, env = "ACTIONS_ID_TOKEN_REQUEST_URL", hide = true)]
    pub actions_id_token_request_url: Option<Url>,
    /// The runner's credential for that endpoint (set by the runner).
    #[arg(
        long,
        env = "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        hide = true,
        hide_env_values = true
    )]
    pub actions_id_token_request_token: Option<String>,
}

impl std::fmt::Debug for TokenArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |value: &Option<String>| value.as_ref().map(|_| "<redacted>");
        f.debug_struct("TokenArgs")
            .field("token", &redacted(&self.token))
            .field("token_file", &self.token_file)
            .field("audience", &self.audience)
            .field(
                "actions_id_token_request_url",
                &self.actions_id_token_request_url.as_ref().map(Url::origin),
            )
            .field(
                "actions_id_token_request_token",
                &redacted(&self.actions_id_token_request_token),
            )
            .finish()
    }
}

#[derive(Deserialize)]
struct ActionsTokenResponse {
    value: String,
}

fn non_empty(token: &str, source: &'static str) -> Result<String, CliError> {
    let token = token.trim();
    if token.is_empty() {
        Err(CliError::EmptyToken(source))
    } else {
        Ok(token.to_owned())
    }
}

impl TokenArgs {
    /// The bearer token from the first source that is set.
    pub async fn resolve(&self, http: &reqwest::Client) -> Result<String, CliError> {
        if let Some(token) = &self.token {
            return non_empty(token, "--token");
        }
        if let Some(path) = &self.token_file {
            let token = std::fs::read_to_string(path).map_err(|source| CliError::TokenFile {
                path: path.clone(),
                source,
            })?;
            return non_empty(&token, "--token-file");
        }
        if let (Some(url), Some(request_token)) = (
            &self.actions_id_token_request_url,
            &self.actions_id_token_request_token,
        ) {
            return self.github_actions_token(http, url, request_token).await;
        }
        Err(CliError::NoToken)
    }

    async fn github_actions_token(
        &self,
        http: &reqwest::Client,
        endpoint: &Url,
        request_token: &str,
    ) -> Result<String, CliError> {
        let mut url = endpoint.clone();
        url.query_pairs_mut()
            .append_pair("audience", &self.audience);
        let unreachable = |source| CliError::Unreachable {
            what: "the CI token endpoint",
            source,
        };
        let response = http
            .get(url)
            .bearer_auth(request_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(CliError::CiTokenRefused {
                status: response.status().as_u16(),
            });
        }
        let body: ActionsTokenResponse =
            response.json().await.map_err(CliError::CiTokenMalformed)?;
        non_empty(&body.value, "the CI token endpoint")
    }
}
