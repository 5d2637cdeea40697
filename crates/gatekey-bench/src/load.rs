//! The load driver: N concurrent clients, each running one operation after another (closed loop,
//! no think time), first through a warm-up whose operations are not recorded, then through the
//! measured phase. Each client keeps its own histogram (no shared lock on the hot path); the
//! histograms are merged at the end.
//!
//! A phase is bounded by time or by a number of operations. The floor runs by count: exactly as
//! many operations as Gatekey's mint completed, so both runs leave the same data volume in the
//! stores they share the limits of.
//!
//! [`drive_at_rate`] is the open-loop driver: operations start at a fixed rate whatever their
//! latency, as people and CI jobs arrive, for latencies below the server's saturation.
//!
//! Given the [`CpuClock`] of the process under test, the driver reads its CPU time when the first
//! client enters the measured phase and again once every client has stopped: the CPU the process
//! spent per measured request, startup and warm-up excluded.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::cpu::{CpuClock, CpuUse};

/// Latencies are recorded in microseconds, up to a minute, with 3 significant digits.
const MAX_LATENCY_MICROS: u64 = 60_000_000;

/// How long the two phases last.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Budget {
    Time { warmup: Duration, measure: Duration },
    Count { warmup: u64, measure: u64 },
}

/// What one operation came to.
#[derive(Debug)]
pub(crate) enum Outcome {
    Ok,
    Failed(String),
    /// The client has nothing left to do (e.g. no credential left to revoke); it stops.
    Exhausted,
}

/// The figures of one measured phase.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    pub clients: usize,
    /// Operations started during the warm-up (successful or not).
    pub warmup_ops: u64,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// From the start of the measured phase to the end of its last operation.
    pub elapsed: Duration,
    pub histogram: Histogram<u64>,
    /// CPU time the process under test used over the measured phase, if it was watched.
    pub cpu: Option<CpuUse>,
    /// Instructions the process under test retired per request it served, if counted
    /// ([`crate::instructions`]).
    pub instructions_per_request: Option<f64>,
}

/// Percentiles and throughput, as printed and serialized.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    pub clients: usize,
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// CPU time of the process under test per measured request (successful or not), in µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_micros_per_request: Option<f64>,
    /// Times the process under test went to sleep to wait, per measured request: each is a
    /// wake-up on a cold core later ([`crate::cpu::CpuUse::wakeups`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wakeups_per_request: Option<f64>,
    /// Instructions the process under test retired per request it served (`--count-instructions`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions_per_request: Option<f64>,
    /// Entries per request of a batch scenario (the usage ingest); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries_per_request: Option<u64>,
    /// Entries stored per second (successful requests times their entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries_per_second: Option<f64>,
    /// CPU time of the process under test per entry of the measured requests, in µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_micros_per_entry: Option<f64>,
    /// Posts of a batch scenario answered 503 `ingest_busy` and posted again (warm-up included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy_answers: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Measured {
    /// Nothing counted yet.
    pub(crate) fn empty(clients: usize) -> Self {
        Self {
            clients,
            warmup_ops: 0,
            ok: 0,
            errors: 0,
            first_error: None,
            elapsed: Duration::ZERO,
            histogram: histogram(),
            cpu: None,
            instructions_per_request: None,
        }
    }

    /// Counts one measured operation's outcome, and its latency when it succeeded.
    fn count(&mut self, outcome: Outcome, latency: Duration) {
        match outcome {
            Outcome::Exhausted => {}
            Outcome::Ok => {
                self.ok += 1;
                let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                self.histogram.saturating_record(micros.max(1));
            }
            Outcome::Failed(detail) => {
                self.errors += 1;
                self.first_error.get_or_insert(detail);
            }
        }
    }

    pub(crate) fn summary(&self) -> Summary {
        let ms = |q: f64| value_ms(self.histogram.value_at_quantile(q));
        let seconds = self.elapsed.as_secs_f64();
        #[expect(
            clippy::cast_precision_loss,
            reason = "request counts stay far below 2^52"
        )]
        let requests_per_second = if seconds > 0.0 {
            self.ok as f64 / seconds
        } else {
            0.0
        };
        let attempts = self.ok + self.errors;
        #[expect(
            clippy::cast_precision_loss,
            reason = "request counts stay far below 2^52"
        )]
        let per_request = self.cpu.filter(|_| attempts > 0).map(|cpu| {
            (
                cpu.time.as_secs_f64() * 1e6 / attempts as f64,
                cpu.wakeups as f64 / attempts as f64,
            )
        });
        Summary {
            clients: self.clients,
            requests: self.ok,
            errors: self.errors,
            seconds,
            requests_per_second,
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: value_ms(self.histogram.max()),
            cpu_micros_per_request: per_request.map(|(micros, _)| micros),
            wakeups_per_request: per_request.map(|(_, wakeups)| wakeups),
            instructions_per_request: self.instructions_per_request,
            entries_per_request: None,
            entries_per_second: None,
            cpu_micros_per_entry: None,
            busy_answers: None,
            first_error: self.first_error.clone(),
        }
    }

    /// The summary of a scenario whose requests each carry `entries` entries.
    #[expect(
        clippy::cast_precision_loss,
        reason = "entry counts stay far below 2^52"
    )]
    pub(crate) fn batch_summary(&self, entries: u64) -> Summary {
        let summary = self.summary();
        Summary {
            entries_per_request: Some(entries),
            entries_per_second: Some(summary.requests_per_second * entries as f64),
            cpu_micros_per_entry: summary
                .cpu_micros_per_request
                .map(|micros| micros / entries.max(1) as f64),
            ..summary
        }
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "latencies in microseconds stay far below 2^52"
)]
fn value_ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// What one client saw.
struct ClientLog {
    counted: Measured,
    first_measured_start: Option<Instant>,
    last_measured_end: Option<Instant>,
}

