//! Reading the policy file, and reading it again when it changes, without a restart.
//!
//! The file is checked exactly as at startup (syntax, every rule, groups naming a trusted
//! issuer, gateway URLs on the allow-list); a valid version replaces the policy in force
//! ([`PolicyHolder::replace_file`]), an invalid one is refused with the file, the place in the
//! document and the reason, and the previous policy keeps serving.
//!
//! The file is polled (its contents, every `policy_poll_interval_ms`) rather than watched with
//! inotify: a Kubernetes ConfigMap volume replaces the file by swapping a `..data` symlink in
//! the directory, which an inotify watch on the file never sees, and bind mounts, NFS and
//! Docker Desktop's file sharing drop events. Comparing the contents' digest sees every one of
//! these, costs one small read per interval, and needs no dependency. SIGHUP re-reads at once,
//! whether or not the contents changed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gatekey_core::gateway::{GatewayAllowList, GatewayUrlError};
use gatekey_core::policy::{GroupPrefixes, Policy, PolicyDocument, PolicyError};
use sha2::{Digest as _, Sha256};

use crate::config::Settings;
use crate::policy::{LoadTrigger, PolicyHolder};

/// Largest policy file read: far above any real policy, far below what hurts a replica.
pub const MAX_POLICY_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Why a policy file was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("policy file {path} is larger than {MAX_POLICY_FILE_BYTES} bytes")]
    TooLarge { path: String },
    #[error("policy file {path}: {source}")]
    Invalid { path: String, source: PolicyError },
    #[error("gateway.allowed_urls: {0}")]
    GatewayAllowList(GatewayUrlError),
    #[error("policy file {path}: API '{api}': gateway_url {source}")]
    GatewayUrl {
        path: String,
        api: String,
        source: GatewayUrlError,
    },
}

/// The policy file and everything its contents are checked against.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    path: PathBuf,
    prefixes: GroupPrefixes,
    gateways: GatewayAllowList,
    /// `policy_source_revision` from the settings (the environment): wins over the file's.
    source_revision: Option<String>,
}

/// One read of the file: the validated policy, and the digest of the bytes it came from.
#[derive(Debug)]
pub struct FileRead {
    pub policy: Policy,
    contents: [u8; 32],
}

impl PolicyFile {
    pub fn from_settings(settings: &Settings) -> Result<Self, PolicyFileError> {
        Ok(Self {
            path: settings.policy_file.clone(),
            prefixes: settings.auth.group_prefixes(),
            gateways: settings
                .gateway
                .allow_list()
                .map_err(PolicyFileError::GatewayAllowList)?,
            source_revision: settings.policy_source_revision.clone(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and validates the file: with several issuers, every group it grants must start
    /// with one of their `group_prefix` values, and every API's `gateway_url` must be covered by
    /// `gateway.allowed_urls`.
    pub async fn read(&self) -> Result<FileRead, PolicyFileError> {
        let bytes = self.read_bytes().await?;
        let contents: [u8; 32] = Sha256::digest(&bytes).into();
        Ok(FileRead {
            policy: self.validate(&bytes)?,
            contents,
        })
    }

    /// [`Self::read`] for callers without a runtime (`gatekey check-config`, startup).
    pub fn read_now(&self) -> Result<Policy, PolicyFileError> {
        let bytes = std::fs::read(&self.path).map_err(|source| self.read_error(source))?;
        self.validate(&bytes)
    }

    async fn read_bytes(&self) -> Result<Vec<u8>, PolicyFileError> {
        let metadata = tokio::fs::metadata(&self.path)
            .await
            .map_err(|source| self.read_error(source))?;
        if metadata.len() > MAX_POLICY_FILE_BYTES {
            return Err(PolicyFileError::TooLarge {
                path: self.display(),
            });
        }
        tokio::fs::read(&self.path)
            .await
            .map_err(|source| self.read_error(source))
    }

    fn validate(&self, bytes: &[u8]) -> Result<Policy, PolicyFileError> {
        let path = self.display();
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_POLICY_FILE_BYTES {
            return Err(PolicyFileError::TooLarge { path });
        }
        let text = std::str::from_utf8(bytes).map_err(|err| PolicyFileError::Read {
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, err),
        })?;
        let policy = PolicyDocument::parse(&path, text)
            .and_then(|document| document.validate_for_issuers(&self.prefixes))
            .map_err(|source| PolicyFileError::Invalid {
                path: path.clone(),
                source,
            })?;
        for api in policy.apis() {
            self.gateways.check(&api.gateway_url).map_err(|source| {
                PolicyFileError::GatewayUrl {
                    path: path.clone(),
                    api: api.id.clone(),
                    source,
                }
            })?;
        }
        Ok(policy.with_source_revision(self.source_revision.clone()))
    }

    fn display(&self) -> String {
        self.path.display().to_string()
    }

    fn read_error(&self, source: std::io::Error) -> PolicyFileError {
        PolicyFileError::Read {
            path: self.display(),
            source,
        }
    }
}

/// Keeps `holder`'s file part current: polls the file's contents every `interval` (never when
/// `None`) and re-reads it on SIGHUP. `loaded` is the read the service started with.
pub async fn watch_forever(
    file: PolicyFile,
    holder: Arc<PolicyHolder>,
    interval: Option<Duration>,
    started_with: FileRead,
) {
    let mut last_seen = started_with.contents;
    let mut hangup = hangup_signals();
    let mut ticker = interval.map(|interval| {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    });
    loop {
        let trigger = tokio::select! {
            () = async {
                match &mut ticker {
                    Some(ticker) => { ticker.tick().await; }
                    None => std::future::pending::<()>().await,
                }
            } => LoadTrigger::FileChanged,
            () = next_hangup(&mut hangup) => LoadTrigger::Signal,
        };
        reload(&file, &holder, trigger, &mut last_seen).await;
    }
}

/// Reads the file once more: installs a valid new version, refuses an invalid one. A poll skips
/// contents it has seen already (valid or refused), so a refused file is reported once, not at
/// every tick; SIGHUP always reads and reports.
pub async fn reload(
    file: &PolicyFile,
    holder: &PolicyHolder,
    trigger: LoadTrigger,
    last_seen: &mut [u8; 32],
) {
    let bytes = match file.read_bytes().await {
        Ok(bytes) => bytes,
        Err(err) => {
            // A ConfigMap swap can leave the path missing for an instant: a poll tries again.
            if trigger == LoadTrigger::Signal || !is_not_found(&err) {
                holder.refuse(err.to_string());
            }
            return;
        }
    };
    let contents: [u8; 32] = Sha256::digest(&bytes).into();
    if trigger == LoadTrigger::FileChanged && contents == *last_seen {
        return;
    }
    *last_seen = contents;
    match file.validate(&bytes) {
        Ok(policy) => {
            if let Err(err) = holder.replace_file(policy, trigger).await {
                holder.refuse(format!(
                    "policy file {}: does not merge with the catalog's APIs: {err}",
                    file.display()
                ));
            }
        }
        Err(err) => holder.refuse(err.to_string()),
    }
}

fn is_not_found(err: &PolicyFileError) -> bool {
    matches!(err, PolicyFileError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

/// SIGHUP, where there is one; the watch goes on without it when it cannot be installed.
#[cfg(unix)]
fn hangup_signals() -> Hangups {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for SIGHUP; the policy file is only polled");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup_signals() -> Hangups {}

#[cfg(unix)]
async fn next_hangup(hangups: &mut Hangups) {
    match hangups {
        Some(signal) => {
            if signal.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangups) {
    std::future::pending::<()>().await;
}
