//! gatekey-dev-idp (placeholder until its module lands).