enum Phase {
    Warmup,
    Measure,
    Stop,
}

/// The budget, anchored at the moment the run started.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    budget: Budget,
    started: Instant,
}

impl Schedule {
    /// The phase an operation with this ticket (the n-th started overall) starting now is in.
    fn phase(&self, ticket: u64, now: Instant) -> Phase {
        let (warmup, measure) = match self.budget {
            Budget::Time { warmup, measure } => {
                let elapsed = now - self.started;
                (elapsed < warmup, elapsed < warmup + measure)
            }
            Budget::Count { warmup, measure } => (ticket < warmup, ticket < warmup + measure),
        };
        match (warmup, measure) {
            (true, _) => Phase::Warmup,
            (false, true) => Phase::Measure,
            (false, false) => Phase::Stop,
        }
    }
}

#[expect(
    clippy::expect_used,
    reason = "the bounds are constants that hdrhistogram accepts"
)]
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3).expect("static histogram bounds are valid")
}

/// One client: operations back to back until its schedule says stop.
async fn client_loop<F, Fut>(
    client: usize,
    op: Arc<F>,
    tickets: Arc<AtomicU64>,
    schedule: Schedule,
    cpu_at_measure_start: Arc<OnceLock<Option<CpuUse>>>,
    cpu: Option<CpuClock>,
) -> ClientLog
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut log = ClientLog {
        counted: Measured::empty(1),
        first_measured_start: None,
        last_measured_end: None,
    };
    loop {
        let ticket = tickets.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let measured = match schedule.phase(ticket, start) {
            Phase::Warmup => false,
            Phase::Measure => {
                if let Some(cpu) = cpu {
                    cpu_at_measure_start.get_or_init(|| cpu.used());
                }
                true
            }
            Phase::Stop => break,
        };
        let outcome = op(client).await;
        let end = Instant::now();
        match outcome {
            Outcome::Exhausted => break,
            _ if !measured => log.counted.warmup_ops += 1,
            outcome => log.counted.count(outcome, end - start),
        }
        if measured {
            log.first_measured_start.get_or_insert(start);
            log.last_measured_end = Some(end);
        }
    }
    log
}

