//! The results of one run: the table printed for people, the same figures as JSON, and the
//! targets of issues 6, 16 and 18 checked against them (issue 20's bulk revocation has a figure
//! and a ratio to its floor, no target).

use std::fmt::Write as _;

use serde::Serialize;

use crate::load::Summary;

/// Mint throughput must reach this share of the floor's (issue 16: with the reconciler on).
const MINT_FLOOR_RATIO_TARGET: f64 = 0.90;
/// `gatekey` CPU per mint, so that one core serves 2,000 mints/s whenever the database can.
const MINT_CPU_MICROS_TARGET: f64 = 500.0;
const APIS_RPS_TARGET: f64 = 20_000.0;
const APIS_P99_MS_TARGET: f64 = 5.0;
const MINT_P99_MS_TARGET: f64 = 25.0;
const RSS_MIB_TARGET: f64 = 64.0;
/// Ingest throughput (entries/s) must reach this share of its floor's (issue 18).
const INGEST_FLOOR_RATIO_TARGET: f64 = 0.80;
/// "No effect on mint latency while the ingest runs" (issue 18), read as: the mint's p99 while
/// ingest senders run stays within run-to-run noise, 25 %, of the mint's p99 alone.
const MINT_P99_DURING_INGEST_FACTOR: f64 = 1.25;

/// Where the run happened.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    pub cpus: usize,
    pub cpu_model: Option<String>,
    pub kernel: Option<String>,
}

impl Machine {
    pub(crate) fn detect() -> Self {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            });
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned());
        Self {
            cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            cpu_model,
            kernel,
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ScenarioResult {
    /// Stable key: `apis`, `apis-paced`, `mint`, `mint-paced`, `mint-paced-during-ingest`,
    /// `ingest-during-paced-mint`, `mint-before-ingest`, `mint-during-ingest`,
    /// `ingest-during-mint`, `mint-after-ingest`, `revoke`, `credentials`, `floor`, `ingest`, `ingest-floor`,
    /// `bulk-revoke-floor`.
    pub scenario: &'static str,
    /// What was measured, as shown in the table.
    pub label: &'static str,
    #[serde(flatten)]
    pub summary: Summary,
}

/// One bulk revocation job, from the POST to the poll that saw it done. A job has no latency per
/// credential to report, so it is not a row of the table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BulkRevocation {
    /// Live credentials of the subject when the job started.
    pub credentials: u64,
    /// `revocations.concurrency`: Kong deletes in flight.
    pub concurrency: usize,
    pub revoked: u64,
    /// Credentials the job reported as not revoked (must be 0).
    pub failed: u64,
    pub seconds: f64,
    pub revocations_per_second: f64,
    /// CPU time of `gatekey` over the job (the bench's polls included) per revoked credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_micros_per_revocation: Option<f64>,
}

impl BulkRevocation {
    /// Credentials the job did not revoke.
    pub(crate) fn unrevoked(&self) -> u64 {
        self.credentials.saturating_sub(self.revoked)
    }
}

/// One target and whether the run met it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TargetCheck {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// The binaries were a debug build: the figures only prove that the bench works.
    pub debug_build: bool,
    pub short: bool,
    /// `gatekey` ran under callgrind (`--count-instructions`): only its instruction counts are
    /// its own figures; throughput, latency, CPU and memory are valgrind's, and no target is
    /// checked.
    pub instructions_counted: bool,
    pub machine: Machine,
    /// Where `gatekey` ran: alone on a CPU (which one), or `None` for every process on every CPU.
    pub placement: Option<String>,
    pub warmup_seconds: f64,
    pub duration_seconds: f64,
    pub scenarios: Vec<ScenarioResult>,
    /// Gatekey mint throughput / floor throughput.
    pub mint_to_floor_ratio: Option<f64>,
    /// Gatekey ingest entries/s / floor entries/s.
    pub ingest_to_floor_ratio: Option<f64>,
    /// The bulk revocation job, when its scenario ran.
    pub bulk_revocation: Option<BulkRevocation>,
    /// The job's revocations/s / its floor's revocations/s.
    pub bulk_revoke_to_floor_ratio: Option<f64>,
    /// Peak resident set size (VmHWM) of the `gatekey` process over the whole run.
    pub gatekey_peak_rss_bytes: Option<u64>,
    /// `gatekey` CPU one wake-up costs on this host, in µs: what `GET /v1/apis` costs more per
    /// request when paced than when it keeps the core busy, per extra wake-up.
    pub wakeup_price_micros: Option<f64>,
    pub targets: Vec<TargetCheck>,
}

