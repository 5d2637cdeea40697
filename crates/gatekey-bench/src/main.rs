//! `gatekey-bench`: starts the whole stack on loopback as child processes (SecantusDB, the Kong
//! simulator, the development OpenID provider, `gatekey`), drives load at it from this process
//! with N keep-alive clients per scenario, and prints one table: throughput and latency
//! percentiles of `GET /v1/apis`, mint, revoke and `GET /v1/credentials`, and of the FLOOR of a
//! mint (its raw Kong and MongoDB calls without Gatekey), the ratio mint / floor, and the peak
//! RSS of `gatekey`; then the usage ingest (batches of Kong `http-log` entries) against its own
//! floor (the same writes issued raw), and mints alone then while the ingest runs, side by side on
//! the same stores; then one bulk revocation job against its floor (the same Kong deletes and
//! MongoDB writes issued raw). `docs/performance.md` explains the method and holds the committed
//! results.
//!
//! Data volume: the simulator and SecantusDB slow down as they fill, so the floor gets a fresh
//! simulator and a fresh SecantusDB (with Gatekey's indexes) and performs exactly as many
//! operations, warm-up included, as Gatekey's mint did on its own fresh stores.

mod bulk;
mod cpu;
mod error;
mod floor;
mod ingest;
mod instructions;
mod load;
mod placement;
mod report;
mod scenarios;
mod stack;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use gatekey_app::usage::QUIET_SPELL;
use reqwest::header::HeaderValue;

use crate::bulk::BulkRevokeFloor;
use crate::cpu::CpuClock;
use crate::error::BenchError;
use crate::floor::Floor;
use crate::ingest::{BATCH_ENTRIES, CONSUMERS, Consumer, IngestFloor, IngestSenders};
use crate::instructions::{Callgrind, InstructionCounter};
use crate::load::{Budget, Measured, drive, drive_at_rate};
use crate::placement::CpuPlacement;
use crate::report::{BulkRevocation, Machine, Report, ScenarioResult};
use crate::scenarios::{Gatekey, bearer};
use crate::stack::{ADMIN_GROUP, USER_GROUP};

/// Credentials the bulk revocation revokes in `--short` mode.
const SHORT_BULK_CREDENTIALS: u64 = 50;

