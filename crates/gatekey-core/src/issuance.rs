//! Issuance records (owned by the store helper; placeholder).
