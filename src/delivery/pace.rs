//! Pacing: an endpoint's rate limit as a sliding window over the times of its recent requests, which
//! the queue keeps beside the endpoint's lock so that one deliverer after another keeps to it; and
//! whether the endpoint is paused (see [`super::health`]).

use super::health::Health;
use super::queue::{Lanes, QueueError};
use crate::format::Rate;

/// What a pass knows of one endpoint's jobs while claiming them.
pub struct Lane {
    /// Whether this pass holds the endpoint's lock.
    pub ours: bool,
    /// How many more requests its rate limit lets through now (`None`: no limit).
    pub room: Option<usize>,
    /// When the rate limit next lets one through.
    pub free_at: u64,
    /// The endpoint is paused: its jobs wait until then (its next probe).
    pub paused_until: Option<u64>,
    /// The endpoint is paused and its probe is due: one job goes, the others wait for its answer.
    pub probe: Probe,
    /// How the endpoint has been doing, as held: what its sender judges answers against.
    pub health: Health,
}

/// A paused endpoint's probe, in a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Not paused: no probe, every due job goes.
    None,
    /// Paused and the probe is due: the first job claimed is it.
    Due,
    /// The probe is claimed: the lane's other jobs wait for its answer.
    Taken,
}

fn window_ms(rate: Rate) -> u64 {
    crate::clock::millis(rate.per)
}

impl Lane {
    /// The lane of the endpoint `key` names at `now`, under `rate` (`None`: unpaced), with the
    /// `health` it was held with; only the holder of its lock (`ours`) reads its pacing record.
    pub fn open(
        lanes: &dyn Lanes,
        key: &str,
        rate: Option<Rate>,
        now: u64,
        ours: bool,
        health: Health,
    ) -> Result<Lane, QueueError> {
        let paused_until = health.waits_until(now);
        let probe = match health.paused {
            Some(_) if paused_until.is_none() => Probe::Due,
            _ => Probe::None,
        };
        let Some(rate) = rate.filter(|_| ours) else {
            return Ok(Lane {
                ours,
                room: None,
                free_at: now,
                paused_until,
                probe,
                health,
            });
        };
        let per = window_ms(rate);
        let mut recent = lanes.paced(key, &[], per)?;
        recent.retain(|&t| t.saturating_add(per) > now);
        Ok(Lane {
            ours,
            room: Some(
                usize::try_from(rate.count)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(recent.len()),
            ),
            free_at: recent.first().map_or(now, |&t| t.saturating_add(per)),
            paused_until,
            probe,
            health,
        })
    }
}

/// The pacing record after a send: the `stored` times and the `sent` ones, oldest first, without
/// those more than `window_ms` older than the newest. Each queue keeps it its own way.
pub fn window(stored: impl Iterator<Item = u64>, sent: &[u64], window_ms: u64) -> Vec<u64> {
    let mut times: Vec<u64> = stored.chain(sent.iter().copied()).collect();
    times.sort_unstable();
    let newest = times.last().copied().unwrap_or(0);
    times.retain(|&t| t + window_ms > newest);
    times
}

/// Adds the times of the requests just sent to the endpoint `key` names.
pub fn record(lanes: &dyn Lanes, key: &str, sent: &[u64], rate: Rate) -> Result<(), QueueError> {
    lanes.paced(key, sent, window_ms(rate)).map(drop)
}
