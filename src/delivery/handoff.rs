//! How a pass's claims reach its senders as they are made: those to end now are ended at once
//! ([`Router`]), the others handed to their endpoint's sender a few at a time ([`Feeds`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::job::Outcome;
use super::queue::{Claim, Settle};
use super::send::{Group, Sender, Settling};
use super::summary::Summary;

/// What becomes of a job claimed: sent, or ended at once with this outcome and error.
pub(super) type Fate = Option<(Outcome, String)>;

/// How many claims go to a sender at once, and how long a claim waits to go with others: a sender
/// woken for every claim would spend more on waking than on sending.
const HANDOFF: usize = 16;
const HANDOFF_WAIT: Duration = Duration::from_millis(1);

/// A sender's channel, and the claims about to go down it.
type Feed = (mpsc::Sender<Vec<Claim>>, Vec<Claim>);

/// The senders of a batch, by endpoint, each with the claims it is about to be handed.
#[derive(Default)]
pub(super) struct Feeds {
    feeds: HashMap<Option<usize>, Feed>,
    handed: Option<Instant>,
}

impl Feeds {
    /// Hands `claim` to the sender of endpoint `number`, which `start` starts (the `nth` sender,
    /// with its group) at the endpoint's first claim.
    pub(super) fn hand(
        &mut self,
        number: Option<usize>,
        claim: Claim,
        start: impl FnOnce(usize, Group),
    ) {
        let nth = self.feeds.len();
        let (feed, waiting) = self.feeds.entry(number).or_insert_with(|| {
            let (feed, group) = mpsc::channel();
            start(nth, Group::new(group));
            (feed, Vec::new())
        });
        waiting.push(claim);
        if waiting.len() >= HANDOFF {
            // A sender gone (it panicked) leaves the claims to be dropped: the jobs wait on.
            let _ = feed.send(std::mem::take(waiting));
        }
        let handed = *self.handed.get_or_insert_with(Instant::now);
        if handed.elapsed() >= HANDOFF_WAIT {
            self.send_all();
        }
    }

    fn send_all(&mut self) {
        for (feed, waiting) in self.feeds.values_mut() {
            if !waiting.is_empty() {
                let _ = feed.send(std::mem::take(waiting));
            }
        }
        self.handed = Some(Instant::now());
    }

    /// Hands over what is left, and tells each sender there is no more.
    pub(super) fn close(mut self) {
        self.send_all();
    }
}

/// Where a batch's claims go as they are made: those to end now are ended (settled here, in
/// batches); the others are handed on to be sent.
pub(super) struct Router<'a, 's> {
    pub(super) s: Sender<'s>,
    pub(super) fates: &'a RefCell<HashMap<uuid::Uuid, Fate>>,
    pub(super) ended: Settling,
    pub(super) summary: Summary,
}

impl Router<'_, '_> {
    /// The claim to send, or `None` when it was ended.
    pub(super) fn route(&mut self, mut c: Claim) -> Option<Claim> {
        let fate = self.fates.borrow_mut().remove(&c.job.id()).flatten();
        let Some((outcome, error)) = fate else {
            return Some(c);
        };
        let how = if outcome == Outcome::Dropped {
            self.summary.dropped += 1;
            Settle::Forget
        } else {
            c.job.last_error = Some(error.clone());
            self.summary.dead += 1;
            Settle::Dead
        };
        let ended = self.s.ended(c, how, outcome, error);
        self.ended.add(ended, self.s.queue, &mut self.summary);
        None
    }

    /// Settles what was ended and not handed over yet.
    pub(super) fn finish(&mut self) {
        self.ended.flush(self.s.queue, &mut self.summary);
    }
}
