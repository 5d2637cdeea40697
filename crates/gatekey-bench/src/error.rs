//! Why a benchmark run could not be set up. Failures of individual requests under load are not
//! errors of the run: they are counted per scenario and reported in the table.

use std::path::PathBuf;

/// A benchmark run that could not start or finish its setup.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    #[error("{what} binary not found at {path}; build it first (scripts/bench.sh does)")]
    MissingBinary { what: &'static str, path: PathBuf },
    #[error("cannot start {what}: {source}")]
    Spawn {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{what} exited during startup ({status}); its log:\n{log}")]
    Exited {
        what: &'static str,
        status: std::process::ExitStatus,
        log: String,
    },
    #[error("{what} did not listen on port {port} within {seconds} s; its log:\n{log}")]
    NotListening {
        what: &'static str,
        port: u16,
        seconds: u64,
        log: String,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("MongoDB: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("preparing the floor's database: {0}")]
    Store(#[from] gatekey_store::StoreError),
    #[error("{0}")]
    Setup(String),
    /// The bulk revocation job could not be started or followed to its end.
    #[error("bulk revocation job: {0}")]
    Job(String),
}
