//! A TCP proxy that injects network faults between Gatekey and one of its dependencies (Kong's
//! Admin API, MongoDB), switched at runtime by the test: pass traffic, delay it, swallow it,
//! lose every response after its request went through, or refuse connections. It works on raw
//! bytes, so it serves HTTP and the MongoDB wire protocol alike.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic from now on (existing connections included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything.
    Pass,
    /// Hold each chunk this long before forwarding it, in both directions.
    Delay(Duration),
    /// Accept and read, never forward: the peer waits until its own timeout.
    Blackhole,
    /// Forward requests, then cut the connection when the answer comes back: the dependency
    /// acted on the request, the caller never learns the outcome.
    DropResponses,
    /// Close new connections at once and existing ones at their next chunk (the dependency is
    /// down).
    Refuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Caller to dependency.
    Request,
    /// Dependency to caller.
    Response,
}

#[derive(Debug)]
struct Shared {
    mode: Mutex<Mode>,
    /// Bumped by [`FaultProxy::cut_all`]; connections opened before a bump close.
    generation: watch::Sender<u64>,
}

impl Shared {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Pass),
            generation: watch::channel(0).0,
        });
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if accepting.mode() == Mode::Refuse {
                    drop(client);
                    continue;
                }
                tokio::spawn(relay(client, upstream, accepting.clone()));
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// The address to point the caller at.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the fault mode.
    pub fn set(&self, mode: Mode) {
        *self
            .shared
            .mode
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = mode;
    }

    /// Closes every open connection (a dependency restart, a network partition's start).
    pub fn cut_all(&self) {
        self.shared
            .generation
            .send_modify(|generation| *generation += 1);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut_all();
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let mut cut = shared.generation.subscribe();
    cut.mark_unchanged();
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        () = pump(client_read, server_write, Direction::Request, &shared) => {}
        () = pump(server_read, client_write, Direction::Response, &shared) => {}
        _ = cut.changed() => {}
    }
    // Dropping both halves of both sockets closes the connection on both sides.
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    direction: Direction,
    shared: &Shared,
) {
    let mut buffer = vec![0_u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match shared.mode() {
            Mode::Delay(by) => tokio::time::sleep(by).await,
            Mode::Blackhole => continue,
            Mode::DropResponses if direction == Direction::Response => return,
            Mode::Refuse => return,
            Mode::Pass | Mode::DropResponses => {}
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// A listener that accepts connections and never answers: a dependency that hangs (an issuer
/// whose discovery or JWKS endpoint stalls). The connections are held open, so the peer waits
/// until its own timeout. Stops when dropped.
#[derive(Debug)]
pub struct SilentListener {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl SilentListener {
    /// Listens on `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        Ok(Self { addr, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for SilentListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}
