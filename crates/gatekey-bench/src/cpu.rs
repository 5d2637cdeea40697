//! CPU time a process has used, from the kernel's counters (`utime` + `stime` of
//! `/proc/<pid>/stat`, all threads, in clock ticks). The bench samples `gatekey` at the start and
//! the end of each measured phase, so the figure per request excludes startup and warm-up and does
//! not depend on how fast the database server is. Linux only; elsewhere no figure is reported.

use std::time::Duration;

/// Reads the CPU time of one process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuClock {
    pid: u32,
    ticks_per_second: u64,
}

impl CpuClock {
    pub(crate) fn of(pid: u32) -> Self {
        Self {
            pid,
            ticks_per_second: rustix::param::clock_ticks_per_second(),
        }
    }

    /// User plus system CPU time used so far; `None` if the counters cannot be read (the process
    /// is gone, or this is not Linux).
    pub(crate) fn used(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        let ticks = cpu_ticks(&stat)?;
        let ticks_per_second = self.ticks_per_second.max(1);
        let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(ticks_per_second);
        Some(Duration::from_nanos(u64::try_from(nanos).ok()?))
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
    fn this_process_cpu_time_grows_while_it_works() {
        let clock = CpuClock::of(std::process::id());
        let before = clock.used().expect("this test runs on Linux");
        let started = std::time::Instant::now();
        let mut spin: u64 = 0;
        while started.elapsed() < Duration::from_millis(200) {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let after = clock.used().expect("counters");
        assert!(
            after >= before + Duration::from_millis(100),
            "200 ms of spinning used {:?} of CPU",
            after.saturating_sub(before)
        );
    }
}
