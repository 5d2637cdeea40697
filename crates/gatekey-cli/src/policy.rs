//! `gatekey policy test|diff|explain`: the platform team's tools for policy kept in git.
//!
//! They run offline on policy files, before a change ships: `test` decides table-driven cases
//! with the service's own decision code (CI fails on a surprise), `diff` says what a change does
//! to access (for the pull-request comment), `explain` says what a caller may request and, on
//! discoverable APIs, which groups would grant the rest. Exit statuses: 0 done (all cases
//! passed; no change with `diff --exit-code`), 1 a case failed (or `diff --exit-code` found a
//! change), 2 a file cannot be read or is invalid.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use gatekey_core::Principal;
use gatekey_core::policy::{Policy, PolicyError};
use gatekey_core::policy_cases::{CasesError, PolicyCases};
use gatekey_core::policy_diff::PolicyDiff;

/// The policy subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run a YAML case file against a policy; exit 1 when a case fails.
    Test(TestArgs),
    /// What changing OLD into NEW does to access, as Markdown or JSON.
    Diff(DiffArgs),
    /// The scopes of an API a caller with the given groups may request, and, on discoverable
    /// APIs, the groups that would grant the others.
    Explain(ExplainArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Lines for people.
    Text,
    /// JSON for tools.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// Markdown, for a pull-request comment.
    Markdown,
    /// JSON, for tools.
    Json,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The policy file (YAML or TOML).
    #[arg(long)]
    pub policy: PathBuf,
    /// The case file (YAML; see `deploy/local/policy.tests.yaml`).
    #[arg(long)]
    pub cases: PathBuf,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The policy before the change.
    pub old: PathBuf,
    /// The policy after the change.
    pub new: PathBuf,
    #[arg(long, value_enum, default_value_t = DiffFormat::Markdown)]
    pub format: DiffFormat,
    /// Exit 1 when the change affects access or an API setting (like `git diff --exit-code`).
    #[arg(long)]
    pub exit_code: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The policy file (YAML or TOML).
    #[arg(long)]
    pub policy: PathBuf,
    /// The API id.
    #[arg(long)]
    pub api: String,
    /// A group of the caller, with its issuer's prefix as in the policy; repeat or separate
    /// with commas.
    #[arg(long = "group", value_delimiter = ',')]
    pub groups: Vec<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

/// Why a policy subcommand could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum PolicyCommandError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Policy { path: PathBuf, source: PolicyError },
    #[error("{path}: {source}")]
    Cases { path: PathBuf, source: CasesError },
    #[error("no API '{0}' in the policy")]
    UnknownApi(String),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// What a finished command found: whether it ends with status 0 or 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every case passed; the diff found nothing (with `--exit-code`); the explanation printed.
    Clean,
    /// A case failed, or the diff found a change (with `--exit-code`).
    Findings,
}

/// Runs a policy subcommand, writing its report to `out`.
pub fn execute(
    command: &PolicyCommand,
    out: &mut dyn Write,
) -> Result<Verdict, PolicyCommandError> {
    match command {
        PolicyCommand::Test(args) => test(args, out),
        PolicyCommand::Diff(args) => diff(args, out),
        PolicyCommand::Explain(args) => explain(args, out),
    }
}

/// Runs a policy subcommand for the `gatekey` binary: report on stdout, errors on stderr.
pub fn run(command: &PolicyCommand) -> ExitCode {
    match execute(command, &mut std::io::stdout().lock()) {
        Ok(Verdict::Clean) => ExitCode::SUCCESS,
        Ok(Verdict::Findings) => ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &Path) -> Result<String, PolicyCommandError> {
    std::fs::read_to_string(path).map_err(|source| PolicyCommandError::Read {
        path: path.to_owned(),
        source,
    })
}

fn load_policy(path: &Path) -> Result<Policy, PolicyCommandError> {
    let file_name = path.to_string_lossy();
    Policy::parse(&file_name, &read(path)?).map_err(|source| PolicyCommandError::Policy {
        path: path.to_owned(),
        source,
    })
}

fn test(args: &TestArgs, out: &mut dyn Write) -> Result<Verdict, PolicyCommandError> {
    let policy = load_policy(&args.policy)?;
    let cases = PolicyCases::from_yaml_str(&read(&args.cases)?).map_err(|source| {
        PolicyCommandError::Cases {
            path: args.cases.clone(),
            source,
        }
    })?;
    let report = cases.run(&policy);
    match args.format {
        ReportFormat::Text => out.write_all(report.to_text().as_bytes())?,
        ReportFormat::Json => write_json(out, &report)?,
    }
    Ok(if report.failed() == 0 {
        Verdict::Clean
    } else {
        Verdict::Findings
    })
}

fn diff(args: &DiffArgs, out: &mut dyn Write) -> Result<Verdict, PolicyCommandError> {
    let diff = PolicyDiff::between(&load_policy(&args.old)?, &load_policy(&args.new)?);
    match args.format {
        DiffFormat::Markdown => out.write_all(diff.to_markdown().as_bytes())?,
        DiffFormat::Json => write_json(out, &diff)?,
    }
    Ok(if args.exit_code && !diff.is_empty() {
        Verdict::Findings
    } else {
        Verdict::Clean
    })
}

fn explain(args: &ExplainArgs, out: &mut dyn Write) -> Result<Verdict, PolicyCommandError> {
    let policy = load_policy(&args.policy)?;
    if policy.api(&args.api).is_none() {
        return Err(PolicyCommandError::UnknownApi(args.api.clone()));
    }
    let caller = Principal::new("policy-explain", "caller", args.groups.iter().cloned());
    match (policy.explain(&caller, &args.api), args.format) {
        (Some(explanation), ReportFormat::Text) => {
            out.write_all(explanation.to_text().as_bytes())?;
        }
        (Some(explanation), ReportFormat::Json) => write_json(out, &explanation)?,
        (None, ReportFormat::Text) => writeln!(
            out,
            "you may request no scope of '{}', and the policy does not make it discoverable",
            args.api
        )?,
        (None, ReportFormat::Json) => writeln!(out, "null")?,
    }
    Ok(Verdict::Clean)
}

fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}
