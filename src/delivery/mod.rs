//! Delivery, from a push to answered requests. The one intake ([`intake`]) turns a push, recorded
//! ([`pushes`]) or at hand, into jobs ([`plan`]); [`submit`] hands them to a queue and never loses
//! them (the database, the repository's spool, its fallback, or at worst memory). The seam to the
//! places jobs wait is [`queue`] (what workers need), [`admin`] (what commands look into); behind it
//! are the file spool ([`spool`], with [`files`]), the shared database ([`postgres`], [`shared`]) and
//! memory ([`memory`]). A pass ([`pass`]) claims what is due, hands each claim on as it is made
//! ([`handoff`]), and sends each endpoint's jobs in order ([`send`]) as one wire request each
//! ([`request`], [`http`] over TLS as [`tls`] sets it up, with the system's CA certificates
//! [`roots`] reads once; answers cleaned by [`redact`]), judged by [`retry`]; [`local`] is a
//! repository's spools as a round serves them, [`worker`] the loops that run rounds (with
//! [`backoff`] while something is down), [`metrics`] what they count.

pub mod admin;
pub mod backoff;
mod destination;
mod feed;
mod files;
mod handoff;
pub mod health;
pub mod http;
pub mod intake;
pub mod job;
pub mod limits;
pub mod local;
pub mod memory;
pub mod metrics;
mod pace;
pub mod pass;
pub mod plan;
pub mod postgres;
pub mod pushes;
pub mod queue;
pub mod redact;
pub mod request;
pub mod retry;
mod roots;
mod send;
pub mod serve;
pub mod shared;
pub mod spool;
pub mod submit;
pub mod summary;
mod tls;
pub mod tree;
pub mod worker;

pub use job::{Outcome, Record};
pub use pass::Pass;
pub use request::WireRequest;
