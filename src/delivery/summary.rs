//! What a delivery pass did: counts by outcome, the lines to show, and when to look again.

use crate::notice::Notice;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub delivered: usize,
    pub retrying: usize,
    pub dead: usize,
    pub dropped: usize,
    /// One line per request made, in job order, and any queue problem.
    pub notices: Vec<Notice>,
    /// When the earliest job left waiting for its schedule is due (jobs waiting for their ref to move
    /// count as due now); `None` when none waits.
    pub next_due_ms: Option<u64>,
    /// The queue failed somewhere in the pass (said in `notices`): a watching worker rests before
    /// trying again.
    pub troubled: bool,
}

impl Summary {
    /// Notes a job that becomes due at `due_ms`.
    pub(super) fn wait_for(&mut self, due_ms: u64) {
        self.next_due_ms = Some(self.next_due_ms.map_or(due_ms, |d| d.min(due_ms)));
    }

    /// Notes a queue failure.
    pub(super) fn trouble(&mut self, e: &super::queue::QueueError) {
        self.notices
            .push(Notice::QueueProblem(crate::error::chain(e)));
        self.troubled = true;
    }

    /// Whether the pass got nothing done.
    pub fn idle(&self) -> bool {
        self.delivered + self.retrying + self.dead + self.dropped == 0
    }

    /// Writes the notices, one per line, in a single write (a pass over a long queue has thousands).
    pub fn write_notices(&self, out: &mut dyn std::io::Write) {
        use std::fmt::Write as _;
        let mut text = String::new();
        for n in &self.notices {
            let _ = writeln!(text, "{n}");
        }
        let _ = out.write_all(text.as_bytes());
    }

    pub fn add(&mut self, other: Summary) {
        self.troubled |= other.troubled;
        self.delivered += other.delivered;
        self.retrying += other.retrying;
        self.dead += other.dead;
        self.dropped += other.dropped;
        self.notices.extend(other.notices);
        if let Some(due) = other.next_due_ms {
            self.wait_for(due);
        }
    }
}
