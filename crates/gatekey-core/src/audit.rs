//! Audit events (owned by the store helper; placeholder).
