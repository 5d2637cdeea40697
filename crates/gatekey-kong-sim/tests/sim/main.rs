//! Conformance tests of the Kong simulator over real sockets: the Admin API's status codes and
//! bodies, the proxy's plugin behaviour, and the simulator-only controls.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value or the expectation as its message"
)]

mod admin_api;
mod faults;
mod proxy;
mod support;
