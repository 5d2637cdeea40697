//! Instructions `gatekey` retires per request, counted by valgrind's callgrind
//! (`--count-instructions`). The CPU time per request follows the host: how often the process
//! sleeps, and what a wake-up costs there (`docs/performance.md`). The instruction count follows
//! only the code and the work it is given: the same binary gives the same count run after run,
//! so a change of a few percent shows in one run. Under callgrind `gatekey` runs some 35 times
//! slower, so that run's throughput, latency, CPU and memory figures are valgrind's, not
//! `gatekey`'s.
//!
//! Per scenario: when the warm-up ends, the counters are zeroed and `gatekey`'s own request
//! counter (`gatekey_http_requests_total`) is read; both are read again after the load ends. The
//! instructions over the requests served in between is the figure. Background work in that
//! window (the reconciler's passes) counts, as in the CPU figure.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::error::BenchError;

const VALGRIND: &str = "valgrind";
const CALLGRIND_CONTROL: &str = "callgrind_control";
/// Longest wait for a dump to be written completely.
const DUMP_TIMEOUT: Duration = Duration::from_secs(60);

/// How `gatekey` is started under callgrind, and where its dumps go.
#[derive(Debug, Clone)]
pub(crate) struct Callgrind {
    out_dir: PathBuf,
}

impl Callgrind {
    /// Checks that valgrind and `callgrind_control` can be run; dumps will go to `out_dir`.
    pub(crate) fn find(out_dir: PathBuf) -> Result<Self, BenchError> {
        for tool in [VALGRIND, CALLGRIND_CONTROL] {
            let found = std::process::Command::new(tool)
                .arg("--version")
                .output()
                .is_ok_and(|output| output.status.success());
            if !found {
                return Err(BenchError::Setup(format!(
                    "--count-instructions needs `{tool}` on the PATH (Debian: apt-get install valgrind)"
                )));
            }
        }
        Ok(Self { out_dir })
    }

    /// The program and arguments that run `program` under callgrind. Only instructions are
    /// counted (no cache simulation, no jumps), per function, which is all the figure needs.
    pub(crate) fn command_line(&self, program: &Path, args: &[String]) -> (PathBuf, Vec<String>) {
        let mut wrapped = vec![
            "--tool=callgrind".to_owned(),
            format!(
                "--callgrind-out-file={}",
                self.out_dir.join("callgrind.%p").display()
            ),
            "--dump-instr=no".to_owned(),
            "--collect-jumps=no".to_owned(),
            program.display().to_string(),
        ];
        wrapped.extend_from_slice(args);
        (PathBuf::from(VALGRIND), wrapped)
    }

    /// The counter of the process `pid` started by [`Callgrind::command_line`], whose
    /// Prometheus metrics are at `metrics_url`.
    pub(crate) fn counter(
        &self,
        pid: u32,
        metrics_url: String,
        http: reqwest::Client,
    ) -> InstructionCounter {
        InstructionCounter {
            pid,
            out_dir: self.out_dir.clone(),
            metrics_url,
            http,
        }
    }
}

/// Reads and resets the instruction counters of one `gatekey` under callgrind.
#[derive(Debug, Clone)]
pub(crate) struct InstructionCounter {
    pid: u32,
    out_dir: PathBuf,
    metrics_url: String,
    http: reqwest::Client,
}

/// Where a counted window started: the requests `gatekey` had served then.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CountedWindow {
    served_before: u64,
}

impl InstructionCounter {
    /// Zeroes the counters and notes the requests served so far.
    pub(crate) async fn start(&self) -> Result<CountedWindow, BenchError> {
        self.control("-z").await?;
        Ok(CountedWindow {
            served_before: self.requests_served().await?,
        })
    }

