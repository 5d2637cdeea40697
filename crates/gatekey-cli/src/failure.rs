//! Why a command failed, and the exit status each failure maps to. Pipelines branch on the exit
//! status (retry on 6, alert on 1, fix the policy on 4), so each class has its own number.

use std::path::PathBuf;

use gatekey_client::types::Problem;

/// The documented exit statuses of the client subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    Success = 0,
    /// Gatekey answered 5xx or something unexpected, or could not be reached.
    ServerOrNetwork = 1,
    /// Bad arguments, or no token source (clap uses 2 for its usage errors too).
    Usage = 2,
    /// Gatekey refused the token (401), or the CI token endpoint refused to issue one.
    Unauthenticated = 3,
    /// The policy denied the request (403).
    Denied = 4,
    /// No such API or credential (404).
    NotFound = 5,
    /// Rate limited (429); retry after the time printed.
    RateLimited = 6,
    /// Gatekey refused the request as invalid (400, 409, 413, 422): unknown scope, TTL out of
    /// bounds, a credential that never became active.
    Rejected = 7,
    /// A bulk revocation job ended with credentials it could not revoke (listed on stdout);
    /// run it again once the cause is fixed.
    Incomplete = 8,
}

/// Everything that can go wrong in a client subcommand.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(
        "no token: pass --token, set GATEKEY_TOKEN, pass --token-file, or run in GitHub Actions \
         with `permissions: id-token: write`"
    )]
    NoToken,
    #[error("cannot read the token file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the token from {0} is empty")]
    EmptyToken(&'static str),
    #[error("invalid --{option}: {reason}")]
    InvalidArgument {
        option: &'static str,
        reason: String,
    },
    #[error("the CI token endpoint answered {status}")]
    CiTokenRefused { status: u16 },
    #[error("the CI token endpoint's answer has no `value`: {0}")]
    CiTokenMalformed(reqwest::Error),
    #[error("cannot reach {what}: {source}")]
    Unreachable {
        what: &'static str,
        source: reqwest::Error,
    },
    #[error("{status} {code}: {detail}{}", request_id.as_deref().map(|id| format!(" (request id {id})")).unwrap_or_default())]
    Api {
        status: u16,
        code: String,
        detail: String,
        request_id: Option<String>,
        retry_after: Option<String>,
    },
    #[error("unexpected answer from Gatekey: {0}")]
    Unexpected(String),
    #[error("the server's {0} contains control characters; refusing to print it")]
    UnsafeValue(&'static str),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("bulk revocation job {id} could not revoke {failed} credentials")]
    JobFailures { id: String, failed: i64 },
}

impl CliError {
    /// The exit status this failure ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Self::NoToken
            | Self::TokenFile { .. }
            | Self::EmptyToken(_)
            | Self::InvalidArgument { .. } => ExitStatus::Usage,
            Self::CiTokenRefused { .. } => ExitStatus::Unauthenticated,
            Self::Api { status, .. } => match status {
                401 => ExitStatus::Unauthenticated,
                403 => ExitStatus::Denied,
                404 => ExitStatus::NotFound,
                429 => ExitStatus::RateLimited,
                400 | 409 | 413 | 422 => ExitStatus::Rejected,
                _ => ExitStatus::ServerOrNetwork,
            },
            Self::CiTokenMalformed(_)
            | Self::Unreachable { .. }
            | Self::Unexpected(_)
            | Self::UnsafeValue(_)
            | Self::Output(_) => ExitStatus::ServerOrNetwork,
            Self::JobFailures { .. } => ExitStatus::Incomplete,
        }
    }
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

impl CliError {
    /// Converts the generated client's error. Statuses the OpenAPI document does not list (a 429
    /// from a proxy or a newer server) still carry a problem body when Gatekey sent them, so it is
    /// read here.
    pub async fn from_client(error: gatekey_client::Error<Problem>) -> Self {
        use gatekey_client::Error;
        match error {
            Error::ErrorResponse(response) => {
                let request_id = header(response.headers(), "x-request-id");
                let retry_after = header(response.headers(), "retry-after");
                let status = response.status().as_u16();
                let problem = response.into_inner();
                Self::Api {
                    status,
                    code: problem.code,
                    detail: problem.detail,
                    request_id,
                    retry_after,
                }
            }
            Error::UnexpectedResponse(response) => {
                let status = response.status();
                let request_id = header(response.headers(), "x-request-id");
                let retry_after = header(response.headers(), "retry-after");
                let problem = response.json::<Problem>().await.ok();
                Self::Api {
                    status: status.as_u16(),
                    code: problem
                        .as_ref()
                        .map_or("unexpected_status", |p| p.code.as_str())
                        .to_owned(),
                    detail: problem.map_or_else(
                        || {
                            status
                                .canonical_reason()
                                .unwrap_or("undocumented status")
                                .to_owned()
                        },
                        |p| p.detail,
                    ),
                    request_id,
                    retry_after,
                }
            }
            Error::CommunicationError(source)
            | Error::InvalidUpgrade(source)
            | Error::ResponseBodyError(source) => Self::Unreachable {
                what: "Gatekey",
                source,
            },
            Error::InvalidResponsePayload(_, source) => Self::Unexpected(source.to_string()),
            Error::InvalidRequest(reason) | Error::Custom(reason) => Self::Unexpected(reason),
        }
    }
}
