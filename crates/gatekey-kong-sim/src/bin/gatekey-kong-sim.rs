//! `gatekey-kong-sim`: runs the Kong simulator (and optionally the echo upstream) for the local
//! demo and benchmarks, where a real Kong is not available.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use gatekey_kong_sim::{DeclarativeConfig, SimConfig};

#[derive(Debug, Parser)]
#[command(about = "Kong Admin API + proxy simulator (development and tests only)")]
struct Args {
    /// Admin API listener (Kong's default port).
    #[arg(long, default_value = "127.0.0.1:8001")]
    admin_listen: SocketAddr,
    /// Proxy listener (Kong's default port).
    #[arg(long, default_value = "127.0.0.1:8000")]
    proxy_listen: SocketAddr,
    /// decK-style declarative configuration to load at startup.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Also start the echo upstream on this address.
    #[arg(long)]
    echo_upstream: Option<SocketAddr>,
    /// Seconds a deletion (a revoked key) takes to reach the proxy, as Kong's
    /// `db_update_frequency` does for the other nodes of a cluster (Kong's default: 5).
    #[arg(long, default_value_t = 0.0)]
    db_update_frequency: f64,
}

/// Waits for Ctrl-C, or SIGTERM on Unix (container stop).
async fn stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let echo = match args.echo_upstream {
        Some(addr) => Some(gatekey_kong_sim::echo_upstream::start(addr).await?),
        None => None,
    };
    let declarative = args
        .config
        .as_deref()
        .map(DeclarativeConfig::from_file)
        .transpose()
        .context("cannot load --config")?;
    let sim = gatekey_kong_sim::start(SimConfig {
        admin_addr: args.admin_listen,
        proxy_addr: args.proxy_listen,
        declarative,
        db_update_frequency: Duration::try_from_secs_f64(args.db_update_frequency)
            .context("--db-update-frequency must be a non-negative number of seconds")?,
        ..SimConfig::default()
    })
    .await?;
    tracing::info!(admin = %sim.admin_url(), proxy = %sim.proxy_url(), "Kong simulator listening");
    println!("admin API: {}", sim.admin_url());
    println!("proxy:     {}", sim.proxy_url());
    if let Some(echo) = &echo {
        println!("echo:      {}", echo.url());
    }
    stop_signal().await?;
    tracing::info!("stopping");
    sim.shutdown().await;
    if let Some(echo) = echo {
        echo.shutdown().await;
    }
    Ok(())
}
