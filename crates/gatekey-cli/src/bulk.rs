//! `gatekey credentials revoke --subject … --reason …`: a bulk revocation job (admins) started,
//! then followed until it ends, with a progress bar when stderr is a terminal and one JSON line
//! per progress report on stdout otherwise (for pipelines and incident tooling).

use std::io::{IsTerminal as _, Write};
use std::time::Duration;

use gatekey_client::types::{
    BulkRevokeAnswer, BulkRevokeRequest, JobState, RevocationFilter, RevocationJobStatus,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::failure::CliError;
use crate::{BulkArgs, ReadFormat, answer, connect, render};

/// How often the job's progress is read.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A filter field as the generated client's bounded text type.
fn text<T: TryFrom<String>>(
    option: &'static str,
    value: Option<String>,
) -> Result<Option<T>, CliError> {
    value
        .map(|value| {
            T::try_from(value).map_err(|_| CliError::InvalidArgument {
                option,
                reason: "must be 1 to 512 characters".to_owned(),
            })
        })
        .transpose()
}

/// Starts the job (or the dry run) and follows it to its end.
pub(crate) async fn revoke(
    args: BulkArgs,
    out: &mut dyn Write,
    log: &mut dyn Write,
) -> Result<(), CliError> {
    let client = connect(&args.connection).await?;
    let filter = RevocationFilter {
        issuer: text("issuer", args.issuer)?,
        subject: text("subject", args.subject)?,
        api_id: text("api", args.api)?,
        scope: None,
        issued_after: None,
        issued_before: None,
        granting_group: None,
        policy_revision: None,
    };
    let body = BulkRevokeRequest {
        filter: Some(filter),
        all: None,
        dry_run: Some(args.dry_run),
        reason: args
            .reason
            .try_into()
            .map_err(|_| CliError::InvalidArgument {
                option: "reason",
                reason: "must be 1 to 500 characters".to_owned(),
            })?,
    };
    let started = answer(client.bulk_revoke_credentials().body(body).send().await).await?;
    let job = match started {
        BulkRevokeAnswer::BulkRevokePreview(preview) => {
            return match args.format {
                ReadFormat::Json => render::json(out, &preview),
                ReadFormat::Human => {
                    writeln!(out, "would revoke {} credentials", preview.count)?;
                    render::credential_rows(out, &preview.credentials)
                }
            };
        }
        BulkRevokeAnswer::RevocationJobStatus(job) => job,
    };
    writeln!(log, "bulk revocation job {} started", job.id)?;
    let bar = (args.format == ReadFormat::Human && std::io::stderr().is_terminal())
        .then(|| progress_bar(&job));
    let mut status = job;
    loop {
        match &bar {
            Some(bar) => {
                bar.set_length(total(&status));
                bar.set_position(handled(&status));
                bar.set_message(format!("{} failed", status.failed));
            }
            None => report_line(out, &status)?,
        }
        if matches!(status.state, JobState::Done) {
            break;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
        status = answer(
            client
                .get_revocation_job()
                .id(status.id.clone())
                .send()
                .await,
        )
        .await?;
    }
    if let Some(bar) = bar {
        bar.finish();
    }
    if args.format == ReadFormat::Human {
        writeln!(
            out,
            "job {}: {} revoked, {} failed",
            status.id, status.revoked, status.failed
        )?;
        for failure in &status.failures {
            writeln!(out, "failed {}: {}", *failure.credential_id, failure.reason)?;
        }
    }
    if status.failed > 0 {
        return Err(CliError::JobFailures {
            id: status.id,
            failed: status.failed,
        });
    }
    Ok(())
}

fn handled(status: &RevocationJobStatus) -> u64 {
    u64::try_from(status.revoked + status.failed).unwrap_or_default()
}

fn total(status: &RevocationJobStatus) -> u64 {
    handled(status) + u64::try_from(status.remaining).unwrap_or_default()
}

fn progress_bar(job: &RevocationJobStatus) -> ProgressBar {
    let bar = ProgressBar::new(total(job));
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed}] {wide_bar} {pos}/{len} revoked, {msg}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// One JSON line: where the job stands.
fn report_line(out: &mut dyn Write, status: &RevocationJobStatus) -> Result<(), CliError> {
    let line = json!({
        "id": status.id,
        "state": status.state,
        "revoked": status.revoked,
        "failed": status.failed,
        "remaining": status.remaining,
        "ended_at": status.ended_at,
        "failures": if matches!(status.state, JobState::Done) { json!(status.failures) } else { json!([]) },
    });
    serde_json::to_writer(&mut *out, &line)
        .map_err(|e| CliError::Output(std::io::Error::other(e)))?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}