/// The CPU price of one wake-up: the same requests sent `paced` (the core idles between them)
/// and `busy` (it never does), their CPU per request apart over their wake-ups per request apart.
/// `None` unless both were measured and the paced ones woke the process at least once in ten.
fn wakeup_price(busy: &Summary, paced: &Summary) -> Option<f64> {
    let extra_wakeups = paced.wakeups_per_request? - busy.wakeups_per_request?;
    let extra_cpu = paced.cpu_micros_per_request? - busy.cpu_micros_per_request?;
    (extra_wakeups >= 0.1).then(|| extra_cpu / extra_wakeups)
}

impl Report {
    pub(crate) fn scenario(&self, key: &str) -> Option<&Summary> {
        self.scenarios
            .iter()
            .find(|s| s.scenario == key)
            .map(|s| &s.summary)
    }

    /// Fills in the ratios and the target checks from the scenarios.
    pub(crate) fn evaluate(&mut self) {
        self.compute_ratios();
        if !self.instructions_counted {
            self.targets = self.check_targets();
        }
    }

    /// Each measured figure over its floor's.
    fn compute_ratios(&mut self) {
        self.mint_to_floor_ratio = match (self.scenario("mint"), self.scenario("floor")) {
            (Some(mint), Some(floor)) if floor.requests_per_second > 0.0 => {
                Some(mint.requests_per_second / floor.requests_per_second)
            }
            _ => None,
        };
        self.wakeup_price_micros = match (self.scenario("apis"), self.scenario("apis-paced")) {
            (Some(busy), Some(paced)) => wakeup_price(busy, paced),
            _ => None,
        };
        self.ingest_to_floor_ratio = match (
            self.scenario("ingest").and_then(|s| s.entries_per_second),
            self.scenario("ingest-floor")
                .and_then(|s| s.entries_per_second),
        ) {
            (Some(ingest), Some(floor)) if floor > 0.0 => Some(ingest / floor),
            _ => None,
        };
        self.bulk_revoke_to_floor_ratio =
            match (&self.bulk_revocation, self.scenario("bulk-revoke-floor")) {
                (Some(job), Some(floor)) if floor.requests_per_second > 0.0 => {
                    Some(job.revocations_per_second / floor.requests_per_second)
                }
                _ => None,
            };
    }

