//! gatekey-kong-sim (placeholder until its module lands).
