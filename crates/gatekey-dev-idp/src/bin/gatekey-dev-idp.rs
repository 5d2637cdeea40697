//! `gatekey-dev-idp`: runs the development OpenID provider for the local demo. Prints the issuer
//! URL on stdout, then serves until SIGINT or SIGTERM.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use gatekey_dev_idp::DevIdpConfig;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Development OpenID provider for Gatekey's tests and local demo. Never deploy it: it signs whatever it is asked."
)]
struct Args {
    /// Address to listen on; the issuer is http://<this address><issuer path>.
    #[arg(long, env = "GATEKEY_DEV_IDP_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Path under which the issuer lives, e.g. `/realms/dev`.
    #[arg(long, default_value = "")]
    issuer_path: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let idp = gatekey_dev_idp::start(DevIdpConfig {
        addr: args.listen,
        issuer_path: args.issuer_path,
    })
    .await?;
    let issuer = idp.issuer();
    println!("{issuer}");
    tracing::info!(
        %issuer,
        "dev OpenID provider listening (development only); get a token with: curl -s -X POST {issuer}/token -H 'content-type: application/json' -d '{{\"sub\":\"user:default/jane\",\"groups\":[\"payments-team\"]}}'"
    );
    shutdown_signal().await?;
    tracing::info!("stopping");
    idp.shutdown().await;
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT"),
        _ = terminate.recv() => Ok(()),
    }
}
