//! Output of the client subcommands. Machine formats go to stdout; the key appears only there and
//! only in `mint`'s JSON, env and header formats. Human output masks it.

use std::io::Write;

use gatekey_client::types::{ApiList, Credential, CredentialPage, MintedCredential};

use crate::failure::CliError;

/// The key with everything after its prefix replaced, e.g. `gk_********`.
pub fn mask(key: &str) -> String {
    match key.split_once('_') {
        Some((prefix, _)) if prefix.len() <= 8 => format!("{prefix}_********"),
        _ => "********".to_owned(),
    }
}

/// Refuses values a line-oriented consumer (an env file, an HTTP header) would misread.
fn checked<'a>(what: &'static str, value: &'a str) -> Result<&'a str, CliError> {
    if value.chars().any(char::is_control) {
        Err(CliError::UnsafeValue(what))
    } else {
        Ok(value)
    }
}

/// `NAME=value` lines for `$GITHUB_ENV`, GitLab dotenv reports and the like. Names are fixed
/// (with a validated prefix) and values contain no control characters, so no line can smuggle in
/// another variable or a heredoc delimiter.
pub fn env_lines(
    out: &mut dyn Write,
    prefix: &str,
    minted: &MintedCredential,
) -> Result<(), CliError> {
    let expires_at = minted.expires_at.to_rfc3339();
    let lines = [
        ("KEY", checked("key", &minted.key)?),
        ("HEADER", checked("header name", &minted.header_name)?),
        ("GATEWAY_URL", checked("gateway URL", &minted.gateway_url)?),
        (
            "CREDENTIAL_ID",
            checked("credential id", &minted.credential.id)?,
        ),
        ("EXPIRES_AT", expires_at.as_str()),
    ];
    for (name, value) in lines {
        writeln!(out, "{prefix}{name}={value}")?;
    }
    Ok(())
}

/// `header-name: key`, for `curl -H @file` and the like.
pub fn header_line(out: &mut dyn Write, minted: &MintedCredential) -> Result<(), CliError> {
    writeln!(
        out,
        "{}: {}",
        checked("header name", &minted.header_name)?,
        checked("key", &minted.key)?
    )?;
    Ok(())
}

pub fn json(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value)
        .map_err(|e| CliError::Output(std::io::Error::other(e)))?;
    writeln!(out)?;
    Ok(())
}

/// One line about a new credential for the log, key masked.
pub fn mint_summary(out: &mut dyn Write, minted: &MintedCredential) -> Result<(), CliError> {
    let credential = &minted.credential;
    writeln!(
        out,
        "minted {} for {} [{}], expires {}, key {} ({})",
        credential.id,
        credential.api_id,
        credential.scopes.join(","),
        minted.expires_at.to_rfc3339(),
        mask(&minted.key),
        credential
            .key_fingerprint
            .as_deref()
            .unwrap_or("no fingerprint"),
    )?;
    Ok(())
}

pub fn credential_table(out: &mut dyn Write, page: &CredentialPage) -> Result<(), CliError> {
    writeln!(
        out,
        "{:<26}  {:<16}  {:<16}  {:<8}  {:<25}  PURPOSE",
        "ID", "API", "SCOPES", "STATE", "EXPIRES"
    )?;
    for credential in &page.items {
        credential_row(out, credential)?;
    }
    if page.next_cursor.is_some() {
        writeln!(out, "(more: narrow with --api or raise --limit)")?;
    }
    Ok(())
}

fn credential_row(out: &mut dyn Write, credential: &Credential) -> Result<(), CliError> {
    writeln!(
        out,
        "{:<26}  {:<16}  {:<16}  {:<8}  {:<25}  {}",
        credential.id,
        credential.api_id,
        credential.scopes.join(","),
        credential.state.to_string(),
        credential.expires_at.to_rfc3339(),
        credential.purpose.as_deref().unwrap_or("")
    )?;
    Ok(())
}

pub fn api_table(out: &mut dyn Write, apis: &ApiList) -> Result<(), CliError> {
    writeln!(
        out,
        "{:<16}  {:<24}  {:<24}  {:<12}  GATEWAY",
        "ID", "TITLE", "SCOPES", "TTL (s)"
    )?;
    for api in &apis.items {
        let scopes: Vec<&str> = api.scopes.iter().map(|s| s.name.as_str()).collect();
        writeln!(
            out,
            "{:<16}  {:<24}  {:<24}  {:<12}  {}",
            api.id,
            api.title,
            scopes.join(","),
            format!("{}-{}", api.min_ttl_seconds, api.max_ttl_seconds),
            api.gateway_url
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minted(key: &str, gateway_url: &str) -> MintedCredential {
        serde_json::from_value(serde_json::json!({
            "credential": {
                "id": "01JCRED", "api_id": "orders", "subject": "repo:acme/orders",
                "issuer": "https://token.actions.githubusercontent.com", "scopes": ["read"],
                "state": "active", "ttl_seconds": 900,
                "issued_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-01T00:15:00Z",
                "key_fingerprint": "sha256:abc"
            },
            "key": key, "header_name": "apikey", "gateway_url": gateway_url,
            "expires_at": "2026-01-01T00:15:00Z"
        }))
        .expect("a minted credential")
    }

    #[test]
    fn env_lines_are_fixed_names_with_plain_values() {
        let mut out = Vec::new();
        env_lines(
            &mut out,
            "ORDERS_",
            &minted("gk_secret", "https://gw/orders"),
        )
        .expect("env");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "ORDERS_KEY=gk_secret\nORDERS_HEADER=apikey\nORDERS_GATEWAY_URL=https://gw/orders\n\
             ORDERS_CREDENTIAL_ID=01JCRED\nORDERS_EXPIRES_AT=2026-01-01T00:15:00+00:00\n"
        );
    }

    #[test]
    fn a_value_with_a_newline_is_refused_rather_than_injected() {
        let mut out = Vec::new();
        let hostile = minted("gk_x", "https://gw\nNODE_OPTIONS=--require=/tmp/x.js");
        let error = env_lines(&mut out, "GATEKEY_", &hostile).expect_err("refused");
        assert!(matches!(error, CliError::UnsafeValue("gateway URL")));
        let error =
            header_line(&mut out, &minted("gk_x\r\nX-Evil: 1", "https://gw")).expect_err("refused");
        assert!(matches!(error, CliError::UnsafeValue("key")));
    }

    #[test]
    fn human_output_masks_the_key() {
        assert_eq!(mask("gk_0123456789abcdef"), "gk_********");
        assert_eq!(mask("no-prefix-secret"), "********");
        let mut out = Vec::new();
        mint_summary(&mut out, &minted("gk_topsecret", "https://gw")).expect("summary");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(!text.contains("topsecret"), "{text}");
        assert!(
            text.contains("gk_********") && text.contains("sha256:abc"),
            "{text}"
        );
    }
}