#[derive(Debug, Parser)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent command-line switches, not states of one thing"
)]
#[command(
    version,
    about = "Load benchmark of Gatekey and of the floor of a mint (its raw Kong + MongoDB calls)"
)]
struct Args {
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds per scenario (not recorded).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Concurrent clients for `GET /v1/apis`.
    #[arg(long, default_value_t = 64)]
    read_clients: usize,
    /// Concurrent clients for mint, revoke, `GET /v1/credentials` and the floor.
    #[arg(long, default_value_t = 32)]
    write_clients: usize,
    /// Concurrent senders of the usage ingest and its floor (Kong workers posting `http-log`
    /// batches of 100 entries).
    #[arg(long, default_value_t = 8)]
    ingest_senders: usize,
    /// Mints per second of the open-loop mint rows of `mint-during-ingest`: a rate the database
    /// serves without queueing, as people and CI jobs arrive.
    #[arg(long, default_value_t = 20.0)]
    mint_rate: f64,
    /// Requests per second of `apis-paced`: `GET /v1/apis` sent open loop at a rate that leaves
    /// `gatekey`'s core idle between requests, as the database's pace leaves it during mints.
    #[arg(long, default_value_t = 1000.0)]
    apis_rate: f64,
    /// Credentials of one subject the bulk revocation job revokes (minted first, not measured),
    /// and its floor; 50 with --short.
    #[arg(long, default_value_t = 2000)]
    bulk_credentials: u64,
    /// Scenarios to run, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "apis,apis-paced,mint,revoke,credentials,floor,ingest,ingest-floor,mint-during-ingest,bulk-revoke,bulk-revoke-floor"
    )]
    scenarios: Vec<Scenario>,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// CI smoke mode: 1 s per scenario after 0.25 s of warm-up and a bulk revocation of 50
    /// credentials (proves the bench works; the figures mean little).
    #[arg(long)]
    short: bool,
    /// Directory holding `gatekey`, `gatekey-kong-sim` and `gatekey-dev-idp`; default: the
    /// directory of this binary.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Keep the scratch directory with every process's configuration and log.
    #[arg(long)]
    keep_logs: bool,
    /// Where `gatekey` runs.
    #[arg(long, value_enum, default_value = "own")]
    gatekey_cpu: GatekeyCpu,
    /// Run `gatekey` under valgrind's callgrind and report the instructions it retires per
    /// request of `apis`, `apis-paced`, `mint`, `revoke` and `credentials`: a figure that does
    /// not move with the host or the database. Some 35 times slower: every other figure of
    /// such a run is valgrind's.
    #[arg(long)]
    count_instructions: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GatekeyCpu {
    /// With two CPUs or more, `gatekey` alone on the first and everything else (this load
    /// generator, SecantusDB, the Kong simulator, the OpenID provider) on the rest, so that its
    /// CPU figure is its own work, not the cache misses of sharing a core with the database.
    Own,
    /// Every process on every CPU.
    Shared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// `GET /v1/apis`.
    Apis,
    /// `GET /v1/apis` at `--apis-rate` (open loop): the same requests on a core that idles
    /// between them, the control for what idling costs per request.
    ApisPaced,
    /// `POST /v1/apis/{id}/credentials`.
    Mint,
    /// `DELETE /v1/credentials/{id}` of the minted credentials.
    Revoke,
    /// `GET /v1/credentials`.
    Credentials,
    /// The raw Kong + MongoDB calls of a mint, without Gatekey.
    Floor,
    /// `POST /v1/ingest/kong-http-log` with batches of 100 entries.
    Ingest,
    /// The raw MongoDB writes of an ingest batch, without Gatekey.
    IngestFloor,
    /// Mints alone, then while ingest senders run, at `--mint-rate` (open loop) and from
    /// `--write-clients` (closed loop): the mints alone, the mints and the ingest beside them, for
    /// each, and the closed-loop mints alone again after.
    MintDuringIngest,
    /// One `POST /v1/credentials/revocations` job revoking `--bulk-credentials` credentials of
    /// one subject, followed to its end.
    BulkRevoke,
    /// The raw Kong deletes and MongoDB writes of a bulk revocation, without Gatekey.
    BulkRevokeFloor,
}

impl Scenario {
    /// Whether `--count-instructions` counts this scenario: the ones that only send requests to
    /// `gatekey`, one route each.
    fn is_counted(self) -> bool {
        matches!(
            self,
            Self::Apis | Self::ApisPaced | Self::Mint | Self::Revoke | Self::Credentials
        )
    }

