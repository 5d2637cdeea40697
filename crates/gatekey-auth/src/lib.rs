//! gatekey-auth (placeholder until its module lands).
