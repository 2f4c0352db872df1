//! Turning a push's events into jobs: one per endpoint and event its filters let through. Pure: the hook,
//! `test` and dry-run all plan this way.

use super::job::{Condition, EndpointRef, Job, SCHEMA};
use crate::clock::Clock;
use crate::config::Endpoint;
use crate::format::{Hook, RequestTemplate};
use crate::model::PushEvent;

/// Every (endpoint, event) pair the endpoints' filters let through, as jobs due now: for each
/// endpoint, its events in push order. `wait_for_ref` makes each job wait until its ref has moved.
pub fn plan(
    endpoints: &[Endpoint],
    events: &[PushEvent],
    clock: &Clock,
    wait_for_ref: bool,
) -> Vec<Job> {
    let now = clock.now_ms();
    let mut jobs = Vec::new();
    for endpoint in endpoints {
        for e in events.iter().filter(|e| endpoint.wants(&e.change.update)) {
            let hook = Hook {
                id: endpoint.hook_id(),
                delivery_id: clock.uuid(),
            };
            let update = &e.change.update;
            jobs.push(Job {
                schema: SCHEMA,
                template: RequestTemplate {
                    event_id: e.id,
                    hook,
                    kind: e.change.kind(),
                    instance: e.project.instance_url(),
                    project_id: e.project.id,
                    body: endpoint.format.body(e, hook),
                },
                endpoint: EndpointRef {
                    number: endpoint.number,
                    format: endpoint.format.id().to_owned(),
                    url: endpoint.url.to_string(),
                },
                refname: update.refname.clone(),
                // One millisecond apart, so that file names keep this order: endpoints as configured,
                // each endpoint's events in push order.
                created_ms: now + jobs.len() as u64,
                next_ms: now,
                attempts: 0,
                condition: wait_for_ref.then(|| Condition {
                    refname: update.refname.clone(),
                    new: update.new.clone(),
                }),
                last_error: None,
                repo: None,
            });
        }
    }
    jobs
}
