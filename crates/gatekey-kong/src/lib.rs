//! gatekey-kong (placeholder until its module lands).
