//! `gatekey-dev-idp`: runs the development OpenID provider for the local demo.

use std::net::SocketAddr;

use clap::Parser;
use gatekey_dev_idp::DevIdpConfig;

#[derive(Debug, Parser)]
#[command(
    about = "Development OpenID provider (never for production: it signs whatever it is asked)"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().init();
    let args = Args::parse();
    let idp = gatekey_dev_idp::start(DevIdpConfig {
        addr: args.listen,
        ..DevIdpConfig::default()
    })
    .await?;
    tracing::info!(issuer = %idp.issuer(), "dev OpenID provider listening; POST {}/token for a token", idp.issuer());
    tokio::signal::ctrl_c().await?;
    idp.shutdown().await;
    Ok(())
}