/// Runs `op(client_index)` from `clients` concurrent tasks until the budget is spent; with `cpu`,
/// also measures the CPU that process used over the measured phase.
pub(crate) async fn drive<F, Fut>(
    clients: usize,
    budget: Budget,
    cpu: Option<CpuClock>,
    op: F,
) -> Measured
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let op = Arc::new(op);
    let tickets = Arc::new(AtomicU64::new(0));
    let cpu_at_measure_start = Arc::new(OnceLock::new());
    let schedule = Schedule {
        budget,
        started: Instant::now(),
    };
    let tasks = (0..clients).map(|client| {
        tokio::spawn(client_loop(
            client,
            Arc::clone(&op),
            Arc::clone(&tickets),
            schedule,
            Arc::clone(&cpu_at_measure_start),
            cpu,
        ))
    });
    let mut measured = Measured::empty(clients);
    let mut first_start: Option<Instant> = None;
    let mut last_end: Option<Instant> = None;
    for task in futures::future::join_all(tasks).await {
        let log = match task {
            Ok(log) => log,
            Err(err) => {
                measured.count(
                    Outcome::Failed(format!("client task failed: {err}")),
                    Duration::ZERO,
                );
                continue;
            }
        };
        let counted = log.counted;
        measured.warmup_ops += counted.warmup_ops;
        measured.ok += counted.ok;
        measured.errors += counted.errors;
        if measured.first_error.is_none() {
            measured.first_error = counted.first_error;
        }
        #[expect(
            clippy::expect_used,
            reason = "every client's histogram has the same bounds"
        )]
        measured
            .histogram
            .add(&counted.histogram)
            .expect("histograms with equal bounds merge");
        first_start = match (first_start, log.first_measured_start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        last_end = last_end.max(log.last_measured_end);
    }
    // A time budget measures from the end of the warm-up, even if no operation started then.
    if let Budget::Time { warmup, .. } = budget {
        first_start = Some(schedule.started + warmup);
    }
    if let (Some(first), Some(last)) = (first_start, last_end) {
        measured.elapsed = last.saturating_duration_since(first);
    }
    if let (Some(Some(start)), Some(end)) =
        (cpu_at_measure_start.get(), cpu.and_then(|cpu| cpu.used()))
    {
        measured.cpu = Some(end.since(*start));
    }
    measured
}

/// Starts `op(n)` (n counting from 0) `per_second` times a second through the warm-up and the
/// measured phase of `budget`, whatever the latency of the ones before (open loop). A latency
/// runs from the operation's scheduled start, so a late start counts against it. `clients` of the
/// result is the most operations that were in flight at once. With `cpu`, also measures the CPU
/// that process used from the first measured start until the last operation ended.
pub(crate) async fn drive_at_rate<F, Fut>(
    per_second: f64,
    warmup: Duration,
    measure: Duration,
    cpu: Option<CpuClock>,
    op: F,
) -> Measured
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let period = Duration::from_secs_f64(1.0 / per_second.max(f64::MIN_POSITIVE));
    let started = Instant::now();
    let (measure_from, end) = (started + warmup, started + warmup + measure);
    let in_flight = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let mut running = tokio::task::JoinSet::new();
    let mut cpu_at_measure_start = None;
    for n in 0_usize.. {
        #[expect(
            clippy::cast_precision_loss,
            reason = "operation counts stay far below 2^52"
        )]
        let scheduled = started + period.mul_f64(n as f64);
        if scheduled >= end {
            break;
        }
        tokio::time::sleep_until(scheduled.into()).await;
        if scheduled >= measure_from && cpu_at_measure_start.is_none() {
            cpu_at_measure_start = cpu.map(|cpu| cpu.used());
        }
        let operation = op(n);
        let (in_flight, peak) = (Arc::clone(&in_flight), Arc::clone(&peak));
        running.spawn(async move {
            let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            peak.fetch_max(now, Ordering::Relaxed);
            let outcome = operation.await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            (scheduled, Instant::now(), outcome)
        });
    }
    let mut measured = Measured::empty(0);
    let mut last_end = measure_from;
    while let Some(joined) = running.join_next().await {
        let (scheduled, ended, outcome) = match joined {
            Ok(done) => done,
            Err(err) => {
                measured.count(
                    Outcome::Failed(format!("operation task failed: {err}")),
                    Duration::ZERO,
                );
                continue;
            }
        };
        if scheduled < measure_from {
            measured.warmup_ops += 1;
            continue;
        }
        last_end = last_end.max(ended);
        measured.count(outcome, ended - scheduled);
    }
    measured.clients = usize::try_from(peak.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
    measured.elapsed = last_end.saturating_duration_since(measure_from);
    if let (Some(Some(start)), Some(end)) = (cpu_at_measure_start, cpu.and_then(|cpu| cpu.used())) {
        measured.cpu = Some(end.since(start));
    }
    measured
}
