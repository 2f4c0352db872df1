//! The queue of last resort: jobs kept in this process's memory, for a hook that could write them
//! nowhere (every spool's disk full, the database down). It sends them before the hook exits; what
//! fails then (to be retried, or dead) cannot be kept, and is said to be lost.

use std::collections::HashSet;
use std::sync::Mutex;

use super::health::Health;
use super::job::{Job, Record};
use super::queue::{
    Claim, Claimed, Enqueued, Filter, Held, Lanes, Log, Queue, QueueError, Settle, Settled, Token,
};

/// Jobs and log records held in memory.
#[derive(Debug, Default)]
pub struct Memory {
    waiting: Mutex<Vec<Job>>,
    dead: Mutex<Vec<Job>>,
    log: Mutex<Vec<Record>>,
}

impl Memory {
    /// The jobs that failed: those that would be retried, and the dead letters, which nothing keeps.
    pub fn failed(&self) -> usize {
        let count = |m: &Mutex<Vec<Job>>| m.lock().map(|w| w.len()).unwrap_or_default();
        count(&self.waiting) + count(&self.dead)
    }
}

fn poisoned<T>(_: T) -> QueueError {
    QueueError {
        what: "cannot use",
        place: "this process's memory".to_owned(),
        source: "a thread panicked while holding it".into(),
    }
}

impl Queue for Memory {
    fn location(&self) -> String {
        "this process's memory".to_owned()
    }

    fn enqueue(&self, jobs: &[Job], _max: Option<usize>) -> Result<Enqueued, QueueError> {
        let mut waiting = self.waiting.lock().map_err(poisoned)?;
        waiting.extend_from_slice(jobs);
        Ok(Enqueued {
            waiting: waiting.len(),
            evicted: Vec::new(),
        })
    }

    fn claim_each(
        &self,
        pick: &mut dyn FnMut(&Job) -> bool,
        take: &mut dyn FnMut(Claim),
    ) -> Result<Claimed, QueueError> {
        let mut waiting = self.waiting.lock().map_err(poisoned)?;
        let (taken, left): (Vec<Job>, Vec<Job>) = waiting.drain(..).partition(|j| pick(j));
        *waiting = left;
        drop(waiting);
        for job in taken {
            let token = Token::new(job.id().to_string());
            take(Claim::new(job, token));
        }
        Ok(Claimed::default())
    }

    fn settle(&self, done: Vec<Settled>) -> Result<(), QueueError> {
        for d in done {
            if let Some(r) = &d.record {
                self.append(r)?;
            }
            match d.how {
                Settle::Retry => {
                    self.enqueue(std::slice::from_ref(&d.claim.job), None)?;
                }
                Settle::Dead => self.dead.lock().map_err(poisoned)?.push(d.claim.job),
                Settle::Delivered | Settle::Forget => {}
            }
        }
        Ok(())
    }

    fn recover(&self) -> Result<usize, QueueError> {
        Ok(0)
    }

    fn mark(&self) -> Result<u64, QueueError> {
        Ok(self.waiting.lock().map_err(poisoned)?.len() as u64)
    }
}

impl Log for Memory {
    fn append(&self, record: &Record) -> Result<(), QueueError> {
        self.log.lock().map_err(poisoned)?.push(record.clone());
        Ok(())
    }

    fn records(&self, filter: &Filter, limit: usize) -> Result<Vec<Record>, QueueError> {
        let log = self.log.lock().map_err(poisoned)?;
        let mut found: Vec<Record> = log.iter().filter(|r| filter.record(r)).cloned().collect();
        found.drain(..found.len().saturating_sub(limit));
        Ok(found)
    }
}

/// One process, one pass: every lane is this one's.
impl Lanes for Memory {
    fn hold(&self, keys: &[String]) -> Result<Held, QueueError> {
        Ok(Held {
            keys: keys.iter().cloned().collect::<HashSet<_>>(),
            // A pass from memory is the last resort: it sends, whatever the endpoint's record says.
            health: Default::default(),
            guard: Box::new(()),
        })
    }

    fn paced(&self, _key: &str, _sent: &[u64], _window_ms: u64) -> Result<Vec<u64>, QueueError> {
        Ok(Vec::new())
    }

    fn set_health(&self, _key: &str, _health: &Health) -> Result<(), QueueError> {
        Ok(())
    }

    fn unhealthy(&self) -> Result<Vec<(String, Health)>, QueueError> {
        Ok(Vec::new())
    }
}
