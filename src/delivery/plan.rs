//! Turning a push's events into jobs: one per endpoint and event its filters let through. Pure: the hook,
//! `test` and dry-run all plan this way.

use super::job::{Condition, EndpointRef, Job, SCHEMA};
use crate::clock::Clock;
use crate::config::Endpoint;
use crate::format::{Hook, RequestTemplate, Sent};
use crate::model::PushEvent;

/// Every (endpoint, event) pair the endpoints' filters let through, as jobs due now: for each
/// endpoint, its events in push order, each as the requests its format makes of it (a forge may send a
/// `create` or `delete` event beside the push; some send one request for the whole push).
/// `wait_for_ref` makes each job wait until its ref has moved.
pub fn plan(
    endpoints: &[Endpoint],
    events: &[PushEvent],
    clock: &Clock,
    wait_for_ref: bool,
) -> Vec<Job> {
    let now = clock.now_ms();
    let mut jobs = Vec::new();
    for endpoint in endpoints {
        let wanted: Vec<&PushEvent> = events
            .iter()
            .filter(|e| endpoint.wants_event(&e.change))
            .collect();
        let format = endpoint.format;
        let mut add =
            |first: &PushEvent, refname: String, sent: Sent, body: &dyn Fn(Hook) -> Vec<u8>| {
                let hook = Hook {
                    id: endpoint.hook_id(),
                    delivery_id: clock.uuid(),
                };
                let update = &first.change.update;
                jobs.push(Job {
                    schema: SCHEMA,
                    template: RequestTemplate {
                        event_id: first.id,
                        hook,
                        kind: first.change.kind(),
                        sent,
                        instance: first.project.instance_url(),
                        project_id: first.project.id,
                        body: body(hook),
                    },
                    endpoint: EndpointRef {
                        number: endpoint.number,
                        format: format.id().to_owned(),
                        url: endpoint.queued_url(),
                    },
                    refname,
                    // One millisecond apart, so that file names keep this order: endpoints as
                    // configured, each endpoint's events in push order.
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
            };
        match wanted.first() {
            Some(first) if endpoint.one_per_push() => {
                let refname = match wanted.len() {
                    1 => first.change.update.refname.clone(),
                    n => format!("{} (+{} more)", first.change.update.refname, n - 1),
                };
                add(first, refname, Sent::Push, &|hook| {
                    format.push_body(&wanted, hook, &endpoint.chat.options)
                });
            }
            _ => {
                for e in &wanted {
                    for &sent in format.sends(&e.change.update) {
                        let refname = e.change.update.refname.clone();
                        add(e, refname, sent, &|hook| {
                            format.body(e, hook, sent, &endpoint.chat.options)
                        });
                    }
                }
            }
        }
    }
    jobs
}
