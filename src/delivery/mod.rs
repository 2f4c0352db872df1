//! Delivery, from a push's events to answered requests: planning jobs ([`plan`]), pushes recorded for
//! later ([`pushes`]), handing a push's jobs over ([`submit`]), the queue interface ([`queue`]) with
//! the file spool ([`spool`]) and the shared database ([`postgres`], [`shared`]), the one wire request
//! ([`request`]), the HTTP transport ([`http`]), the retry policy ([`retry`]), a delivery pass
//! ([`pass`]) sending each endpoint's jobs ([`send`]) and what it did ([`summary`]), the workers
//! ([`worker`]) and their metrics ([`metrics`]).

mod files;
pub mod http;
pub mod job;
pub mod metrics;
mod pace;
pub mod pass;
pub mod plan;
pub mod postgres;
pub mod pushes;
pub mod queue;
pub mod request;
pub mod retry;
mod send;
pub mod shared;
pub mod spool;
pub mod submit;
pub mod summary;
pub mod worker;

pub use job::{Outcome, Record};
pub use pass::Pass;
pub use queue::Queue;
pub use request::WireRequest;
