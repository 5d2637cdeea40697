//! Which CPUs the bench's processes run on. By default `gatekey` gets one CPU to itself and
//! everything else (this load generator, SecantusDB, the Kong simulator, the OpenID provider)
//! shares the others, as in a deployment where Gatekey has its own cores and the database and
//! Kong run elsewhere. Sharing every core instead makes `gatekey`'s CPU figure follow the
//! database: each time SecantusDB's Python runs on `gatekey`'s core in between two of its wake-ups,
//! `gatekey` comes back to cold caches and migrated threads, and a mint measured about 1.7 times
//! the CPU time for the same instructions (`docs/performance.md`, "One core for gatekey").
//!
//! The split is inherited, not imposed afterwards: `main` confines its own thread before the
//! runtime starts its threads, so every thread and every child process of the bench starts on the
//! other CPUs; `gatekey` is forked from a thread moved for that moment onto its CPU, so the
//! runtime inside `gatekey` sizes itself to the one CPU it can use, as in a container limited to
//! one core.

use std::io;

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// `gatekey`'s CPU and the others'.
#[derive(Debug, Clone)]
pub(crate) struct CpuPlacement {
    gatekey: CpuSet,
    gatekey_cpus: Vec<usize>,
    others: CpuSet,
    other_cpus: Vec<usize>,
}

impl CpuPlacement {
    /// Splits the CPUs this thread may run on (the first for `gatekey`, the rest for everything
    /// else) and confines the thread, and so every thread and process it starts from now on, to
    /// the rest. `None`, and nothing confined, with fewer than two CPUs: there is nothing to
    /// split.
    pub(crate) fn confine_this_thread() -> io::Result<Option<Self>> {
        let Some(placement) = Self::split_this_threads_cpus()? else {
            return Ok(None);
        };
        sched_setaffinity(None, &placement.others)?;
        Ok(Some(placement))
    }

    fn split_this_threads_cpus() -> io::Result<Option<Self>> {
        let allowed = sched_getaffinity(None)?;
        let cpus: Vec<usize> = (0..CpuSet::MAX_CPU)
            .filter(|&cpu| allowed.is_set(cpu))
            .collect();
        Ok(Self::split(&cpus))
    }

    fn split(cpus: &[usize]) -> Option<Self> {
        let (&first, rest) = cpus.split_first()?;
        if rest.is_empty() {
            return None;
        }
        Some(Self {
            gatekey: cpu_set(&[first]),
            gatekey_cpus: vec![first],
            others: cpu_set(rest),
            other_cpus: rest.to_vec(),
        })
    }

    /// Runs `spawn` on `gatekey`'s CPU, so that the process it forks inherits that CPU alone,
    /// then moves the calling thread back to the others. `spawn` must not yield (a synchronous
    /// fork-and-exec), or another task would run on `gatekey`'s CPU meanwhile.
    pub(crate) fn on_gatekey_cpu<T>(&self, spawn: impl FnOnce() -> T) -> io::Result<T> {
        sched_setaffinity(None, &self.gatekey)?;
        let spawned = spawn();
        sched_setaffinity(None, &self.others)?;
        Ok(spawned)
    }

    /// For the report: e.g. "gatekey alone on CPU 0, everything else on CPU 1".
    pub(crate) fn describe(&self) -> String {
        format!(
            "gatekey alone on CPU {}, everything else on CPU {}",
            list(&self.gatekey_cpus),
            list(&self.other_cpus)
        )
    }
}

fn cpu_set(cpus: &[usize]) -> CpuSet {
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu);
    }
    set
}

/// "1", "1,2,5".
fn list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gatekey_gets_the_first_cpu_and_the_others_the_rest() {
        let placement = CpuPlacement::split(&[2, 3, 7]).expect("three CPUs split");
        assert_eq!(placement.gatekey_cpus, vec![2]);
        assert_eq!(placement.other_cpus, vec![3, 7]);
        assert!(placement.gatekey.is_set(2) && !placement.gatekey.is_set(3));
        assert!(placement.others.is_set(3) && placement.others.is_set(7));
        assert!(!placement.others.is_set(2));
        assert_eq!(
            placement.describe(),
            "gatekey alone on CPU 2, everything else on CPU 3,7"
        );
        assert!(CpuPlacement::split(&[0]).is_none(), "one CPU: no split");
        assert!(CpuPlacement::split(&[]).is_none());
    }

    /// What the kernel says a process may run on: `Cpus_allowed_list` of its status, where runs
    /// of CPUs are written as ranges ("0-2,5").
    fn allowed_cpus(child: std::process::Output) -> Vec<usize> {
        let status = String::from_utf8(child.stdout).expect("status is text");
        let allowed = status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .expect("Linux reports Cpus_allowed_list");
        let mut cpus = Vec::new();
        for run in allowed.trim().split(',') {
            let (from, to) = run.split_once('-').unwrap_or((run, run));
            let from: usize = from.parse().expect("a CPU number");
            let to: usize = to.parse().expect("a CPU number");
            cpus.extend(from..=to);
        }
        cpus
    }

    #[test]
    fn a_process_forked_on_gatekeys_cpu_keeps_it_and_the_thread_returns_to_the_others() {
        // A thread of its own, so the test harness's thread keeps its CPUs.
        std::thread::spawn(|| {
            let Some(placement) = CpuPlacement::confine_this_thread().expect("affinity") else {
                let cpus = std::thread::available_parallelism().map_or(1, usize::from);
                assert_eq!(cpus, 1, "several CPUs must split");
                return;
            };
            let cat_status = || {
                std::process::Command::new("cat")
                    .arg("/proc/self/status")
                    .output()
                    .expect("cat runs")
            };
            let gatekeys = placement.on_gatekey_cpu(cat_status).expect("placed");
            assert_eq!(allowed_cpus(gatekeys), placement.gatekey_cpus);
            assert_eq!(allowed_cpus(cat_status()), placement.other_cpus);
        })
        .join()
        .expect("the placement thread");
    }
}
