//! Gatekey's domain: the types every adapter speaks (issuances, audit events, identities) and the
//! policy decisions that turn "may I try this API?" into a grant or a denial. No I/O, no async:
//! everything here is a pure function of its inputs, so security decisions are tested exhaustively.

pub mod audit;
pub mod clock;
pub mod duration;
pub mod gateway;
pub mod issuance;
pub mod policy;
pub mod policy_cases;
pub mod policy_diff;
pub mod policy_explain;
pub mod policy_revision;
pub mod principal;
pub mod revocation;
pub mod usage;

pub use clock::{Clock, SystemClock};
pub use principal::Principal;
