//! HTTP/1.1 over a bare TCP socket, for tests of what a client sees on the wire: whether a
//! connection stays usable after a response, and what its `Connection` header says. A client
//! library would hide a closed connection by opening another one.

use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// How long a test waits for a response or for the server to close.
const PATIENCE: Duration = Duration::from_secs(10);

/// One kept-alive connection to a server.
#[derive(Debug)]
pub struct RawConnection {
    stream: BufReader<TcpStream>,
}

/// A response as read off the socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the response announces that the server closes the connection after it.
    pub fn announces_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

impl RawConnection {
    /// Connects to `base_url` (`http://host:port`).
    pub async fn open(base_url: &str) -> anyhow::Result<Self> {
        let authority = base_url
            .strip_prefix("http://")
            .context("base URL must start with http://")?;
        let stream = TcpStream::connect(authority).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
        })
    }

    /// Sends `head` (request line and headers, without the blank line; `Content-Length` is added
    /// for a non-empty body), then the body in a separate write after a pause, so the server sees
    /// the head before the body arrives, as it does with a real client on a real network.
    pub async fn send(&mut self, head: &str, body: &[u8]) -> anyhow::Result<()> {
        let head = if body.is_empty() {
            format!("{}\r\n\r\n", head.trim_end())
        } else {
            format!(
                "{}\r\nContent-Length: {}\r\n\r\n",
                head.trim_end(),
                body.len()
            )
        };
        let socket = self.stream.get_mut();
        socket.write_all(head.as_bytes()).await?;
        socket.flush().await?;
        if !body.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            socket.write_all(body).await?;
            socket.flush().await?;
        }
        Ok(())
    }

    /// Reads one response (its body by `Content-Length`).
    pub async fn response(&mut self) -> anyhow::Result<RawResponse> {
        tokio::time::timeout(PATIENCE, self.read_response())
            .await
            .context("no response in time")?
    }

    async fn read_response(&mut self) -> anyhow::Result<RawResponse> {
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            bail!("the server closed the connection instead of answering");
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("not a status line: {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header
                .split_once(':')
                .with_context(|| format!("not a header: {header:?}"))?;
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        let mut response = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        let length: usize = response
            .header("content-length")
            .context("response without Content-Length")?
            .parse()?;
        response.body = vec![0; length];
        self.stream.read_exact(&mut response.body).await?;
        Ok(response)
    }

    /// Whether the server closes the connection (end of stream or reset) within the patience.
    pub async fn closed_by_server(&mut self) -> bool {
        let mut byte = [0_u8; 1];
        matches!(
            tokio::time::timeout(PATIENCE, self.stream.read(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    }
}