    /// The targets of issues 6, 16 and 18 against this run.
    fn check_targets(&self) -> Vec<TargetCheck> {
        let mut targets = Vec::new();
        if let (Some(ratio), Some(mint)) = (self.mint_to_floor_ratio, self.scenario("mint")) {
            targets.push(TargetCheck {
                target: format!(
                    "mint >= {:.0}% of floor at {} clients, zero errors",
                    MINT_FLOOR_RATIO_TARGET * 100.0,
                    mint.clients
                ),
                measured: format!("{:.0}%, {} errors", ratio * 100.0, mint.errors),
                met: ratio >= MINT_FLOOR_RATIO_TARGET && mint.errors == 0,
            });
        }
        if let Some(apis) = self.scenario("apis") {
            targets.push(TargetCheck {
                target: format!(
                    "GET /v1/apis >= {APIS_RPS_TARGET:.0} req/s, p99 < {APIS_P99_MS_TARGET} ms at {} clients",
                    apis.clients
                ),
                measured: format!(
                    "{:.0} req/s, p99 {:.2} ms",
                    apis.requests_per_second, apis.p99_ms
                ),
                met: apis.requests_per_second >= APIS_RPS_TARGET
                    && apis.p99_ms < APIS_P99_MS_TARGET
                    && apis.errors == 0,
            });
        }
        if let Some(rss) = self.gatekey_peak_rss_bytes {
            let mib = mib(rss);
            targets.push(TargetCheck {
                target: format!("gatekey peak RSS < {RSS_MIB_TARGET:.0} MiB"),
                measured: format!("{mib:.1} MiB"),
                met: mib < RSS_MIB_TARGET,
            });
        }
        if let Some((mint, cpu)) = self
            .scenario("mint")
            .and_then(|mint| Some((mint, mint.cpu_micros_per_request?)))
        {
            targets.push(TargetCheck {
                target: format!(
                    "gatekey CPU per mint <= {MINT_CPU_MICROS_TARGET:.0} µs at {} clients",
                    mint.clients
                ),
                measured: format!("{cpu:.0} µs"),
                met: cpu <= MINT_CPU_MICROS_TARGET,
            });
        }
        if let Some(mint) = self.scenario("mint") {
            targets.push(TargetCheck {
                target: format!(
                    "mint p99 < {MINT_P99_MS_TARGET:.0} ms at {} clients",
                    mint.clients
                ),
                measured: format!("{:.2} ms", mint.p99_ms),
                met: mint.p99_ms < MINT_P99_MS_TARGET,
            });
        }
        targets.extend(self.ingest_targets());
        targets
    }

    /// The targets of issue 18: ingest against its floor, and mints beside the ingest.
    fn ingest_targets(&self) -> Vec<TargetCheck> {
        let mut targets = Vec::new();
        if let (Some(ratio), Some(ingest)) = (self.ingest_to_floor_ratio, self.scenario("ingest")) {
            targets.push(TargetCheck {
                target: format!(
                    "ingest >= {:.0}% of floor (entries/s) at {} senders, zero errors",
                    INGEST_FLOOR_RATIO_TARGET * 100.0,
                    ingest.clients
                ),
                measured: format!("{:.0}%, {} errors", ratio * 100.0, ingest.errors),
                met: ratio >= INGEST_FLOOR_RATIO_TARGET && ingest.errors == 0,
            });
        }
        if let (Some(alone), Some(during)) = (
            self.scenario("mint-paced"),
            self.scenario("mint-paced-during-ingest"),
        ) {
            targets.push(mint_beside_ingest(
                &format!("at {:.0} mints/s", alone.requests_per_second),
                alone,
                during,
            ));
        }
        // Alone on the same stores: the mean of the rows just before and just after (the mints
        // slow down as the stores fill), else the row before, else the run's mint row.
        let before = self
            .scenario("mint-before-ingest")
            .or_else(|| self.scenario("mint"));
        let alone = match (before, self.scenario("mint-after-ingest")) {
            (Some(before), Some(after)) => Some(Summary {
                p50_ms: f64::midpoint(before.p50_ms, after.p50_ms),
                p99_ms: f64::midpoint(before.p99_ms, after.p99_ms),
                ..before.clone()
            }),
            (before, _) => before.cloned(),
        };
        if let (Some(alone), Some(during)) = (alone, self.scenario("mint-during-ingest")) {
            targets.push(mint_beside_ingest(
                &format!("at {} clients", during.clients),
                &alone,
                during,
            ));
        }
        targets
    }

    /// The instruction counts, when `gatekey` ran under callgrind.
    fn write_instructions(&self, out: &mut String) {
        if !self.instructions_counted {
            return;
        }
        let _ = writeln!(
            out,
            "gatekey ran under callgrind: its throughput, latency, CPU and memory above are \
             valgrind's; instructions it retired per request served after the warm-up:"
        );
        for row in &self.scenarios {
            if let Some(instructions) = row.summary.instructions_per_request {
                let _ = writeln!(out, "  {}: {}", row.label, grouped(instructions));
            }
        }
    }

