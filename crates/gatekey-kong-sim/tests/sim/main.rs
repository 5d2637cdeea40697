//! Conformance tests of the Kong simulator over real sockets: the Admin API's status codes and
//! bodies, the proxy's plugin behaviour, and the simulator-only controls.

mod admin_api;
mod faults;
mod proxy;
mod support;
