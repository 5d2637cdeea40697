//! A Kong Gateway 3.x (OSS, DB mode) simulator: the Admin API subset Gatekey uses and a proxy that
//! enforces key-auth, ACL and rate limiting and logs through `http-log`, with Kong's status codes and error bodies
//! (`../shared/kong-admin-contract.md`). Kong itself cannot be installed where Gatekey's tests
//! run; the same contract tests run against this simulator and against a real Kong.
//!
//! Simulator-only additions live under `/_sim/` on the admin listener: fault injection, a switch
//! that takes the database down, and a clock that tests can move forward to expire `ttl`
//! credentials and rate-limit windows and to let deletions propagate.
//!
//! Timing as a Kong cluster has it: the admin listener is the node that takes the write, the proxy
//! listener another node, which learns of a deletion (a revoked key, consumer, ACL or plugin) only
//! after [`SimConfig::db_update_frequency`], Kong's `db_update_frequency` worst case; a key-auth
//! `ttl` counts from the whole-second `created_at` and the key is refused once the remaining ttl
//! reads 0.

mod admin;
mod db;
mod declarative;
pub mod echo_upstream;
mod errors;
mod http_log;
mod plugins;
mod proxy;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub use declarative::{DeclarativeConfig, DeclarativeError};

/// The Kong version the simulator reports and imitates.
pub(crate) const KONG_VERSION: &str = "3.9.1";

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub admin_addr: SocketAddr,
    pub proxy_addr: SocketAddr,
    /// Services, routes, plugins and consumers to load at startup.
    pub declarative: Option<DeclarativeConfig>,
    /// How often expired `ttl` rows are purged (reads hide them at once, like Kong).
    pub purge_interval: Duration,
    /// How long, on the simulated clock, a deletion takes to reach the proxy: Kong's
    /// `db_update_frequency` (default 5 s in Kong) as its worst case, since another node polls
    /// the cluster events that often. 0 (the default here) makes deletions visible at once.
    pub db_update_frequency: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            proxy_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            declarative: None,
            purge_interval: Duration::from_secs(300),
            db_update_frequency: Duration::ZERO,
        }
    }
}

/// Makes the next matching Admin API requests fail (simulator only): a 500 answers Kong's
/// database-error body `{"message":"An unexpected error occurred"}`, other statuses their plain
/// `{"message": ...}` body. Also accepted as JSON by `POST /_sim/faults`
/// (`{"method":"POST","path_contains":"/key-auth","status":500,"times":1}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// HTTP method to match.
    #[serde(with = "method_serde")]
    pub method: http::Method,
    /// Substring of the request path to match.
    pub path_contains: String,
    /// Status to answer with.
    pub status: u16,
    /// How many requests fail before the fault clears.
    pub times: u32,
}

/// Makes a share of the matching Admin API requests fail, spread evenly and for good (simulator
/// only, in process): of every 100 matching requests, `percent` answer `status` (a flaky Kong
/// under load), each after `delay` (a Kong stuck on its database answers late). The fault's
/// `times` variant, [`Fault`], fails the next requests in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpreadFault {
    pub method: http::Method,
    pub path_contains: String,
    pub status: u16,
    /// 0 to 100.
    pub percent: u8,
    pub delay: Duration,
}

/// How an armed fault answers a request it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InjectedFailure {
    pub status: u16,
    /// How long the answer takes.
    pub delay: Duration,
}

/// A [`SpreadFault`] and how many requests it has seen.
#[derive(Debug)]
struct ArmedSpreadFault {
    fault: SpreadFault,
    seen: u64,
}

impl ArmedSpreadFault {
    /// Whether the next matching request fails: request `n` fails when `n * percent / 100`
    /// moves up by one, which spreads the failures evenly.
    fn fails_next(&mut self) -> bool {
        let percent = u64::from(self.fault.percent.min(100));
        let before = self.seen * percent / 100;
        self.seen += 1;
        self.seen * percent / 100 > before
    }
}

mod method_serde {
    use serde::Deserialize as _;