    fn key(self) -> &'static str {
        match self {
            Self::Apis => "apis",
            Self::ApisPaced => "apis-paced",
            Self::Mint => "mint",
            Self::Revoke => "revoke",
            Self::Credentials => "credentials",
            Self::Floor => "floor",
            Self::Ingest => "ingest",
            Self::IngestFloor => "ingest-floor",
            Self::MintDuringIngest => "mint-during-ingest",
            Self::BulkRevoke => "bulk-revoke",
            Self::BulkRevokeFloor => "bulk-revoke-floor",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Apis => "GET /v1/apis",
            Self::ApisPaced => "GET /v1/apis at --apis-rate",
            Self::Mint => "POST .../credentials (mint)",
            Self::Revoke => "DELETE /v1/credentials/{id}",
            Self::Credentials => "GET /v1/credentials",
            Self::Floor => "floor: raw Kong+MongoDB mint",
            Self::Ingest => "POST /v1/ingest (100/batch)",
            Self::IngestFloor => "floor: raw MongoDB ingest",
            Self::MintDuringIngest => "mint while ingest runs",
            Self::BulkRevoke => "POST /v1/credentials/revocations",
            Self::BulkRevokeFloor => "floor: raw Kong+MongoDB revoke",
        }
    }
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.short {
        args.duration = 1.0;
        args.warmup = 0.25;
        args.bulk_credentials = SHORT_BULK_CREDENTIALS;
    }
    // Before the runtime starts its threads, which inherit this thread's CPUs.
    let machine = Machine::detect();
    let placement = if args.gatekey_cpu == GatekeyCpu::Shared {
        None
    } else {
        match CpuPlacement::confine_this_thread() {
            Ok(placement) => placement,
            Err(err) => {
                eprintln!(
                    "error: cannot place gatekey on a CPU of its own ({err}); --gatekey-cpu shared runs without"
                );
                return ExitCode::FAILURE;
            }
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args, machine, placement)) {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(json) => println!("{json}"),
                    Err(err) => {
                        eprintln!("error: cannot render JSON: {err}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", report.table());
            }
            // Errors under load mean the bench did not measure what it claims to.
            let errors: u64 = report.scenarios.iter().map(|s| s.summary.errors).sum();
            if errors > 0 {
                eprintln!("error: {errors} requests failed during the run");
                return ExitCode::FAILURE;
            }
            if let Some(job) = report
                .bulk_revocation
                .as_ref()
                .filter(|job| job.failed > 0 || job.unrevoked() > 0)
            {
                eprintln!(
                    "error: the bulk revocation left {} of {} credentials unrevoked ({} reported \
                     failed)",
                    job.unrevoked(),
                    job.credentials,
                    job.failed
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn progress(message: &str) {
    eprintln!("gatekey-bench: {message}");
}

/// Refuses arguments no run can honour.
fn check(args: &Args) -> Result<(), BenchError> {
    if !(args.duration > 0.0 && args.warmup >= 0.0) {
        return Err(BenchError::Setup(
            "--duration must be positive and --warmup not negative".to_owned(),
        ));
    }
    for (rate, name) in [
        (args.mint_rate, "--mint-rate"),
        (args.apis_rate, "--apis-rate"),
    ] {
        if !(rate > 0.0 && rate <= 10_000.0) {
            return Err(BenchError::Setup(format!(
                "{name} must be above 0 and at most 10000 per second"
            )));
        }
    }
    if args.read_clients == 0
        || args.write_clients == 0
        || args.ingest_senders == 0
        || args.bulk_credentials == 0
    {
        return Err(BenchError::Setup(
            "client and credential counts must be positive".to_owned(),
        ));
    }
    Ok(())
}

/// The bench's HTTP client and the tokens it calls `gatekey` with.
struct Callers {
    http: reqwest::Client,
    /// One per client: `bench-user-<n>`.
    tokens: Vec<String>,
    /// The subject whose credentials the bulk revocation revokes.
    bulk_owner: HeaderValue,
    /// The admin who starts the bulk revocation.
    bulk_operator: HeaderValue,
}

impl Callers {
    /// Tokens for `clients` clients and the bulk revocation's two callers, from `idp`.
    async fn sign_in(idp: &stack::Process, clients: usize) -> Result<Self, BenchError> {
        let http = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(clients * 2)
            .timeout(Duration::from_secs(30))
            .build()?;
        let mut tokens = Vec::with_capacity(clients);
        for n in 0..clients {
            tokens.push(stack::token(&http, idp, &format!("bench-user-{n}"), &[USER_GROUP]).await?);
        }
        let bulk_owner = bearer(&stack::token(&http, idp, bulk::OWNER, &[USER_GROUP]).await?)?;
        let bulk_operator =
            bearer(&stack::token(&http, idp, bulk::OPERATOR, &[ADMIN_GROUP]).await?)?;
        Ok(Self {
            http,
            tokens,
            bulk_owner,
            bulk_operator,
        })
    }
}

/// Where `gatekey`, the simulator and the OpenID provider are: `--bin-dir`, else beside this
/// binary.
fn bin_dir(args: &Args) -> Result<PathBuf, BenchError> {
    match &args.bin_dir {
        Some(dir) => Ok(dir.clone()),
        None => std::env::current_exe()?
            .parent()
            .map(PathBuf::from)
            .ok_or_else(|| BenchError::Setup("cannot tell this binary's directory".to_owned())),
    }
}

async fn run(
    args: &Args,
    machine: Machine,
    placement: Option<CpuPlacement>,
) -> Result<Report, BenchError> {
    check(args)?;
    let bin_dir = bin_dir(args)?;
    let debug_build = bin_dir.file_name().is_some_and(|name| name == "debug");
    let placement_described = placement.as_ref().map(CpuPlacement::describe);
    let ws = stack::Workspace::new(bin_dir, placement)?;

    progress("starting SecantusDB, the Kong simulator, the dev OpenID provider and gatekey");
    let mongo = stack::start_mongo(&ws, "secantusd").await?;
    let mongo_uri = stack::mongo_uri(&mongo);
    let kong = stack::start_kong(&ws, "kong").await?;
    let idp = stack::start_idp(&ws).await?;
    let callgrind = (args.count_instructions)
        .then(|| ws.subdir("callgrind").and_then(Callgrind::find))
        .transpose()?;
    let (gatekey, operators) =
        stack::start_gatekey(&ws, &mongo_uri, &kong, &idp, callgrind.as_ref()).await?;

    let Callers {
        http,
        tokens,
        bulk_owner,
        bulk_operator,
    } = Callers::sign_in(&idp, args.read_clients.max(args.write_clients)).await?;
    let instructions = callgrind.as_ref().and_then(|callgrind| {
        let pid = gatekey.pid()?;
        Some(callgrind.counter(pid, operators.metrics_url.clone(), http.clone()))
    });
    let mut run = Run {
        args,
        ws: &ws,
        target: Arc::new(Gatekey::new(http.clone(), gatekey.url(), &tokens)),
        http,
        issuer: idp.url(),
        kong_admin: kong.url(),
        ingest_access: operators.ingest,
        ingest_senders: None,
        gatekey_cpu: gatekey.pid().map(CpuClock::of),
        instructions,
        mint_figures: None,
        ingest_figures: None,
        floor_stores: None,
        ingest_floor_store: None,
        bulk_owner,
        bulk_operator,
        bulk_revocation: None,
        bulk_floor_store: None,
    };
    let mut results = Vec::new();
    for &scenario in &args.scenarios {
        progress(&format!("running {}", scenario.label()));
        results.extend(run.scenario(scenario).await?);
    }
    let Run {
        target,
        floor_stores,
        ingest_floor_store,
        bulk_revocation,
        bulk_floor_store,
        ..
    } = run;
    drop(target);
    let mut report = Report {
        debug_build,
        short: args.short,
        instructions_counted: args.count_instructions,
        machine,
        placement: placement_described,
        warmup_seconds: args.warmup,
        duration_seconds: args.duration,
        scenarios: results,
        mint_to_floor_ratio: None,
        ingest_to_floor_ratio: None,
        bulk_revocation,
        bulk_revoke_to_floor_ratio: None,
        gatekey_peak_rss_bytes: gatekey.peak_rss_bytes(),
        wakeup_price_micros: None,
        targets: Vec::new(),
    };
    report.evaluate();

    let mut processes = vec![gatekey, idp, kong, mongo];
    if let Some((floor_kong, floor_mongo)) = floor_stores {
        processes.extend([floor_kong, floor_mongo]);
    }
    processes.extend(ingest_floor_store);
    processes.extend(bulk_floor_store);
    for process in processes {
        process.stop().await;
    }
    if args.keep_logs {
        progress(&format!(
            "logs and configuration kept in {}",
            ws.keep().display()
        ));
    }
    Ok(report)
}

/// The state scenarios share within one run.
struct Run<'a> {
    args: &'a Args,
    ws: &'a stack::Workspace,
    http: reqwest::Client,
    target: Arc<Gatekey>,
    issuer: String,
    /// The simulator's Admin API, where the ingest finds its consumers.
    kong_admin: String,
    /// Gatekey's ingest endpoint and secret.
    ingest_access: stack::IngestAccess,
    /// The ingest's senders, set up (credentials minted) on first use.
    ingest_senders: Option<Arc<IngestSenders>>,
    /// The CPU counters of the `gatekey` process.
    gatekey_cpu: Option<CpuClock>,
    /// Its instruction counters, when it runs under callgrind.
    instructions: Option<InstructionCounter>,
    /// The mint's figures, which size the floor.
    mint_figures: Option<Measured>,
    /// The ingest's figures, which size its floor.
    ingest_figures: Option<Measured>,
    /// The floor's own simulator and SecantusDB, kept running until the end.
    floor_stores: Option<(stack::Process, stack::Process)>,
    /// The ingest floor's SecantusDB, kept running until the end.
    ingest_floor_store: Option<stack::Process>,
    /// `Bearer` token of the subject whose credentials the bulk revocation revokes.
    bulk_owner: HeaderValue,
    /// `Bearer` token of the admin who starts the bulk revocation.
    bulk_operator: HeaderValue,
    /// The bulk revocation job's figures, which size its floor.
    bulk_revocation: Option<BulkRevocation>,
    /// The bulk revocation floor's SecantusDB, kept running until the end.
    bulk_floor_store: Option<stack::Process>,
}

/// Ingest posts measured beside another scenario, and the 503s they met.
struct Posted {
    measured: Measured,
    busy_answers: u64,
}

impl Posted {
    fn row(&self, key: &'static str, label: &'static str) -> ScenarioResult {
        let mut row = ingest_row(key, label, &self.measured);
        row.summary.busy_answers = Some(self.busy_answers);
        row
    }
}

/// One row of the table.
fn row(scenario: Scenario, measured: &Measured) -> ScenarioResult {
    ScenarioResult {
        scenario: scenario.key(),
        label: scenario.label(),
        summary: measured.summary(),
    }
}

/// One row of an ingest scenario: figures per entry too.
fn ingest_row(key: &'static str, label: &'static str, measured: &Measured) -> ScenarioResult {
    ScenarioResult {
        scenario: key,
        label,
        summary: measured.batch_summary(BATCH_ENTRIES as u64),
    }
}

impl Run<'_> {
    fn timed(&self) -> Budget {
        Budget::Time {
            warmup: Duration::from_secs_f64(self.args.warmup),
            measure: Duration::from_secs_f64(self.args.duration),
        }
    }

    /// The ingest's senders; the first call mints the credentials whose calls they post.
    async fn ingest_senders(&mut self) -> Result<Arc<IngestSenders>, BenchError> {
        if let Some(senders) = &self.ingest_senders {
            return Ok(Arc::clone(senders));
        }
        let mut consumers = Vec::with_capacity(CONSUMERS);
        for n in 0..CONSUMERS {
            let id =
                self.target.mint_one(n).await.map_err(|detail| {
                    BenchError::Setup(format!("minting for the ingest: {detail}"))
                })?;
            consumers.push(Consumer::of_credential(&self.http, &self.kong_admin, id).await?);
        }
        let senders = Arc::new(IngestSenders::new(
            self.http.clone(),
            self.ingest_access.url.clone(),
            &self.ingest_access.secret,
            consumers,
        )?);
        self.ingest_senders = Some(Arc::clone(&senders));
        Ok(senders)
    }

    /// Waits until the latest mint (for the senders' own credentials, or an earlier scenario's)
    /// is a [`QUIET_SPELL`] old by the end of the warm-up: the ingest alone is measured at its
    /// speed without mints, not at the one it keeps while mints come now and then.
    async fn quiet_spell_after_mints(&self) {
        let Some(last_mint) = self.target.last_mint() else {
            return;
        };
        let measured_from = Instant::now() + Duration::from_secs_f64(self.args.warmup);
        if let Some(wait) = (last_mint + QUIET_SPELL).checked_duration_since(measured_from) {
            progress(&format!(
                "waiting {:.1} s: the ingest alone starts a quiet spell after the latest mint",
                wait.as_secs_f64()
            ));
            tokio::time::sleep(wait).await;
        }
    }

    /// `POST /v1/ingest/kong-http-log` from the senders.
    async fn ingest(&mut self) -> Result<Vec<ScenarioResult>, BenchError> {
        let ingest = self.ingest_senders().await?;
        self.quiet_spell_after_mints().await;
        let shed_before = ingest.shed_posts();
        let counted = Arc::clone(&ingest);
        let measured = drive(
            self.args.ingest_senders,
            self.timed(),
            self.gatekey_cpu,
            move |_| {
                let ingest = Arc::clone(&ingest);
                async move { ingest.post_batch().await }
            },
        )
        .await;
        self.ingest_figures = Some(measured.clone());
        let scenario = Scenario::Ingest;
        let mut row = ingest_row(scenario.key(), scenario.label(), &measured);
        row.summary.busy_answers = Some(counted.shed_posts() - shed_before);
        Ok(vec![row])
    }

    /// The ingest's raw writes on a fresh SecantusDB, as many batches as the ingest posted (like
    /// the mint's floor).
    async fn ingest_floor(&mut self) -> Result<Vec<ScenarioResult>, BenchError> {
        let fresh_mongo = stack::start_mongo(self.ws, "secantusd-ingest-floor").await?;
        let floor =
            Arc::new(IngestFloor::connect(&stack::mongo_uri(&fresh_mongo), "gatekey_bench").await?);
        self.ingest_floor_store = Some(fresh_mongo);
        let budget = self
            .ingest_figures
            .as_ref()
            .map_or(self.timed(), |ingest| Budget::Count {
                warmup: ingest.warmup_ops,
                measure: ingest.ok + ingest.errors,
            });
        let measured = drive(self.args.ingest_senders, budget, None, move |_| {
            let floor = Arc::clone(&floor);
            async move { floor.record_batch().await }
        })
        .await;
        let scenario = Scenario::IngestFloor;
        Ok(vec![ingest_row(
            scenario.key(),
            scenario.label(),
            &measured,
        )])
    }

    /// Mints alone, then mints and ingest posts at once, first at `--mint-rate` (open loop:
    /// mints arrive as people and CI jobs do, below the database's capacity), then from the
    /// closed-loop clients that saturate it. Each pair runs side by side on the same stores (the
    /// run's mint row is measured on emptier ones). Beside the ingest the CPU figure would mix
    /// mints and posts, so only the paced mints alone get one.
    async fn mint_during_ingest(&mut self) -> Result<Vec<ScenarioResult>, BenchError> {
        let ingest = self.ingest_senders().await?;
        let (warmup, measure) = (
            Duration::from_secs_f64(self.args.warmup),
            Duration::from_secs_f64(self.args.duration),
        );
        let paced = |target: &Arc<Gatekey>, clients: usize, cpu: Option<CpuClock>| {
            let target = Arc::clone(target);
            drive_at_rate(self.args.mint_rate, warmup, measure, cpu, move |n| {
                let target = Arc::clone(&target);
                async move { target.mint(n % clients).await }
            })
        };
        let clients = self.args.write_clients;
        let paced_alone = paced(&self.target, clients, self.gatekey_cpu).await;
        let (paced_mints, paced_posts) = tokio::join!(
            paced(&self.target, clients, None),
            self.post_batches(&ingest)
        );
        // The stores fill as the scenario runs, and the mints slow down with them: mints alone
        // before and after the ingest bracket the mints beside it.
        let alone = self.closed_loop_mints().await;
        let (mints, posts) = tokio::join!(self.closed_loop_mints(), self.post_batches(&ingest));
        let after = self.closed_loop_mints().await;
        Ok(vec![
            ScenarioResult {
                scenario: "mint-paced",
                label: "mint at --mint-rate, alone",
                summary: paced_alone.summary(),
            },
            ScenarioResult {
                scenario: "mint-paced-during-ingest",
                label: "mint at --mint-rate, ingest runs",
                summary: paced_mints.summary(),
            },
            paced_posts.row("ingest-during-paced-mint", "ingest while paced mints run"),
            ScenarioResult {
                scenario: "mint-before-ingest",
                label: "mint, just before the ingest",
                summary: alone.summary(),
            },
            row(Scenario::MintDuringIngest, &mints),
            posts.row("ingest-during-mint", "ingest while mints run"),
            ScenarioResult {
                scenario: "mint-after-ingest",
                label: "mint, just after the ingest",
                summary: after.summary(),
            },
        ])
    }

    /// Mints from the closed-loop write clients for the run's time budget.
    async fn closed_loop_mints(&self) -> Measured {
        let target = Arc::clone(&self.target);
        drive(self.args.write_clients, self.timed(), None, move |c| {
            let target = Arc::clone(&target);
            async move { target.mint(c).await }
        })
        .await
    }

    /// Ingest posts from the senders for the run's time budget, with the 503s they met.
    async fn post_batches(&self, ingest: &Arc<IngestSenders>) -> Posted {
        let shed_before = ingest.shed_posts();
        let senders = Arc::clone(ingest);
        let measured = drive(self.args.ingest_senders, self.timed(), None, move |_| {
            let ingest = Arc::clone(&senders);
            async move { ingest.post_batch().await }
        })
        .await;
        Posted {
            measured,
            busy_answers: ingest.shed_posts() - shed_before,
        }
    }

    /// Mints `--bulk-credentials` credentials of one subject (not measured), then one job
    /// revoking them all, followed to its end. No row: its figures go to the report's own field.
    async fn bulk_revoke(&mut self) -> Result<Vec<ScenarioResult>, BenchError> {
        let credentials = self.args.bulk_credentials;
        progress(&format!(
            "minting {credentials} credentials of {} (not measured)",
            bulk::OWNER
        ));
        bulk::mint_credentials(
            &self.target,
            &self.bulk_owner,
            usize::try_from(credentials).unwrap_or(usize::MAX),
            self.args.write_clients,
        )
        .await?;
        progress("revoking them in one job");
        let job = bulk::run_job(
            &self.target,
            &self.bulk_operator,
            &self.issuer,
            credentials,
            self.gatekey_cpu,
        )
        .await?;
        self.bulk_revocation = Some(job);
        Ok(Vec::new())
    }

    /// The job's raw per-credential work on a fresh SecantusDB and the same simulator, as many
    /// credentials as the job revoked, with the job's concurrency.
    async fn bulk_revoke_floor(&mut self) -> Result<Vec<ScenarioResult>, BenchError> {
        let credentials = self
            .bulk_revocation
            .as_ref()
            .map_or(self.args.bulk_credentials, |job| job.revoked);
        let fresh_mongo = stack::start_mongo(self.ws, "secantusd-bulk-floor").await?;
        progress(&format!(
            "creating {credentials} credentials raw for the floor (not measured)"
        ));
        let floor = Arc::new(
            BulkRevokeFloor::prepare(
                self.http.clone(),
                &stack::mongo_uri(&fresh_mongo),
                "gatekey_bench",
                self.kong_admin.clone(),
                self.issuer.clone(),
                credentials,
                self.args.write_clients,
            )
            .await?,
        );
        self.bulk_floor_store = Some(fresh_mongo);
        let budget = Budget::Count {
            warmup: 0,
            measure: credentials,
        };
        let measured = drive(stack::REVOCATION_CONCURRENCY, budget, None, move |_| {
            let floor = Arc::clone(&floor);
            async move { floor.revoke().await }
        })
        .await;
        Ok(vec![row(Scenario::BulkRevokeFloor, &measured)])
    }

    async fn scenario(&mut self, scenario: Scenario) -> Result<Vec<ScenarioResult>, BenchError> {
        match scenario {
            Scenario::Ingest => return self.ingest().await,
            Scenario::IngestFloor => return self.ingest_floor().await,
            Scenario::MintDuringIngest => return self.mint_during_ingest().await,
            Scenario::BulkRevoke => return self.bulk_revoke().await,
            Scenario::BulkRevokeFloor => return self.bulk_revoke_floor().await,
            _ => {}
        }
        // Counted from the end of the warm-up, as the CPU is: the first requests of a scenario
        // may do what later ones skip (verify a token the cache does not hold yet).
        let instructions = self.instructions.clone().filter(|_| scenario.is_counted());
        let warmup = Duration::from_secs_f64(self.args.warmup);
        let window = async {
            let instructions = instructions.as_ref()?;
            tokio::time::sleep(warmup).await;
            Some(instructions.start().await)
        };
        let (measured, window) = tokio::join!(self.measure(scenario), window);
        let mut measured = measured?;
        if let (Some(instructions), Some(window)) = (&instructions, window.transpose()?) {
            measured.instructions_per_request = Some(instructions.finish(window).await?);
        }
        Ok(vec![row(scenario, &measured)])
    }

    /// Drives the load of a scenario that is one load and one row.
    async fn measure(&mut self, scenario: Scenario) -> Result<Measured, BenchError> {
        let target = Arc::clone(&self.target);
        let (reads, writes, timed, cpu) = (
            self.args.read_clients,
            self.args.write_clients,
            self.timed(),
            self.gatekey_cpu,
        );
        let measured = match scenario {
            Scenario::Ingest
            | Scenario::IngestFloor
            | Scenario::MintDuringIngest
            | Scenario::BulkRevoke
            | Scenario::BulkRevokeFloor => {
                return Err(BenchError::Setup(format!(
                    "{} is not one load of one row",
                    scenario.label()
                )));
            }
            Scenario::Apis => {
                drive(reads, timed, cpu, move |c| {
                    let target = Arc::clone(&target);
                    async move { target.list_apis(c).await }
                })
                .await
            }
            Scenario::ApisPaced => {
                let (warmup, measure) = (
                    Duration::from_secs_f64(self.args.warmup),
                    Duration::from_secs_f64(self.args.duration),
                );
                drive_at_rate(self.args.apis_rate, warmup, measure, cpu, move |n| {
                    let target = Arc::clone(&target);
                    async move { target.list_apis(n % reads).await }
                })
                .await
            }
            Scenario::Mint => {
                let measured = drive(writes, timed, cpu, move |c| {
                    let target = Arc::clone(&target);
                    async move { target.mint(c).await }
                })
                .await;
                self.mint_figures = Some(measured.clone());
                measured
            }
            Scenario::Revoke => {
                let measured = drive(writes, timed, cpu, move |c| {
                    let target = Arc::clone(&target);
                    async move { target.revoke(c).await }
                })
                .await;
                if measured.ok == 0 {
                    progress("nothing was revoked: run the mint scenario before revoke");
                } else if self.target.unrevoked() == 0 {
                    progress("every minted credential was revoked before the time ran out");
                }
                measured
            }
            Scenario::Credentials => {
                drive(writes, timed, cpu, move |c| {
                    let target = Arc::clone(&target);
                    async move { target.list_credentials(c).await }
                })
                .await
            }
            Scenario::Floor => {
                // Fresh stores: both slow down as they fill (see docs/performance.md).
                let fresh_kong = stack::start_kong(self.ws, "kong-floor").await?;
                let fresh_mongo = stack::start_mongo(self.ws, "secantusd-floor").await?;
                let floor = Arc::new(
                    Floor::connect(
                        self.http.clone(),
                        &stack::mongo_uri(&fresh_mongo),
                        "gatekey_bench",
                        fresh_kong.url(),
                        self.issuer.clone(),
                    )
                    .await?,
                );
                self.floor_stores = Some((fresh_kong, fresh_mongo));
                // Same data volume as Gatekey's mint: as many operations, warm-up included.
                let budget = self
                    .mint_figures
                    .as_ref()
                    .map_or(timed, |mint| Budget::Count {
                        warmup: mint.warmup_ops,
                        measure: mint.ok + mint.errors,
                    });
                drive(writes, budget, None, move |c| {
                    let floor = Arc::clone(&floor);
                    async move { floor.mint(c).await }
                })
                .await
            }
        };
        Ok(measured)
    }
}
