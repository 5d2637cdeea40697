//! Files Gatekey reads its secrets and certificates from (mounted Kubernetes secrets and the
//! like): the Kong admin token and client identity, the Redis password, the Backstage catalog
//! token and the proxy secrets. One reader, so every such file fails with the same message naming
//! what it was for, and every secret is trimmed of the newline editors and `echo` leave.

use std::path::Path;

use secrecy::SecretString;

/// A file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {what} {path}: {source}")]
pub struct FileError {
    what: &'static str,
    path: String,
    source: std::io::Error,
}

/// The bytes of the file at `path`, which holds `what` (for the error message).
pub fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, FileError> {
    std::fs::read(path).map_err(|source| FileError {
        what,
        path: path.display().to_string(),
        source,
    })
}

/// The secret in the file at `path`, without surrounding whitespace.
pub fn read_secret_file(what: &'static str, path: &Path) -> Result<SecretString, FileError> {
    let bytes = read_file(what, path)?;
    Ok(SecretString::from(
        String::from_utf8_lossy(&bytes).trim().to_owned(),
    ))
}
