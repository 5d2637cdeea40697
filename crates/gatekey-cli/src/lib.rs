//! The client side of the `gatekey` binary, for pipelines and people at a terminal:
//! `gatekey credentials mint|list|revoke` and `gatekey apis`, and the offline policy tools
//! `gatekey policy test|diff|explain` ([`policy`]). The client subcommands talk to a Gatekey
//! server through the client generated from the OpenAPI document (`gatekey-client`), so the CLI
//! cannot drift from the HTTP surface; the policy tools decide with `gatekey-core`, the service's
//! own decision code. Exit statuses are documented in [`ExitStatus`] and `docs/ci.md`.

mod bulk;
mod failure;
pub mod policy;
mod render;
mod token;

use std::io::Write;
use std::num::NonZeroU32;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use gatekey_client::types::{MintCredentialRequest, MintCredentialRequestPurpose, Problem};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use url::Url;

pub use failure::{CliError, ExitStatus};
pub use token::TokenArgs;

/// The client subcommands, flattened into the `gatekey` binary's commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Mint, list and revoke credentials.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// List the APIs you may request credentials for, with their scopes and TTL bounds.
    Apis(ApisArgs),
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Mint a short-lived credential; the key is printed once, on stdout.
    Mint(MintArgs),
    /// List your credentials, newest first.
    List(ListArgs),
    /// Revoke a credential by id, or (admins) every credential matching --subject, --issuer and
    /// --api as one audited bulk revocation job, followed until it ends.
    Revoke(RevokeArgs),
}

/// Where Gatekey is and who is calling.
#[derive(Debug, Args)]
pub struct Connection {
    /// Gatekey's base URL, e.g. https://gatekey.example.com.
    #[arg(long, env = "GATEKEY_URL")]
    pub url: Url,
    #[command(flatten)]
    pub token: TokenArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MintFormat {
    /// The whole response, including the key.
    Json,
    /// `GATEKEY_KEY=...` lines, safe to append to `$GITHUB_ENV` or a dotenv file.
    Env,
    /// One `header-name: key` line.
    Header,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReadFormat {
    /// A table.
    Human,
    /// The response as JSON.
    Json,
}

#[derive(Debug, Args)]
pub struct MintArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// API id (see `gatekey apis`).
    #[arg(long)]
    pub api: String,
    /// Scope to grant; repeat or separate with commas.
    #[arg(long = "scope", required = true, value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// Lifetime, e.g. `15m`, `1h`, `90s` or plain seconds; the API's default when omitted.
    #[arg(long, value_parser = parse_ttl)]
    pub ttl: Option<u32>,
    /// Why the credential is needed (listings and the audit trail show it).
    #[arg(long)]
    pub purpose: Option<String>,
    #[arg(long, value_enum, default_value_t = MintFormat::Json)]
    pub format: MintFormat,
    /// Prefix of the variable names `--format env` prints.
    #[arg(long, default_value = "GATEKEY_", value_parser = parse_env_prefix)]
    pub env_prefix: String,
    /// Makes retries of the same mint safe; a random UUID when omitted.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Only credentials for this API.
    #[arg(long)]
    pub api: Option<String>,
    /// Page size, 1 to 200.
    #[arg(long, default_value_t = 50)]
    pub limit: u8,
    #[arg(long, value_enum, default_value_t = ReadFormat::Human)]
    pub format: ReadFormat,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["id", "subject", "issuer", "api"])))]
pub struct RevokeArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Credential id (from `mint` or `list`).
    #[arg(conflicts_with_all = ["subject", "issuer", "api", "reason", "dry_run"])]
    pub id: Option<String>,
    #[command(flatten)]
    pub bulk: BulkFilterArgs,
    #[arg(long, value_enum, default_value_t = ReadFormat::Human)]
    pub format: ReadFormat,
}

/// A bulk revocation's filter and reason (admins).
#[derive(Debug, Args)]
pub struct BulkFilterArgs {
    /// Every credential of this subject (at every issuer unless --issuer is given).
    #[arg(long)]
    pub subject: Option<String>,
    /// Every credential of callers of this issuer (its URL).
    #[arg(long)]
    pub issuer: Option<String>,
    /// Every credential for this API.
    #[arg(long)]
    pub api: Option<String>,
    /// Why (required for a bulk revocation; recorded in the audit trail).
    #[arg(long, required_unless_present = "id")]
    pub reason: Option<String>,
    /// Only count and list what would be revoked.
    #[arg(long)]
    pub dry_run: bool,
}

/// A bulk revocation as [`bulk::revoke`] runs it.
#[derive(Debug)]
pub(crate) struct BulkArgs {
    pub(crate) connection: Connection,
    pub(crate) subject: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) api: Option<String>,
    pub(crate) reason: String,
    pub(crate) dry_run: bool,
    pub(crate) format: ReadFormat,
}

#[derive(Debug, Args)]
pub struct ApisArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[arg(long, value_enum, default_value_t = ReadFormat::Human)]
    pub format: ReadFormat,
}

/// Whole seconds from `15m`, `1h 30m`, `90s` or `900`, above zero.
fn parse_ttl(value: &str) -> Result<u32, String> {
    match gatekey_core::duration::parse_whole_seconds(value) {
        Ok(0) => Err("must be positive".to_owned()),
        Ok(seconds) => Ok(seconds),
        Err(err) => Err(err.to_string()),
    }
}

/// An env variable name prefix: `[A-Z_][A-Z0-9_]*`.
fn parse_env_prefix(value: &str) -> Result<String, String> {
    let mut chars = value.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(value.to_owned())
    } else {
        Err("use upper-case letters, digits and underscores, e.g. ORDERS_".to_owned())
    }
}

