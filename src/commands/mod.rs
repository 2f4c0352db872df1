//! One module per command; this one holds what they share.

pub mod check;
pub mod deliver;
pub mod demo;
pub mod hook;
pub mod install;
pub mod queue;

use std::io::Write;

use crate::notice::Notice;

/// Writes a notice as one line; output that cannot be written (a closed pipe) is dropped, never fatal.
pub fn say(err: &mut dyn Write, notice: Notice) {
    let _ = writeln!(err, "{notice}");
}
