//! How a pass's claims reach its senders as they are made, and come back to be settled: those to
//! end now are ended at once ([`Router`]), the others handed to their endpoint's sender a few at a
//! time ([`Feeds`]). The senders run on one runtime, in a thread of the pass ([`Senders`]), and what
//! they end comes back to the pass's thread, which settles it with the queue while it claims.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{mpsc, OnceLock};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use tokio::sync::mpsc as to_sender;

use super::feed::{Group, Settling};
use super::health::Health;
use super::job::Outcome;
use super::queue::{Claim, QueueError, Settle, Settled};
use super::send::{Sender, Sent};
use super::summary::Summary;

/// What becomes of a job claimed: sent, or ended at once with this outcome and error.
pub(super) type Fate = Option<(Outcome, String)>;

/// How many claims go to a sender at once, and how long a claim waits to go with others: a sender
/// woken for every claim would spend more on waking than on sending.
const HANDOFF: usize = 16;
const HANDOFF_WAIT: Duration = Duration::from_millis(1);

/// A sender's channel, and the claims about to go down it.
type Feed = (to_sender::UnboundedSender<Vec<Claim>>, Vec<Claim>);

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
            let (feed, group) = to_sender::unbounded_channel();
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

/// Where a batch's claims go as they are made: those to end now are ended; the others are handed
/// on to be sent. What is ended, here or by a sender, is settled here, as it comes.
pub(super) struct Router<'a, 's> {
    pub(super) s: Sender<'s>,
    pub(super) fates: &'a RefCell<HashMap<uuid::Uuid, Fate>>,
    /// Claims ended here, and where senders hand theirs back (`None` once the pass stopped ending).
    ended: Option<Settling>,
    settled: mpsc::Receiver<Vec<Settled>>,
    pub(super) summary: Summary,
}

impl<'a, 's> Router<'a, 's> {
    pub(super) fn new(s: Sender<'s>, fates: &'a RefCell<HashMap<uuid::Uuid, Fate>>) -> Self {
        let (to, settled) = mpsc::channel();
        Router {
            s,
            fates,
            ended: Some(Settling::new(to)),
            settled,
            summary: Summary::default(),
        }
    }

    /// Where a sender hands back the claims it ended.
    pub(super) fn settled_to(&self) -> Option<mpsc::Sender<Vec<Settled>>> {
        self.ended.as_ref().map(Settling::to)
    }

    /// The claim to send, or `None` when it was ended. What senders handed back meanwhile is
    /// settled first.
    pub(super) fn route(&mut self, mut c: Claim) -> Option<Claim> {
        self.settle_ready();
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
        if let Some(settling) = &mut self.ended {
            settling.add(ended);
        }
        None
    }

    fn settle(&mut self, batch: Vec<Settled>) {
        if let Err(e) = self.s.queue.settle(batch) {
            self.summary.trouble(&e);
        }
    }

    /// Settles `first` and whatever else was handed back by now, in one go (one statement for a
    /// database, whichever senders ended them).
    fn settle_with_ready(&mut self, mut first: Vec<Settled>) {
        while let Ok(more) = self.settled.try_recv() {
            first.extend(more);
        }
        if !first.is_empty() {
            self.settle(first);
        }
    }

    fn settle_ready(&mut self) {
        self.settle_with_ready(Vec::new());
    }

    /// Settles what was ended here, then what the senders hand back until the last has ended
    /// (they end once the pass stops handing claims over).
    pub(super) fn finish(&mut self) {
        if let Some(mut settling) = self.ended.take() {
            settling.flush();
        }
        while let Ok(batch) = self.settled.recv() {
            self.settle_with_ready(batch);
        }
    }
}

/// What starts a sender: its number (in the order of the endpoints' first claims), its claims,
/// and its endpoint's health as its lane was held.
type Start = (usize, Group, Health);

/// What every sender left, by number; `Err` when they could not run.
type Ran = Result<Vec<(usize, Sent)>, QueueError>;

