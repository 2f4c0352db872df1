//! Delivery, from a push's events to answered requests: planning jobs ([`plan`]), pushes recorded for later ([`pushes`]), the queue interface
//! ([`queue`]) and its file implementation ([`spool`]), the one wire request ([`request`]), the HTTP
//! transport ([`http`]), the retry policy ([`retry`]), a delivery pass ([`pass`]) and the workers
//! ([`worker`]).

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
pub mod shared;
pub mod spool;
pub mod worker;

pub use job::{Outcome, Record};
pub use pass::Pass;
pub use queue::Queue;
pub use request::WireRequest;
