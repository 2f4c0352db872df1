//! What goes between a pass and one endpoint's sender: the claims handed to it a few at a time
//! ([`Group`]), and the claims it ended, handed back in batches to be settled ([`Settling`]).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc as to_sender;

use super::queue::{Claim, Settled};

/// About the longest a settled claim waits to be handed to the queue with the ones after it (so
/// that a database takes them in one statement), and the most handed over at once. A worker killed
/// meanwhile leaves these jobs to be sent again, once. Only quick answers are batched: before a
/// request expected to take as long as the last one did, the batch goes if it would wait longer.
const SETTLE_WAIT: Duration = Duration::from_millis(50);
const SETTLE_BATCH: usize = 64;

/// Claims ended and not yet handed back, and where they go: the pass's thread, which settles them
/// with the queue (a database's client is not called from the runtime that sends).
pub(super) struct Settling {
    done: Vec<Settled>,
    since: Instant,
    to: mpsc::Sender<Vec<Settled>>,
}

impl Settling {
    pub(super) fn new(to: mpsc::Sender<Vec<Settled>>) -> Settling {
        Settling {
            done: Vec::new(),
            since: Instant::now(),
            to,
        }
    }

    /// Where it hands its batches.
    pub(super) fn to(&self) -> mpsc::Sender<Vec<Settled>> {
        self.to.clone()
    }

    /// Hands the batch over now if waiting `next` more (the next request's expected time) would
    /// keep it past [`SETTLE_WAIT`].
    pub(super) fn before(&mut self, next: Duration) {
        if self.since.elapsed() + next >= SETTLE_WAIT {
            self.flush();
        }
    }

    /// Adds an ended claim; hands them all over when the batch is full or has waited long enough.
    pub(super) fn add(&mut self, settled: Settled) {
        if self.done.is_empty() {
            self.since = Instant::now();
        }
        self.done.push(settled);
        if self.done.len() >= SETTLE_BATCH || self.since.elapsed() >= SETTLE_WAIT {
            self.flush();
        }
    }

    /// How much longer the batch may wait (`None`: nothing waits).
    fn left(&self) -> Option<Duration> {
        (!self.done.is_empty()).then(|| SETTLE_WAIT.saturating_sub(self.since.elapsed()))
    }

    /// Hands the batch over. With the pass gone (it panicked), its claims are dropped, their locks
    /// with them: the jobs wait on, to be sent again.
    pub(super) fn flush(&mut self) {
        if !self.done.is_empty() {
            let _ = self.to.send(std::mem::take(&mut self.done));
        }
    }
}

/// One endpoint's claims as a pass hands them over, a few at a time, while it claims.
pub(super) struct Group {
    from: to_sender::UnboundedReceiver<Vec<Claim>>,
    batch: std::vec::IntoIter<Claim>,
}

impl Group {
    pub(super) fn new(from: to_sender::UnboundedReceiver<Vec<Claim>>) -> Group {
        Group {
            from,
            batch: Vec::new().into_iter(),
        }
    }

    /// A group of these claims, all there is.
    pub(super) fn of(claims: Vec<Claim>) -> Group {
        Group {
            from: to_sender::unbounded_channel().1,
            batch: claims.into_iter(),
        }
    }

    /// The next claim (`None`: there are no more). What was settled is handed back first if the
    /// next claim is longer in coming than a settled claim waits.
    pub(super) async fn next(&mut self, settling: &mut Settling) -> Option<Claim> {
        // Ends when the pass stops handing claims over.
        loop {
            if let Some(claim) = self.batch.next() {
                return Some(claim);
            }
            let waited = match settling.left() {
                None => self.from.recv().await,
                Some(left) => match tokio::time::timeout(left, self.from.recv()).await {
                    Ok(received) => received,
                    Err(_) => {
                        settling.flush();
                        self.from.recv().await
                    }
                },
            };
            self.batch = waited?.into_iter();
        }
    }
}