/// A pass's senders: one runtime in a thread of the pass's `scope`, started at the first sender.
pub(super) struct Senders<'scope, 'env, 's> {
    scope: &'scope Scope<'scope, 'env>,
    s: Sender<'s>,
    /// Where senders hand back what they end (`None`: their thread could not be started).
    settled: Option<mpsc::Sender<Vec<Settled>>>,
    running: Option<(
        to_sender::UnboundedSender<Start>,
        ScopedJoinHandle<'scope, Ran>,
    )>,
    failed: Option<QueueError>,
}

impl<'scope, 'env: 'scope, 's: 'env> Senders<'scope, 'env, 's> {
    /// Senders that hand what they end to `settled`.
    pub(super) fn new(
        scope: &'scope Scope<'scope, 'env>,
        s: Sender<'s>,
        settled: Option<mpsc::Sender<Vec<Settled>>>,
    ) -> Self {
        Senders {
            scope,
            s,
            settled,
            running: None,
            failed: None,
        }
    }

    /// Starts the `nth` sender, on this group with this health. Claims no sender can take are
    /// dropped, their locks with them: their jobs wait on.
    pub(super) fn start(&mut self, nth: usize, group: Group, health: Health) {
        if self.running.is_none() {
            let Some(settled) = self.settled.clone() else {
                return;
            };
            let (starts, started) = to_sender::unbounded_channel();
            let (s, limit) = (self.s, self.s.config.delivery.max_parallel);
            let thread = std::thread::Builder::new().name("git-webhook send".to_owned());
            match thread.spawn_scoped(self.scope, move || run(s, limit, started, settled)) {
                Ok(ran) => self.running = Some((starts, ran)),
                Err(e) => {
                    self.settled = None;
                    self.failed = Some(cannot_send(e));
                    return;
                }
            }
        }
        if let Some((starts, _)) = &self.running {
            let _ = starts.send((nth, group, health));
        }
    }

    /// Waits for every sender to end (the pass handed over all its claims), settling what they end,
    /// and keeps what each left in its lane: in the order of the endpoints' first claims. A sender
    /// that panicked ends the pass the same way, once the others' claims are settled.
    pub(super) fn finish(self, router: &mut Router<'_, '_>) -> Vec<Summary> {
        drop(self.settled);
        if let Some(e) = &self.failed {
            router.summary.trouble(e);
        }
        let Some((starts, ran)) = self.running else {
            router.finish();
            return Vec::new();
        };
        drop(starts);
        router.finish();
        let mut sent = match ran.join() {
            Ok(Ok(sent)) => sent,
            Ok(Err(e)) => {
                router.summary.trouble(&e);
                Vec::new()
            }
            Err(panic) => std::panic::resume_unwind(panic),
        };
        sent.sort_by_key(|(nth, _)| *nth);
        sent.into_iter()
            .map(|(_, sent)| self.s.keep(sent))
            .collect()
    }
}

fn cannot_send(e: impl std::error::Error + Send + Sync + 'static) -> QueueError {
    QueueError {
        what: "cannot start sending",
        place: String::new(),
        source: Box::new(e),
    }
}

/// At most this many endpoints are sent to at once in this process, whatever the passes: the
/// first configuration's `max_parallel`.
fn permits(size: usize) -> &'static tokio::sync::Semaphore {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| tokio::sync::Semaphore::new(size.max(1)))
}

/// Runs every sender `started` starts, on this thread's runtime, until the last has ended.
fn run(
    s: Sender<'_>,
    limit: usize,
    mut started: to_sender::UnboundedReceiver<Start>,
    settled: mpsc::Sender<Vec<Settled>>,
) -> Ran {
    let runtime = super::http::runtime().map_err(cannot_send)?;
    let ran = runtime.block_on(async move {
        let mut running = futures_util::stream::FuturesUnordered::new();
        let mut sent = Vec::new();
        let mut open = true;
        loop {
            tokio::select! {
                start = started.recv(), if open => match start {
                    Some((nth, group, health)) => {
                        let settled = settled.clone();
                        running.push(async move {
                            let _permit = permits(limit).acquire().await;
                            (nth, s.send_group(group, health, settled).await)
                        });
                    }
                    None => open = false,
                },
                Some(done) = running.next(), if !running.is_empty() => sent.push(done),
                else => return Ok(sent),
            }
        }
    });
    super::http::let_go();
    ran
}
