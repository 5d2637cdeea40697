//! Gatekey's application layer: the operations a caller, an operator or the reconciler asks
//! for (mint, revoke, limits, idempotency, reconciliation), written against the adapters
//! (`gatekey-kong`, `gatekey-store`) and the domain (`gatekey-core`), with their own typed
//! errors and no HTTP types, so that routes, background tasks and tests share one code path.
