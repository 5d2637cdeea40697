//! The `gatekey` binary: `gatekey serve` runs the service, `gatekey openapi` prints the OpenAPI
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

#[derive(Debug, Parser)]
#[command(
    name = "gatekey",
    version,
    about = "Short-lived, scoped Kong credentials"
)]
struct Cli {
    /// Configuration file (TOML); `GATEKEY_*` variables override it.
    #[arg(long, short, global = true, env = "GATEKEY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Print the OpenAPI document as JSON.
    Openapi,
    /// Validate the configuration and the policy file, then exit.
    CheckConfig,
    /// Exit 0 when the service answers `/healthz` with 200 (for container health checks).
    Healthcheck {
        /// The URL to probe; defaults to `/healthz` on loopback at the configured port.
        #[arg(long)]
        url: Option<String>,
    },
    #[command(flatten)]
    Client(Box<gatekey_cli::ClientCommand>),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
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
        Command::CheckConfig => {
            match Settings::load(cli.config.as_deref())
                .map_err(|e| e.to_string())
                .and_then(|s| verifier(&s).map(|_| s).map_err(|e| e.to_string()))
                .and_then(|s| load_policy(&s).map_err(|e| e.to_string()))
            {
                Ok(policy) => {
                    println!(
                        "configuration OK; policy has {} APIs",
                        policy.apis().count()
                    );
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Healthcheck { url } => healthcheck(cli.config, url).await,
        Command::Serve => serve(cli.config).await,
        Command::Client(command) => gatekey_cli::run(*command).await,
    }
}

async fn healthcheck(config: Option<PathBuf>, url: Option<String>) -> ExitCode {
    let url = match url {
        Some(url) => url,
        None => match Settings::load(config.as_deref()) {
            Ok(settings) => format!("http://127.0.0.1:{}/healthz", settings.listen.port()),
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::FAILURE;
            }
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

async fn serve(config: Option<PathBuf>) -> ExitCode {
    let settings = match Settings::load(config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
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
