//! A MongoDB wire-protocol proxy for the tests that depend on the server's version or on a lost
//! reply. It records the name of every command that passes through it; it can present the
//! server as an older MongoDB by lowering `maxWireVersion` in the server's handshake replies, so
//! that the store's path for servers before 8.0 runs against the same real server; and it can cut
//! the connection instead of returning the reply to a command the server has applied.

use std::sync::{Arc, Mutex, PoisonError};

use mongodb::bson::{Bson, Document};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// `OP_REPLY`: the legacy reply, still used for the first handshake.
const OP_REPLY: i32 = 1;
/// `OP_QUERY`: the legacy query, still used for the first handshake.
const OP_QUERY: i32 = 2004;
/// `OP_MSG`: every other command and reply.
const OP_MSG: i32 = 2013;
/// The `OP_MSG` flag saying a CRC-32C checksum ends the message.
const CHECKSUM_PRESENT: u32 = 1;

/// A running proxy; it stops with the test's runtime.
#[derive(Debug)]
pub(crate) struct WireProxy {
    port: u16,
    commands: Arc<Mutex<Vec<String>>>,
    lose_reply: Arc<Mutex<LostReply>>,
}

/// Which reply the proxy loses next.
#[derive(Debug, Default)]
enum LostReply {
    /// None.
    #[default]
    None,
    /// The reply to the next command of this name.
    To(&'static str),
    /// The reply to the request with this id, sent and awaited on its connection.
    Awaited(i32),
}

/// What becomes of one message on its way.
enum Forward {
    /// It goes on as it is.
    Unchanged,
    /// This goes on in its place.
    Rewritten(Vec<u8>),
    /// It is dropped, and the connection with it.
    Cut,
}

impl WireProxy {
    /// Forwards to the single-host server of `upstream_uri`, presenting it with
    /// `max_wire_version` when set.
    pub(crate) async fn start(upstream_uri: &str, max_wire_version: Option<i32>) -> Self {
        let upstream = single_host(upstream_uri);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let commands = Arc::new(Mutex::new(Vec::new()));
        let lose_reply = Arc::new(Mutex::new(LostReply::None));
        let (recorded, losing) = (Arc::clone(&commands), Arc::clone(&lose_reply));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&upstream).await.expect("upstream");
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let (recorded, losing_request, losing_reply) = (
                    Arc::clone(&recorded),
                    Arc::clone(&losing),
                    Arc::clone(&losing),
                );
                tokio::spawn(forward(client_read, server_write, move |message| {
                    if let Some(name) = command_name(message) {
                        let mut lose = losing_request
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner);
                        if matches!(*lose, LostReply::To(command) if command == name) {
                            *lose = LostReply::Awaited(header_field(message, 4));
                        }
                        recorded
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(name);
                    }
                    Forward::Unchanged
                }));
                tokio::spawn(forward(server_read, client_write, move |message| {
                    let mut lose = losing_reply.lock().unwrap_or_else(PoisonError::into_inner);
                    if matches!(*lose, LostReply::Awaited(request) if request == header_field(message, 8))
                    {
                        *lose = LostReply::None;
                        return Forward::Cut;
                    }
                    max_wire_version
                        .and_then(|version| lower_wire_version(message, version))
                        .map_or(Forward::Unchanged, Forward::Rewritten)
                }));
            }
        });
        Self {
            port,
            commands,
            lose_reply,
        }
    }

    /// Loses the reply to the next `command`: the server applies it, and its connection is cut
    /// before the client hears back.
    pub(crate) fn lose_the_reply_to_the_next(&self, command: &'static str) {
        *self
            .lose_reply
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = LostReply::To(command);
    }

    /// A URI that reaches the server through the proxy.
    pub(crate) fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    /// The names of the commands sent so far, in order.
    pub(crate) fn commands(&self) -> Vec<String> {
        self.commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// `host:port` of a `mongodb://host:port/...` URI.
fn single_host(uri: &str) -> String {
    let rest = uri.strip_prefix("mongodb://").expect("a mongodb:// URI");
    let host = rest.split(['/', '?']).next().expect("a host");
    assert!(
        !host.contains([',', '@']),
        "the wire proxy needs a single host without credentials, not {uri}"
    );
    host.to_owned()
}

/// Copies whole messages from `from` to `to`, as `rewrite` says.
async fn forward(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut rewrite: impl FnMut(&[u8]) -> Forward + Send,
) {
    loop {
        let mut length = [0_u8; 4];
        if from.read_exact(&mut length).await.is_err() {
            return;
        }
        let total = usize::try_from(i32::from_le_bytes(length)).expect("a message length");
        let mut message = length.to_vec();
        message.resize(total, 0);
        if from.read_exact(&mut message[4..]).await.is_err() {
            return;
        }
        let message = match rewrite(&message) {
            Forward::Unchanged => message,
            Forward::Rewritten(rewritten) => rewritten,
            Forward::Cut => return,
        };
        if to.write_all(&message).await.is_err() {
            return;
        }
    }
}

/// The header's field at `offset`: 4 the request id, 8 the request answered, 12 the op code.
fn header_field(message: &[u8], offset: usize) -> i32 {
    i32::from_le_bytes(message[offset..offset + 4].try_into().expect("a header"))
}

fn op_code(message: &[u8]) -> i32 {
    header_field(message, 12)
}

/// The command a request runs: the first key of its body.
fn command_name(message: &[u8]) -> Option<String> {
    let body = match op_code(message) {
        // Flags, then the section kind; kind 0 is the body.
        OP_MSG if message[20] == 0 => &message[21..],
        // Flags, then the collection's name as a C string, then two counts, then the query.
        OP_QUERY => {
            let name_end = message[20..].iter().position(|byte| *byte == 0)? + 20;
            &message[name_end + 1 + 8..]
        }
        _ => return None,
    };
    let document = Document::from_reader(body).ok()?;
    document.keys().next().cloned()
}

/// The reply with `maxWireVersion` set to `version`, if it is a handshake reply.
fn lower_wire_version(message: &[u8], version: i32) -> Option<Vec<u8>> {
    let (prefix_len, body) = match op_code(message) {
        OP_MSG if message[20] == 0 => {
            let flags = u32::from_le_bytes(message[16..20].try_into().ok()?);
            let end = if flags & CHECKSUM_PRESENT == 0 {
                message.len()
            } else {
                message.len() - 4
            };
            (21, &message[21..end])
        }
        // Flags, cursor id, starting point and count, then the first document.
        OP_REPLY => (36, &message[36..]),
        _ => return None,
    };
    let mut document = Document::from_reader(body).ok()?;
    document.get("maxWireVersion")?;
    document.insert("maxWireVersion", Bson::Int32(version));
    let mut rewritten = message[..prefix_len].to_vec();
    if op_code(message) == OP_MSG {
        // The checksum no longer matches; the message goes without it.
        let flags = u32::from_le_bytes(message[16..20].try_into().ok()?) & !CHECKSUM_PRESENT;
        rewritten[16..20].copy_from_slice(&flags.to_le_bytes());
    }
    document.to_writer(&mut rewritten).ok()?;
    let total = i32::try_from(rewritten.len()).ok()?;
    rewritten[..4].copy_from_slice(&total.to_le_bytes());
    Some(rewritten)
}