    /// Instructions per request served since `window` started.
    pub(crate) async fn finish(&self, window: CountedWindow) -> Result<f64, BenchError> {
        let served = self
            .requests_served()
            .await?
            .saturating_sub(window.served_before);
        if served == 0 {
            return Err(BenchError::Setup(format!(
                "gatekey_http_requests_total at {} did not grow while the scenario ran",
                self.metrics_url
            )));
        }
        let dumps_before = self.dumps_so_far()?;
        self.control("-d").await?;
        let instructions = self.wait_for_dump(dumps_before).await?;
        #[expect(
            clippy::cast_precision_loss,
            reason = "instruction and request counts stay far below 2^52"
        )]
        Ok(instructions as f64 / served as f64)
    }

    async fn control(&self, command: &str) -> Result<(), BenchError> {
        let output = Command::new(CALLGRIND_CONTROL)
            .arg(command)
            .arg(self.pid.to_string())
            .output()
            .await?;
        if output.status.success() {
            Ok(())
        } else {
            Err(BenchError::Setup(format!(
                "`{CALLGRIND_CONTROL} {command} {}` failed: {}",
                self.pid,
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }

    /// Requests `gatekey` has served so far, from its own metrics.
    async fn requests_served(&self) -> Result<u64, BenchError> {
        let metrics = self
            .http
            .get(&self.metrics_url)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(requests_total(&metrics))
    }

    /// How many dumps this process has written (`callgrind.<pid>.<n>`, one per `-d`).
    fn dumps_so_far(&self) -> Result<usize, BenchError> {
        let prefix = format!("callgrind.{}.", self.pid);
        let mut dumps = 0;
        for entry in std::fs::read_dir(&self.out_dir)? {
            if entry?.file_name().to_string_lossy().starts_with(&prefix) {
                dumps += 1;
            }
        }
        Ok(dumps)
    }

    /// The instruction total of the dump after the `dumps_before` earlier ones, once written in
    /// full (its `totals:` line is the last one callgrind writes).
    async fn wait_for_dump(&self, dumps_before: usize) -> Result<u64, BenchError> {
        let path = self
            .out_dir
            .join(format!("callgrind.{}.{}", self.pid, dumps_before + 1));
        let started = tokio::time::Instant::now();
        loop {
            if let Ok(dump) = tokio::fs::read_to_string(&path).await
                && dump.lines().any(|line| line.starts_with("totals:"))
            {
                return summary_instructions(&dump).ok_or_else(|| {
                    BenchError::Setup(format!("{} has no `summary:` line", path.display()))
                });
            }
            if started.elapsed() > DUMP_TIMEOUT {
                return Err(BenchError::Setup(format!(
                    "callgrind did not write {} within {} s",
                    path.display(),
                    DUMP_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The instructions counted in a callgrind dump (its `summary:` line; the only event is `Ir`).
fn summary_instructions(dump: &str) -> Option<u64> {
    dump.lines()
        .find_map(|line| line.strip_prefix("summary:"))?
        .trim()
        .parse()
        .ok()
}

/// The sum of every `gatekey_http_requests_total` series of a Prometheus text exposition; 0
/// before the first request, when the counter has no series yet. A line that does not parse
/// counts as 0.
fn requests_total(metrics: &str) -> u64 {
    let mut total = 0;
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("gatekey_http_requests_total") else {
            continue;
        };
        // `{labels} value`, or ` value` without labels; not another metric's longer name.
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let Some(Ok(value)) = rest.rsplit_once(' ').map(|(_, value)| value.parse::<f64>()) else {
            continue;
        };
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a counter is a whole, non-negative number far below 2^52"
        )]
        let value = value as u64;
        total += value;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_holds_the_instructions() {
        let dump = "# callgrind format\nversion: 1\npid: 2662\nevents: Ir\nsummary: 3067771480\n\n\
                    fn=(1) main\n12 40\ntotals: 3067794155\n";
        assert_eq!(summary_instructions(dump), Some(3_067_771_480));
        assert_eq!(summary_instructions("events: Ir\n"), None);
    }

    #[test]
    fn requests_are_summed_over_every_series_of_the_counter_only() {
        let metrics = "# TYPE gatekey_http_requests_total counter\n\
            gatekey_http_requests_total{method=\"GET\",route=\"/v1/apis\",status=\"200\"} 1500\n\
            gatekey_http_requests_total{method=\"POST\",route=\"/v1/apis/{id}/credentials\",status=\"201\"} 42\n\
            gatekey_http_requests_total_other 7\n\
            gatekey_mints_total{api=\"orders\",outcome=\"issued\"} 42\n";
        assert_eq!(requests_total(metrics), 1542);
        assert_eq!(requests_total("gatekey_mints_total 3\n"), 0);
    }

    #[test]
    fn gatekey_runs_under_callgrind_with_its_own_arguments() {
        let callgrind = Callgrind {
            out_dir: PathBuf::from("/tmp/run"),
        };
        let (program, args) =
            callgrind.command_line(Path::new("/bin/gatekey"), &["serve".to_owned()]);
        assert_eq!(program, PathBuf::from("valgrind"));
        assert_eq!(args[0], "--tool=callgrind");
        assert_eq!(args[1], "--callgrind-out-file=/tmp/run/callgrind.%p");
        assert_eq!(&args[args.len() - 2..], ["/bin/gatekey", "serve"]);
    }
}