    /// What a wake-up costs here, and how much of the mint's CPU its wake-ups come to at that
    /// price.
    fn write_wakeup_price(&self, out: &mut String) {
        let Some(price) = self
            .wakeup_price_micros
            .filter(|_| !self.instructions_counted)
        else {
            return;
        };
        let _ = write!(
            out,
            "one wake-up of gatekey costs about {price:.0} µs of CPU here (GET /v1/apis paced \
             against busy)"
        );
        if let Some((cpu, wakeups)) = self
            .scenario("mint")
            .and_then(|mint| Some((mint.cpu_micros_per_request?, mint.wakeups_per_request?)))
        {
            let _ = write!(
                out,
                "; a mint's {wakeups:.2} wake-ups at that price: {:.0} of its {cpu:.0} µs",
                wakeups * price
            );
        }
        let _ = writeln!(out);
    }

    /// The table's first line: build, machine, CPU placement, durations.
    fn heading(&self) -> String {
        let build = if self.instructions_counted {
            "gatekey under callgrind: only the instruction counts are gatekey's figures"
        } else if self.debug_build {
            "DEBUG build: these figures are NOT meaningful"
        } else {
            "release build"
        };
        format!(
            "gatekey-bench: {build}; {} CPUs ({}); {}; {:.1} s warm-up + {:.1} s per scenario{}",
            self.machine.cpus,
            self.machine.cpu_model.as_deref().unwrap_or("unknown CPU"),
            self.placement
                .as_deref()
                .unwrap_or("every process on every CPU"),
            self.warmup_seconds,
            self.duration_seconds,
            if self.short { " (--short)" } else { "" },
        )
    }

    /// The human-readable table.
    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.heading());
        let _ = writeln!(
            out,
            "{:<30} {:>7} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>7} {:>11} {:>8}",
            "scenario",
            "clients",
            "requests",
            "req/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9 ms",
            "errors",
            "gatekey CPU",
            "wake-ups"
        );
        for row in &self.scenarios {
            let s = &row.summary;
            let cpu = s
                .cpu_micros_per_request
                .map_or_else(|| "-".to_owned(), |micros| format!("{micros:.0} µs"));
            let wakeups = s
                .wakeups_per_request
                .map_or_else(|| "-".to_owned(), |wakeups| format!("{wakeups:.2}"));
            let _ = writeln!(
                out,
                "{:<30} {:>7} {:>9} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>11} {:>8}",
                row.label,
                s.clients,
                s.requests,
                s.requests_per_second,
                s.p50_ms,
                s.p90_ms,
                s.p99_ms,
                s.p999_ms,
                s.errors,
                cpu,
                wakeups
            );
        }
        if let Some(ratio) = self.mint_to_floor_ratio {
            let _ = writeln!(out, "mint / floor throughput: {ratio:.2}");
        }
        self.write_wakeup_price(&mut out);
        self.write_instructions(&mut out);
        for row in &self.scenarios {
            let s = &row.summary;
            if let (Some(entries), Some(per_second)) = (s.entries_per_request, s.entries_per_second)
            {
                let cpu = s.cpu_micros_per_entry.map_or_else(String::new, |micros| {
                    format!(", gatekey CPU {micros:.1} µs per entry")
                });
                let busy = s.busy_answers.map_or_else(String::new, |busy| {
                    format!(", {busy} posts answered 503 ingest_busy and sent again")
                });
                let _ = writeln!(
                    out,
                    "{}: {entries} entries per request, {per_second:.0} entries/s{cpu}{busy}",
                    row.label
                );
            }
        }
        if let Some(ratio) = self.ingest_to_floor_ratio {
            let _ = writeln!(out, "ingest / floor throughput (entries/s): {ratio:.2}");
        }
        self.write_bulk_revocation(&mut out);
        let _ = writeln!(
            out,
            "gatekey CPU: user + system time of the gatekey process per measured request \
             (/proc/<pid>/stat over the measured phase; background work such as the reconciler \
             included, startup and warm-up excluded); wake-ups: times one of its threads went \
             to sleep to wait, per measured request (voluntary context switches)"
        );
        if let Some(rss) = self.gatekey_peak_rss_bytes {
            let _ = writeln!(out, "gatekey peak RSS (VmHWM): {:.1} MiB", mib(rss));
        }
        for row in &self.scenarios {
            if let Some(error) = &row.summary.first_error {
                let _ = writeln!(out, "first error of {}: {error}", row.label);
            }
        }
        if !self.targets.is_empty() {
            let _ = writeln!(out, "targets:");
            for check in &self.targets {
                let _ = writeln!(
                    out,
                    "  [{}] {}: {}",
                    if check.met { "met" } else { "MISSED" },
                    check.target,
                    check.measured
                );
            }
        }
        out
    }

    /// The bulk revocation job's line and its ratio to the floor, if it ran.
    fn write_bulk_revocation(&self, out: &mut String) {
        if let Some(job) = &self.bulk_revocation {
            let cpu = job
                .cpu_micros_per_revocation
                .map_or_else(String::new, |micros| {
                    format!(", gatekey CPU {micros:.0} µs per revocation")
                });
            let _ = writeln!(
                out,
                "bulk revocation job ({} Kong deletes in flight): {} of {} credentials revoked, \
                 {} failed, in {:.2} s: {:.1} revocations/s{cpu}",
                job.concurrency,
                job.revoked,
                job.credentials,
                job.failed,
                job.seconds,
                job.revocations_per_second
            );
        }
        if let Some(ratio) = self.bulk_revoke_to_floor_ratio {
            let _ = writeln!(out, "bulk-revoke / floor throughput: {ratio:.2}");
        }
    }
}

