//! Output of the client subcommands. Machine formats go to stdout; the key appears only there and
//! only in `mint`'s JSON, env and header formats. Human output masks it.

use std::io::Write;

use gatekey_client::types::{ApiList, Credential, CredentialPage, MintedCredential};

use crate::failure::CliError;

/// The key with everything after its prefix replaced, e.g. `gk_********`.
pub(crate) fn mask(key: &str) -> String {
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
pub(crate) fn env_lines(
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
pub(crate) fn header_line(out: &mut dyn Write, minted: &MintedCredential) -> Result<(), CliError> {
    writeln!(
        out,
        "{}: {}",
        checked("header name", &minted.header_name)?,
        checked("key", &minted.key)?
    )?;
    Ok(())
}

pub(crate) fn json(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value)
        .map_err(|e| CliError::Output(std::io::Error::other(e)))?;
    writeln!(out)?;
    Ok(())
}

/// One line about a new credential for the log, key masked.
pub(crate) fn mint_summary(out: &mut dyn Write, minted: &MintedCredential) -> Result<(), CliError> {
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

pub(crate) fn credential_table(out: &mut dyn Write, page: &CredentialPage) -> Result<(), CliError> {
    credential_rows(out, &page.items)?;
    if page.next_cursor.is_some() {
        writeln!(out, "(more: narrow with --api or raise --limit)")?;
    }
    Ok(())
}

/// Credentials as a table, with their owner.
pub(crate) fn credential_rows(
    out: &mut dyn Write,
    credentials: &[Credential],
) -> Result<(), CliError> {
    let rows = credentials.iter().map(|credential| {
        vec![
            credential.id.clone(),
            credential.subject.clone(),
            credential.api_id.clone(),
            credential.scopes.join(","),
            credential.state.to_string(),
            credential
                .expires_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            credential.purpose.clone().unwrap_or_default(),
        ]
    });
    table(
        out,
        &[
            "ID", "SUBJECT", "API", "SCOPES", "STATE", "EXPIRES", "PURPOSE",
        ],
        rows,
    )
}

pub(crate) fn api_table(out: &mut dyn Write, apis: &ApiList) -> Result<(), CliError> {
    let rows = apis.items.iter().map(|api| {
        let scopes: Vec<&str> = api.scopes.iter().map(|s| s.name.as_str()).collect();
        vec![
            api.id.clone(),
            api.title.clone(),
            scopes.join(","),
            format!("{}-{}", api.min_ttl_seconds, api.max_ttl_seconds),
            api.gateway_url.clone(),
        ]
    });
    table(out, &["ID", "TITLE", "SCOPES", "TTL (s)", "GATEWAY"], rows)
}

/// A table for people: each column as wide as its widest cell, two spaces between columns.
/// Cells come from the server (titles, purposes), so control characters are shown as `\u{..}`
/// escapes rather than written to the terminal, where they could rewrite what the reader sees.
fn table(
    out: &mut dyn Write,
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<(), CliError> {
    let rows: Vec<Vec<String>> = rows
        .map(|row| row.iter().map(|cell| printable(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|name| name.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|name| (*name).to_owned()).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn printable(cell: &str) -> String {
    cell.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
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
                "key_fingerprint": "sha256:abc", "usage": { "calls": 0, "errors": 0 }
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

    #[test]
    fn table_columns_line_up_and_control_characters_are_escaped() {
        let page: CredentialPage = serde_json::from_value(serde_json::json!({
            "items": [
                {
                    "id": "01JCRED", "api_id": "orders", "subject": "jane", "issuer": "https://idp",
                    "scopes": ["read", "write"], "state": "active", "ttl_seconds": 900,
                    "issued_at": "2026-01-01T00:00:00Z",
                    "expires_at": "2026-01-01T00:15:00.123456789Z",
                    "key_fingerprint": "sha256:abc", "purpose": "load test\u{1b}[2J",
                    "usage": { "calls": 3, "errors": 1 }
                },
                {
                    "id": "01JCRED2", "api_id": "billing-and-invoicing", "subject": "jane",
                    "issuer": "https://idp", "scopes": ["read"], "state": "revoked",
                    "ttl_seconds": 60, "issued_at": "2026-01-01T00:00:00Z",
                    "expires_at": "2026-01-01T00:01:00Z", "key_fingerprint": "sha256:def",
                    "usage": { "calls": 0, "errors": 0 }
                }
            ]
        }))
        .expect("a credential page");
        let mut out = Vec::new();
        credential_table(&mut out, &page).expect("table");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        // The second credential has no purpose: its line ends after EXPIRES.
        for column in ["API", "SCOPES", "STATE", "EXPIRES", "PURPOSE"] {
            let at = lines[0].find(column).expect("header column");
            let rows = if column == "PURPOSE" {
                &lines[1..2]
            } else {
                &lines[1..]
            };
            for line in rows {
                assert_eq!(
                    line.as_bytes().get(at - 2..at),
                    Some(&b"  "[..]),
                    "column {column} does not start at {at} in {line:?}"
                );
                assert!(
                    !line[at..].starts_with(' '),
                    "column {column} does not start at {at} in {line:?}"
                );
            }
        }
        assert!(lines[1].contains("2026-01-01T00:15:00Z"), "{text}");
        assert!(
            !text.contains('\u{1b}'),
            "raw escape reached the terminal: {text:?}"
        );
        assert!(text.contains("\\u{1b}[2J"), "{text}");
    }
}
