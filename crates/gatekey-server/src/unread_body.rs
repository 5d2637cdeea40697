//! Keeps a kept-alive HTTP/1.1 connection usable after an answer given before the request body
//! was read.
//!
//! Many answers come before a handler reads the body: a missing or refused token (401), an
//! unknown route (404), a method the route does not serve (405), a wrong content type (415),
//! headers too large (431), a timeout (503). hyper cannot know where the next request on the
//! connection starts while a body is unread, so it reads what is already buffered and otherwise
//! closes the connection after the response, without saying so: the response has no
//! `Connection: close`, and a pooled client sends its next request into a closed socket.
//!
//! This layer, the outermost of the HTTP edge, wraps every request body. When the application is
//! done with a request and dropped its body unread, the layer reads and discards the rest before
//! the response leaves, so the connection stays open. It reads at most the body limit and waits
//! at most [`DRAIN_DEADLINE`]: a body larger than the limit (announced by `Content-Length` or
//! found while reading), one that arrives too slowly, one the client has not sent yet
//! (`Expect: 100-continue`, whose upload Gatekey does not solicit just to discard it) or a broken
//! one is not read: the response says `Connection: close` instead, and hyper closes the
//! connection after it.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// Longest wait for the rest of a body nobody reads; a slower client gets `Connection: close`.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(2);

/// What became of a request body by the time its request was dropped.
#[derive(Debug, Default)]
enum BodyFate {
    /// Still held by the application (nothing dropped it yet).
    #[default]
    Held,
    /// Read to its end.
    Read,
    /// Reading it failed (the client went away, or sent a broken chunked encoding).
    Broken,
    /// Dropped before its end, after `read` bytes: the rest is still on the connection.
    Unread { rest: Body, read: usize },
}

/// A request body that reports its fate when dropped.
struct TrackedBody {
    inner: Option<Body>,
    read: usize,
    ended: bool,
    broken: bool,
    fate: Arc<Mutex<BodyFate>>,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.ended = true,
            Poll::Ready(Some(Ok(frame))) => {
                this.read += frame.data_ref().map_or(0, Bytes::len);
            }
            Poll::Ready(Some(Err(_))) => this.broken = true,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        let fate = match self.inner.take() {
            _ if self.broken => BodyFate::Broken,
            Some(rest) if !self.ended && !rest.is_end_stream() => BodyFate::Unread {
                rest,
                read: self.read,
            },
            _ => BodyFate::Read,
        };
        *self.fate.lock().unwrap_or_else(PoisonError::into_inner) = fate;
    }
}

/// The middleware: runs the request, then drains what the application left unread, or marks the
/// response `Connection: close` when draining is not possible within `body_limit` bytes.
pub async fn drain_unread_body(body_limit: usize, request: Request, next: Next) -> Response {
    let http1 = matches!(request.version(), Version::HTTP_10 | Version::HTTP_11);
    if !http1 || request.body().is_end_stream() {
        // HTTP/2 resets an unread stream without touching the connection.
        return next.run(request).await;
    }
    let awaits_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let fate = Arc::new(Mutex::new(BodyFate::Held));
    let request = request.map(|body| {
        Body::new(TrackedBody {
            inner: Some(body),
            read: 0,
            ended: false,
            broken: false,
            fate: Arc::clone(&fate),
        })
    });
    let mut response = next.run(request).await;
    let fate = std::mem::take(&mut *fate.lock().unwrap_or_else(PoisonError::into_inner));
    let keep_alive = match fate {
        BodyFate::Read => true,
        BodyFate::Held | BodyFate::Broken => false,
        BodyFate::Unread { .. } if awaits_continue => false,
        BodyFate::Unread { rest, read } => drain(rest, body_limit.saturating_sub(read)).await,
    };
    if !keep_alive {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads and discards `body` if it ends within `budget` bytes and [`DRAIN_DEADLINE`].
async fn drain(mut body: Body, budget: usize) -> bool {
    if body
        .size_hint()
        .upper()
        .is_some_and(|announced| announced > budget as u64)
    {
        return false;
    }
    let read_to_end = async {
        let mut left = budget;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let Ok(frame) = frame else {
                return false;
            };
            let size = frame.data_ref().map_or(0, Bytes::len);
            let Some(rest) = left.checked_sub(size) else {
                return false;
            };
            left = rest;
        }
        true
    };
    tokio::time::timeout(DRAIN_DEADLINE, read_to_end)
        .await
        .unwrap_or(false)
}
