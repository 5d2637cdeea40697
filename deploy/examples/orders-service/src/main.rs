//! `orders-service`: runs the example upstream (deploy/examples/orders-service) behind Kong, as
//! the compose stack does. Listen only where Kong alone can reach it (docs/provenance.md).

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "Example upstream that records the Gatekey credential behind every change")]
struct Args {
    /// Listener; reachable by Kong only (a private network, or mTLS from Kong).
    #[arg(long, env = "ORDERS_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// MongoDB connection string.
    #[arg(long, env = "ORDERS_MONGODB_URI")]
    mongodb_uri: String,
    /// Database of the `orders` and `order_changes` collections. The provenance aggregation
    /// joins them with Gatekey's `issuances`, so it is Gatekey's database unless the issuances
    /// are copied next to them (docs/provenance.md).
    #[arg(long, env = "ORDERS_DATABASE", default_value = "gatekey")]
    database: String,
}

/// Waits for Ctrl-C or SIGTERM (container stop).
async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(terminate) => terminate,
            Err(error) => {
                tracing::warn!(%error, "no SIGTERM handler; stopping on Ctrl-C only");
                let _ = interrupt.await;
                return;
            }
        };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let client = mongodb::Client::with_uri_str(&args.mongodb_uri)
        .await
        .context("MongoDB connection string")?;
    let database = client.database(&args.database);
    gatekey_example_orders::ensure_indexes(&database)
        .await
        .context("cannot create the order_changes index")?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(listen = %args.listen, database = %args.database, "orders-service started");
    gatekey_example_orders::serve(listener, &database, stop_signal()).await?;
    Ok(())
}
