//! Who asks, as the services see it: a verified principal and where the request came from. The
//! HTTP edge builds it from a bearer token and the connection; services never see a token, a
//! header or a socket, so they can be called from tests and background tasks alike.

use gatekey_core::Principal;

/// Where a request came from, copied into audit events.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
}

/// A caller whose token was verified.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// Name of the configured issuer that vouched for the caller.
    pub issuer_name: String,
    pub context: RequestContext,
}
