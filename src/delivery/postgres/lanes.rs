//! [`Lanes`] on the database: a row per lane in `git_webhook.lanes` naming its holder (taken from a
//! holder gone only with that holder's claims put back), and the lane's recent send times.

use std::sync::Arc;

use super::queue_impl::gone;
use super::{ms, HeldLanes, Postgres};
use crate::delivery::health::{lane_parts, Health};
use crate::delivery::pace;
use crate::delivery::queue::{Held, Lanes, QueueError};

impl Lanes for Postgres {
    /// One statement: the lanes free, ours, or held by a worker gone are taken with their health,
    /// and a gone holder's claims put back in the queue with them.
    fn hold(&self, keys: &[String]) -> Result<Held, QueueError> {
        self.db
            .register()
            .map_err(|e| super::failed("cannot register as a worker in")(e))?;
        let lease = self.db.lease_secs();
        // The lanes' repositories: a gone holder's claims are looked for among their waiting
        // jobs only, whatever the table's statistics make of the rest (the holders gone are found
        // first, once).
        let mut repos: Vec<&str> = keys.iter().map(|k| lane_parts(k).0).collect();
        repos.sort_unstable();
        repos.dedup();
        let rows = self.run("cannot take endpoint lanes in", |c| {
            c.query(
                &format!(
                    "WITH wanted AS (SELECT DISTINCT unnest($2::text[]) AS key),
                     released AS (
                       UPDATE git_webhook.jobs j SET claimed_by = NULL
                       WHERE j.state = 'queued' AND j.repo = ANY($4::text[])
                         AND j.claimed_by = ANY(ARRAY(
                           SELECT l.holder FROM git_webhook.lanes l
                           WHERE l.key = ANY($2::text[]) AND l.holder IS NOT NULL
                             AND l.holder <> $3 AND {}))
                       RETURNING 1)
                     INSERT INTO git_webhook.lanes (key, holder) SELECT key, $3 FROM wanted
                     ON CONFLICT (key) DO UPDATE SET holder = excluded.holder
                     WHERE lanes.holder IS NULL OR lanes.holder = excluded.holder OR {}
                     RETURNING key, health",
                    gone("l.holder"),
                    gone("lanes.holder")
                ),
                &[&lease, &keys, &self.db.name, &repos],
            )
        })?;
        let held: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let health = rows
            .iter()
            .filter_map(|r| {
                let value: Option<serde_json::Value> = r.get(1);
                Some((r.get(0), serde_json::from_value(value?).ok()?))
            })
            .collect();
        Ok(Held {
            keys: held.iter().cloned().collect(),
            health,
            guard: Box::new(HeldLanes {
                db: Arc::clone(&self.db),
                keys: held,
            }),
        })
    }

    fn paced(&self, key: &str, sent: &[u64], window_ms: u64) -> Result<Vec<u64>, QueueError> {
        self.run("cannot pace in", |c| {
            let row = c.query_opt("SELECT sent FROM git_webhook.lanes WHERE key = $1", &[&key])?;
            let stored = row.map(|r| r.get::<_, Vec<i64>>(0)).unwrap_or_default();
            let times = pace::window(stored.into_iter().map(super::unms), sent, window_ms);
            if !sent.is_empty() {
                let stored: Vec<i64> = times.iter().copied().map(ms).collect();
                c.execute(
                    "UPDATE git_webhook.lanes SET sent = $2 WHERE key = $1",
                    &[&key, &stored],
                )?;
            }
            Ok(times)
        })
    }

    fn set_health(&self, key: &str, health: &Health) -> Result<(), QueueError> {
        let value = (!health.is_clear())
            .then(|| serde_json::to_value(health).expect("health is plain data"));
        self.run("cannot keep an endpoint's health in", |c| {
            c.execute(
                "INSERT INTO git_webhook.lanes (key, health) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET health = excluded.health",
                &[&key, &value],
            )
            .map(drop)
        })
    }

    fn unhealthy(&self) -> Result<Vec<(String, Health)>, QueueError> {
        self.run("cannot read endpoints' health in", |c| {
            let rows = c.query(
                "SELECT key, health FROM git_webhook.lanes WHERE health IS NOT NULL ORDER BY key",
                &[],
            )?;
            Ok(rows
                .iter()
                .filter_map(|r| Some((r.get(0), serde_json::from_value(r.get(1)).ok()?)))
                .collect())
        })
    }
}