/// `value` rounded to a whole number, its digits in groups of three: `1,071,234`.
fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (n, digit) in digits.chars().enumerate() {
        if n > 0 && (digits.len() - n) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[expect(
    clippy::cast_precision_loss,
    reason = "memory sizes stay far below 2^52"
)]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Issue 18's "no effect on mint latency while the ingest runs", for mints `how`.
fn mint_beside_ingest(how: &str, alone: &Summary, during: &Summary) -> TargetCheck {
    TargetCheck {
        target: format!(
            "mint p99 {how} while ingest runs <= {MINT_P99_DURING_INGEST_FACTOR} x alone, \
             zero errors"
        ),
        measured: format!(
            "p50 {:.2} -> {:.2} ms, p99 {:.2} -> {:.2} ms, {} errors",
            alone.p50_ms, during.p50_ms, alone.p99_ms, during.p99_ms, during.errors
        ),
        met: during.p99_ms <= alone.p99_ms * MINT_P99_DURING_INGEST_FACTOR && during.errors == 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Measured;

    fn measured(cpu_micros: f64, wakeups: f64) -> Summary {
        Summary {
            cpu_micros_per_request: Some(cpu_micros),
            wakeups_per_request: Some(wakeups),
            ..Measured::empty(1).summary()
        }
    }

    #[test]
    fn a_wakeup_costs_the_paced_requests_extra_cpu_over_their_extra_wakeups() {
        let busy = measured(16.0, 0.0);
        let paced = measured(70.0, 0.9);
        let price = wakeup_price(&busy, &paced).expect("paced requests woke the process");
        assert!((price - 60.0).abs() < 1e-9, "price {price}");
    }

    #[test]
    fn instruction_counts_are_grouped_by_thousands() {
        assert_eq!(grouped(1_071_234.4), "1,071,234");
        assert_eq!(grouped(164_449.0), "164,449");
        assert_eq!(grouped(999.6), "1,000");
        assert_eq!(grouped(12.0), "12");
    }

    #[test]
    fn no_price_without_wakeups_or_figures() {
        assert_eq!(
            wakeup_price(&measured(16.0, 0.0), &measured(17.0, 0.05)),
            None
        );
        let unmeasured = Measured::empty(1).summary();
        assert_eq!(wakeup_price(&measured(16.0, 0.0), &unmeasured), None);
    }
}
