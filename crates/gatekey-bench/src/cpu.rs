//! CPU time and wake-ups a process has used, from the kernel's counters: `utime` + `stime` of
//! `/proc/<pid>/stat` (all threads, in clock ticks), and the `voluntary_ctxt_switches` of every
//! thread under `/proc/<pid>/task`. The bench samples `gatekey` at the start and the end of each
//! measured phase, so the figures per request exclude startup and warm-up. Linux only; elsewhere
//! no figure is reported.
//!
//! Why wake-ups: a voluntary switch is a thread going to sleep because it has nothing to do until
//! a reply or a timer arrives, and each is followed by a wake-up on a core whose caches others
//! used meanwhile. The CPU per request of a service that waits on its database follows how often
//! it sleeps as much as the work it does (`docs/performance.md`), so the bench reports both.

use std::time::Duration;

/// Reads the CPU counters of one process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuClock {
    pid: u32,
    ticks_per_second: u64,
}

/// What a process has used so far, or over a phase (the difference of two readings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuUse {
    /// User plus system time.
    pub time: Duration,
    /// Times one of its threads went to sleep to wait (voluntary context switches). Threads that
    /// ended take their counts with them, so a phase's figure may miss a few.
    pub wakeups: u64,
}

impl CpuUse {
    /// What was used between `earlier` and `self`.
    pub(crate) fn since(self, earlier: Self) -> Self {
        Self {
            time: self.time.saturating_sub(earlier.time),
            wakeups: self.wakeups.saturating_sub(earlier.wakeups),
        }
    }
}

impl CpuClock {
    pub(crate) fn of(pid: u32) -> Self {
        Self {
            pid,
            ticks_per_second: rustix::param::clock_ticks_per_second(),
        }
    }

    /// What the process has used so far; `None` if the counters cannot be read (the process is
    /// gone, or this is not Linux).
    pub(crate) fn used(&self) -> Option<CpuUse> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        let ticks = cpu_ticks(&stat)?;
        let ticks_per_second = self.ticks_per_second.max(1);
        let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(ticks_per_second);
        let mut wakeups = 0;
        for task in std::fs::read_dir(format!("/proc/{}/task", self.pid)).ok()? {
            // A thread may end between the listing and the read: it no longer counts.
            let Ok(status) = std::fs::read_to_string(task.ok()?.path().join("status")) else {
                continue;
            };
            wakeups += voluntary_switches(&status)?;
        }
        Some(CpuUse {
            time: Duration::from_nanos(u64::try_from(nanos).ok()?),
            wakeups,
        })
    }
}

/// `utime + stime` (fields 14 and 15, proc(5)) of a `/proc/<pid>/stat` line. The command name
/// (field 2) is in parentheses and may hold spaces or parentheses, so fields are counted after
/// the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `voluntary_ctxt_switches` of a thread's `status` file (not the `nonvoluntary_` line).
fn voluntary_switches(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_are_read_after_the_command_name() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
                    1234 56 0 0 20 0 9 0 777 123456 789 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(1234 + 56));
        assert_eq!(cpu_ticks("4242 (short) S 1"), None);
    }

    #[test]
    fn voluntary_switches_are_read_from_their_own_line() {
        let status = "Name:\tgatekey\nThreads:\t3\nnonvoluntary_ctxt_switches:\t9\n\
                      voluntary_ctxt_switches:\t4283\n";
        assert_eq!(voluntary_switches(status), Some(4283));
        assert_eq!(
            voluntary_switches("Name:\tx\nnonvoluntary_ctxt_switches:\t9\n"),
            None
        );
    }

    #[test]
    fn this_process_cpu_time_grows_while_it_works() {
        let clock = CpuClock::of(std::process::id());
        let before = clock.used().expect("this test runs on Linux");
        let started = std::time::Instant::now();
        let mut spin: u64 = 0;
        while started.elapsed() < Duration::from_millis(200) {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let after = clock.used().expect("counters");
        let used = after.since(before);
        assert!(
            used.time >= Duration::from_millis(100),
            "200 ms of spinning used {:?} of CPU",
            used.time
        );
    }

    #[test]
    fn this_process_wakeups_count_its_sleeps() {
        let clock = CpuClock::of(std::process::id());
        let before = clock.used().expect("this test runs on Linux");
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let used = clock.used().expect("counters").since(before);
        assert!(
            used.wakeups >= 20,
            "20 sleeps counted {} wake-ups",
            used.wakeups
        );
    }
}