fn http_client(headers: HeaderMap) -> Result<reqwest::Client, CliError> {
    reqwest::Client::builder()
        .user_agent(concat!("gatekey-cli/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()
        .map_err(|source| CliError::Unreachable {
            what: "the network (TLS setup)",
            source,
        })
}

/// The generated client, authenticated with the resolved token.
async fn connect(connection: &Connection) -> Result<gatekey_client::Client, CliError> {
    let token = connection
        .token
        .resolve(&http_client(HeaderMap::new())?)
        .await?;
    let mut bearer = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        CliError::InvalidArgument {
            option: "token",
            reason: "not a valid header value".to_owned(),
        }
    })?;
    bearer.set_sensitive(true);
    let http = http_client(HeaderMap::from_iter([(AUTHORIZATION, bearer)]))?;
    let base = connection.url.as_str().trim_end_matches('/');
    Ok(gatekey_client::Client::new_with_client(base, http))
}

/// The body of a successful answer, or the failure it stands for.
async fn answer<T>(
    result: Result<gatekey_client::ResponseValue<T>, gatekey_client::Error<Problem>>,
) -> Result<T, CliError> {
    match result {
        Ok(response) => Ok(response.into_inner()),
        Err(error) => Err(CliError::from_client(error).await),
    }
}

/// Runs `command`, writing results to `out` and diagnostics (including the masked mint
/// summary) to `log`.
pub async fn execute(
    command: ClientCommand,
    out: &mut dyn Write,
    log: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        ClientCommand::Apis(args) => {
            let client = connect(&args.connection).await?;
            let apis = answer(client.list_apis().send().await).await?;
            match args.format {
                ReadFormat::Human => render::api_table(out, &apis),
                ReadFormat::Json => render::json(out, &apis),
            }
        }
        ClientCommand::Credentials(CredentialsCommand::Mint(args)) => mint(args, out, log).await,
        ClientCommand::Credentials(CredentialsCommand::List(args)) => {
            let client = connect(&args.connection).await?;
            let mut request = client.list_credentials().limit(u32::from(args.limit));
            if let Some(api) = args.api {
                request = request.api_id(api);
            }
            let page = answer(request.send().await).await?;
            match args.format {
                ReadFormat::Human => render::credential_table(out, &page),
                ReadFormat::Json => render::json(out, &page),
            }
        }
        ClientCommand::Credentials(CredentialsCommand::Revoke(args)) => {
            let RevokeArgs {
                connection,
                id,
                bulk,
                format,
            } = args;
            let Some(id) = id else {
                let bulk = BulkArgs {
                    connection,
                    subject: bulk.subject,
                    issuer: bulk.issuer,
                    api: bulk.api,
                    reason: bulk.reason.unwrap_or_default(),
                    dry_run: bulk.dry_run,
                    format,
                };
                return bulk::revoke(bulk, out, log).await;
            };
            let client = connect(&connection).await?;
            let revoked = answer(client.revoke_credential().id(id).send().await).await?;
            match format {
                ReadFormat::Human => {
                    writeln!(out, "revoked {}", revoked.id)?;
                    Ok(())
                }
                ReadFormat::Json => render::json(out, &revoked),
            }
        }
    }
}

async fn mint(args: MintArgs, out: &mut dyn Write, log: &mut dyn Write) -> Result<(), CliError> {
    let client = connect(&args.connection).await?;
    let idempotency_key = args
        .idempotency_key
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let body = MintCredentialRequest {
        scopes: args.scopes,
        ttl_seconds: args
            .ttl
            .map(|ttl| {
                NonZeroU32::new(ttl).ok_or(CliError::InvalidArgument {
                    option: "ttl",
                    reason: "must be above 0".to_owned(),
                })
            })
            .transpose()?,
        purpose: args
            .purpose
            .map(MintCredentialRequestPurpose::try_from)
            .transpose()
            .map_err(|_| CliError::InvalidArgument {
                option: "purpose",
                reason: "at most 200 characters".to_owned(),
            })?,
    };
    let minted = answer(
        client
            .mint_credential()
            .id(args.api)
            .idempotency_key(idempotency_key)
            .body(body)
            .send()
            .await,
    )
    .await?;
    match args.format {
        MintFormat::Json => render::json(out, &minted)?,
        MintFormat::Env => render::env_lines(out, &args.env_prefix, &minted)?,
        MintFormat::Header => render::header_line(out, &minted)?,
    }
    render::mint_summary(log, &minted)
}

/// Runs `command` on the process's stdout and stderr and turns the outcome into its exit status.
pub async fn run(command: ClientCommand) -> std::process::ExitCode {
    let mut out = std::io::stdout().lock();
    let mut log = std::io::stderr();
    let status = match execute(command, &mut out, &mut log).await {
        Ok(()) => ExitStatus::Success,
        Err(error) => {
            let _ = writeln!(log, "error: {error}");
            if let CliError::Api {
                retry_after: Some(seconds),
                ..
            } = &error
            {
                let _ = writeln!(log, "retry after {seconds} s");
            }
            error.exit_status()
        }
    };
    std::process::ExitCode::from(status as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_accept_units_and_plain_seconds() {
        assert_eq!(parse_ttl("15m"), Ok(900));
        assert_eq!(parse_ttl("1h 30m"), Ok(5400));
        assert_eq!(parse_ttl("90"), Ok(90));
        assert!(parse_ttl("0").is_err());
        assert!(parse_ttl("1.5s").is_err());
        assert!(parse_ttl("soon").is_err());
    }

    #[test]
    fn env_prefixes_are_variable_names() {
        assert_eq!(parse_env_prefix("ORDERS_"), Ok("ORDERS_".to_owned()));
        for bad in ["", "orders_", "1X", "A-B", "A B", "A\nB"] {
            assert!(parse_env_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
