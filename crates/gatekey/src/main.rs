//! The `gatekey` binary composes the service (`gatekey-server`) and the client (`gatekey-cli`),
//! so neither library depends on the other. `gatekey serve` runs the service, `gatekey openapi` prints the OpenAPI
//! document the committed `openapi/gatekey.json` is generated from, `gatekey check-config`
//! validates configuration and policy without starting anything, `gatekey healthcheck` probes a
//! running instance (for container health checks in images that have no shell or curl), and
//! `gatekey credentials …` / `gatekey apis` are the client subcommands of `gatekey-cli`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gatekey_server::config::Settings;
use gatekey_server::startup::{Application, load_policy, verifier};
use gatekey_server::{routes, telemetry};

/// mimalloc instead of glibc's malloc: a mint allocates and frees many short-lived buffers
/// (BSON commands, HTTP messages, the MongoDB driver's per-checkout buffers), and glibc spent
/// 28 % of a mint's instructions on them (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "gatekey",
    version,
    about = "Short-lived, scoped Kong credentials",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// The service's settings, for `gatekey` alone (the same as `gatekey serve`).
    #[command(flatten)]
    config: ConfigArg,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Where the service's settings are: taken by the subcommands that read them, and only those.
#[derive(Debug, clap::Args)]
struct ConfigArg {
    /// Configuration file (TOML); `GATEKEY_*` variables override it.
    #[arg(long, short, env = "GATEKEY_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve(ConfigArg),
    /// Print the OpenAPI document as JSON.
    Openapi,
    /// Validate the configuration and the policy file, then exit.
    CheckConfig(ConfigArg),
    /// Exit 0 when the service answers `/healthz` with 200 (for container health checks).
    Healthcheck {
        #[command(flatten)]
        config: ConfigArg,
        /// The URL to probe; defaults to `/healthz` on loopback at the configured port.
        #[arg(long)]
        url: Option<String>,
    },
    /// Test, diff and explain policy files, offline (for the platform team's CI).
    #[command(subcommand)]
    Policy(gatekey_cli::policy::PolicyCommand),
    #[command(flatten)]
    Client(Box<gatekey_cli::ClientCommand>),
}

/// Loads the settings, or prints why not; without a file, says how to give one, since the
/// defaults alone (no trusted issuer) never make a working service.
fn load_settings(config: &ConfigArg) -> Result<Settings, ExitCode> {
    Settings::load(config.config.as_deref()).map_err(|err| {
        eprintln!("error: {err}");
        if config.config.is_none() {
            eprintln!(
                "hint: no configuration file was given; pass one with --config FILE (or set \
                 GATEKEY_CONFIG). deploy/local/gatekey.toml is a working example, \
                 docs/configuration.md lists every setting."
            );
        }
        ExitCode::FAILURE
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(cli.config)) {
        Command::Openapi => match routes::openapi().to_pretty_json() {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: cannot render the OpenAPI document: {err}");
                ExitCode::FAILURE
            }
        },
        Command::CheckConfig(config) => check_config(&config),
        Command::Healthcheck { config, url } => healthcheck(&config, url).await,
        Command::Serve(config) => serve(&config).await,
        Command::Policy(command) => gatekey_cli::policy::run(&command),
        Command::Client(command) => gatekey_cli::run(*command).await,
    }
}

fn check_config(config: &ConfigArg) -> ExitCode {
    let settings = match load_settings(config) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    // The token verifier is built as at startup (nothing is fetched), so every issuer problem
    // startup would refuse is reported here too.
    if let Err(err) = verifier(&settings) {
        eprintln!("error: {err}");
        return ExitCode::FAILURE;
    }
    match load_policy(&settings) {
        Ok(policy) => {
            let ids: Vec<&str> = policy.apis().map(|api| api.id.as_str()).collect();
            let apis = match ids.len() {
                0 => "no API".to_owned(),
                1 => format!("1 API ({})", ids[0]),
                n => format!("{n} APIs ({})", ids.join(", ")),
            };
            println!("configuration OK; the policy file defines {apis}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn healthcheck(config: &ConfigArg, url: Option<String>) -> ExitCode {
    let url = match url {
        Some(url) => url,
        None => match load_settings(config) {
            Ok(settings) => format!("http://127.0.0.1:{}/healthz", settings.listen.port()),
            Err(code) => return code,
        },
    };
    let answer = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map(|client| client.get(&url).send());
    match answer {
        Ok(request) => match request.await {
            Ok(response) if response.status().is_success() => ExitCode::SUCCESS,
            Ok(response) => {
                eprintln!("unhealthy: {url} answered {}", response.status());
                ExitCode::FAILURE
            }
            Err(err) => {
                eprintln!("unhealthy: {url}: {err}");
                ExitCode::FAILURE
            }
        },
        Err(err) => {
            eprintln!("error: cannot build an HTTP client: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: &ConfigArg) -> ExitCode {
    let settings = match load_settings(config) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let _telemetry = match telemetry::init(&settings.log) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let app = match Application::build(&settings).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(addr = %app.local_addr(), "gatekey listening");
    match app.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}
