//! The vendor-neutral model of a push: ref updates as git hands them over, and the events formats render.

pub mod event;
pub mod paths;
pub mod refs;

pub use event::{
    Commit, EventKind, Person, Project, PushEvent, Pusher, RefEvent, TagInfo, Visibility, RECENT,
};
pub use paths::{PathFilter, Touch};
pub use refs::{Action, RefKind, RefUpdate};