    pub(crate) fn serialize<S: serde::Serializer>(
        method: &http::Method,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(method.as_str())
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<http::Method, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.to_ascii_uppercase()
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// State shared by the admin and proxy listeners.
#[derive(Debug)]
pub(crate) struct Sim {
    db: Mutex<db::Db>,
    clock_offset_ms: AtomicI64,
    faults: Mutex<Vec<Fault>>,
    spread_faults: Mutex<Vec<ArmedSpreadFault>>,
    /// Cleared by the database switch: the Admin API answers 500, `/status` reports it.
    database_reachable: AtomicBool,
    admin_requests: AtomicU64,
    /// Reported by `GET /` as `node_id`.
    pub(crate) node_id: String,
    /// Client the proxy forwards with (and `http-log` sends with).
    pub(crate) http: reqwest::Client,
    /// The `http-log` plugin's queues, one per log server.
    pub(crate) http_logs: http_log::Queues,
}

impl Sim {
    /// Seconds since the epoch on the simulated clock (millisecond precision).
    pub(crate) fn now(&self) -> f64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        #[expect(clippy::cast_precision_loss, reason = "epoch milliseconds fit in f64")]
        let now = (real + self.clock_offset_ms.load(Ordering::Relaxed)) as f64 / 1000.0;
        now
    }

    pub(crate) fn db(&self) -> MutexGuard<'_, db::Db> {
        self.db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes one matching fault, if any is armed.
    pub(crate) fn take_fault(&self, method: &http::Method, path: &str) -> Option<InjectedFailure> {
        let mut faults = self
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(index) = faults
            .iter()
            .position(|f| f.method == method && path.contains(&f.path_contains) && f.times > 0)
        else {
            return self.take_spread_fault(method, path);
        };
        let status = faults[index].status;
        faults[index].times -= 1;
        if faults[index].times == 0 {
            faults.remove(index);
        }
        Some(InjectedFailure {
            status,
            delay: Duration::ZERO,
        })
    }

    /// How the first matching spread fault answers, when this request is one it fails.
    fn take_spread_fault(&self, method: &http::Method, path: &str) -> Option<InjectedFailure> {
        let mut spread = self
            .spread_faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let armed = spread
            .iter_mut()
            .find(|a| a.fault.method == method && path.contains(&a.fault.path_contains))?;
        armed.fails_next().then_some(InjectedFailure {
            status: armed.fault.status,
            delay: armed.fault.delay,
        })
    }

    pub(crate) fn set_spread_faults(&self, faults: Vec<SpreadFault>) {
        *self
            .spread_faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = faults
            .into_iter()
            .map(|fault| ArmedSpreadFault { fault, seen: 0 })
            .collect();
    }

    pub(crate) fn add_fault(&self, fault: Fault) {
        self.faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(fault);
    }

    pub(crate) fn advance(&self, by: Duration) {
        self.clock_offset_ms.fetch_add(
            i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn set_database_reachable(&self, reachable: bool) {
        self.database_reachable.store(reachable, Ordering::Relaxed);
    }

    pub(crate) fn database_reachable(&self) -> bool {
        self.database_reachable.load(Ordering::Relaxed)
    }

    pub(crate) fn count_admin_request(&self) {
        self.admin_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn admin_request_count(&self) -> u64 {
        self.admin_requests.load(Ordering::Relaxed)
    }
}

/// A running simulator. Dropping it without [`RunningSim::shutdown`] leaves the listeners running
/// until the runtime ends.
#[derive(Debug)]
pub struct RunningSim {
    sim: Arc<Sim>,
    admin_addr: SocketAddr,
    proxy_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningSim {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.proxy_addr)
    }

    /// Moves the simulated clock forward: `ttl` expiry and rate-limit windows follow it.
    pub fn advance_clock(&self, by: Duration) {
        self.sim.advance(by);
    }

    /// Arms a fault for the next matching Admin API requests.
    pub fn inject_fault(&self, fault: Fault) {
        self.sim.add_fault(fault);
    }

    /// Replaces the spread faults (an empty list clears them).
    pub fn set_spread_faults(&self, faults: Vec<SpreadFault>) {
        self.sim.set_spread_faults(faults);
    }

    /// Takes the database down (`false`) or brings it back: while down, every Admin API endpoint
    /// that reads or writes entities answers Kong's 500 database error, `/status` reports
    /// `database.reachable: false`, and the proxy keeps answering from what it already has, as a
    /// Kong node answers from its cache. Also `POST /_sim/database` `{"reachable": false}`.
    pub fn set_database_reachable(&self, reachable: bool) {
        self.sim.set_database_reachable(reachable);
    }

    /// Admin API requests served so far (faulted ones included, `/_sim/` ones not).
    pub fn admin_request_count(&self) -> u64 {
        self.sim.admin_request_count()
    }

    /// Stops both listeners and waits for them.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Binds both listeners, loads the declarative configuration and starts serving; returns as soon
/// as both listeners are bound.
pub async fn start(config: SimConfig) -> anyhow::Result<RunningSim> {
    let sim = Arc::new(Sim {
        db: Mutex::new(db::Db::with_propagation(
            config.db_update_frequency.as_secs_f64(),
        )),
        clock_offset_ms: AtomicI64::new(0),
        faults: Mutex::new(Vec::new()),
        spread_faults: Mutex::new(Vec::new()),
        database_reachable: AtomicBool::new(true),
        admin_requests: AtomicU64::new(0),
        node_id: uuid::Uuid::new_v4().to_string(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()?,
        http_logs: http_log::Queues::default(),
    });
    if let Some(declarative) = &config.declarative {
        let now = sim.now();
        declarative.load_into(&mut sim.db(), now)?;
    }
    let admin_listener = tokio::net::TcpListener::bind(config.admin_addr).await?;
    let proxy_listener = tokio::net::TcpListener::bind(config.proxy_addr).await?;
    let admin_addr = admin_listener.local_addr()?;
    let proxy_addr = proxy_listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let admin = axum::serve(admin_listener, admin::router(sim.clone()))
        .with_graceful_shutdown(until_stopped(stopped.clone()));
    let proxy = axum::serve(
        proxy_listener,
        proxy::router(sim.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(until_stopped(stopped.clone()));
    let mut tasks = vec![
        tokio::spawn(async move {
            if let Err(err) = admin.await {
                tracing::error!(error = %err, "simulator admin listener failed");
            }
        }),
        tokio::spawn(async move {
            if let Err(err) = proxy.await {
                tracing::error!(error = %err, "simulator proxy listener failed");
            }
        }),
    ];
    let purge_sim = sim.clone();
    let mut ticks = tokio::time::interval(config.purge_interval.max(Duration::from_millis(10)));
    let mut stopped_purge = stopped;
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stopped_purge.wait_for(|stop| *stop) => break,
                _ = ticks.tick() => {
                    let now = purge_sim.now();
                    let purged = purge_sim.db().purge_expired(now);
                    if purged > 0 {
                        tracing::debug!(purged, "purged expired ttl rows");
                    }
                }
            }
        }
    }));
    tracing::debug!(%admin_addr, %proxy_addr, "Kong simulator started");
    Ok(RunningSim {
        sim,
        admin_addr,
        proxy_addr,
        stop,
        tasks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spread_fault_fails_its_share_of_every_hundred_requests_evenly() {
        let mut armed = ArmedSpreadFault {
            fault: SpreadFault {
                method: http::Method::DELETE,
                path_contains: "/consumers/".to_owned(),
                status: 500,
                percent: 30,
                delay: Duration::ZERO,
            },
            seen: 0,
        };
        let fails: Vec<bool> = (0..200).map(|_| armed.fails_next()).collect();
        assert_eq!(fails.iter().filter(|f| **f).count(), 60);
        // Never more than one failure in a row at 30 %: retries get through.
        assert!(!fails.windows(2).any(|pair| pair[0] && pair[1]));
    }
}
