//! Turning a push's events into jobs: one per endpoint and event its filters let through, as many
//! requests as the endpoint's format makes. [`Shape`] is the one rule for how many requests a ref
//! update makes; [`plan`] makes the jobs by it and [`count`] counts them before any walk (what the
//! hook says it queued), so the two always agree. Pure: the hook, `test`, `demo` and dry-run all
//! plan this way.

use super::job::{Condition, EndpointRef, Job, SCHEMA};
use crate::clock::Clock;
use crate::config::{Endpoint, Facts};
use crate::format::{Hook, RequestTemplate, Sent};
use crate::model::{PathFilter, PushEvent, RefUpdate, Touch};

/// What one endpoint sends for a push's items (events, or ref updates).
pub enum Shape<'i, T> {
    Nothing,
    /// One request for every item wanted (a format that sends one per push, or `one_message`).
    OnePerPush(Vec<&'i T>),
    /// For each item wanted, the requests its format makes of it, in order.
    PerRef(Vec<(&'i T, &'static [Sent])>),
}

impl<T> Shape<'_, T> {
    /// How many requests.
    pub fn requests(&self) -> usize {
        match self {
            Shape::Nothing => 0,
            Shape::OnePerPush(_) => 1,
            Shape::PerRef(each) => each.iter().map(|(_, sent)| sent.len()).sum(),
        }
    }
}

/// The shape of what `endpoint` sends for `items`: each is a ref update (`update` tells which)
/// whose filters' questions beyond its name `facts` answers.
pub fn shape<'i, T, F: Facts>(
    endpoint: &Endpoint,
    items: &'i [T],
    update: impl Fn(&T) -> &RefUpdate,
    facts: impl Fn(&'i T) -> F,
) -> Shape<'i, T> {
    let wanted: Vec<&T> = items
        .iter()
        .filter(|i| endpoint.wants_update(update(i), &facts(i)))
        .collect();
    match wanted.is_empty() {
        true => Shape::Nothing,
        false if endpoint.one_per_push() => Shape::OnePerPush(wanted),
        false => Shape::PerRef(
            wanted
                .into_iter()
                .map(|i| (i, endpoint.format.sends(update(i))))
                .collect(),
        ),
    }
}

/// What an event says to the filters: whether it brought commits, what its changed files said to
/// each path filter (a filter it was not made for lets it through).
struct Made<'e>(&'e PushEvent);

impl Facts for Made<'_> {
    fn brings_commits(&self) -> bool {
        self.0.change.total_commits > 0
    }

    fn touches(&self, filter: &PathFilter) -> bool {
        self.0.change.touch(filter).is_none_or(Touch::sends)
    }
}

/// Before the commits are walked, what the repository answers of a ref update: whether a created
/// branch brings new commits (asked only for endpoints with `skip_empty`), and whether its new
/// commits touch a path filter (asked only for endpoints with `paths`).
pub struct Asked<'a> {
    pub brings_commits: &'a dyn Fn(&RefUpdate) -> bool,
    pub touches: &'a dyn Fn(&RefUpdate, &PathFilter) -> bool,
}

struct AskedOf<'a, 'u>(&'a Asked<'a>, &'u RefUpdate);

impl Facts for AskedOf<'_, '_> {
    fn brings_commits(&self) -> bool {
        (self.0.brings_commits)(self.1)
    }

    fn touches(&self, filter: &PathFilter) -> bool {
        (self.0.touches)(self.1, filter)
    }
}

/// How many requests `endpoints` make of a push's ref updates, before its commits are walked.
pub fn count(endpoints: &[Endpoint], updates: &[RefUpdate], asked: &Asked<'_>) -> usize {
    endpoints
        .iter()
        .map(|e| shape(e, updates, |u| u, |u| AskedOf(asked, u)).requests())
        .sum()
}

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
                        url: endpoint.queued_url().to_owned(),
                    },
                    refname,
                    // One millisecond apart, so that file names keep this order: endpoints as
                    // configured, each endpoint's events in push order.
                    created_ms: now + jobs.len() as u64,
                    next_ms: now,
                    attempts: 0,
                    first_attempt_ms: None,
                    condition: wait_for_ref.then(|| Condition {
                        refname: update.refname.clone(),
                        new: update.new.clone(),
                    }),
                    last_error: None,
                    repo: None,
                });
            };
        let shaped = shape(endpoint, events, |e| &e.change.update, Made);
        match shaped {
            Shape::Nothing => {}
            Shape::OnePerPush(wanted) => {
                let first = wanted[0];
                let refname = match wanted.len() {
                    1 => first.change.update.refname.clone(),
                    n => format!("{} (+{} more)", first.change.update.refname, n - 1),
                };
                add(first, refname, Sent::Push, &|hook| {
                    format.push_body(&wanted, hook, &endpoint.chat.options)
                });
            }
            Shape::PerRef(each) => {
                for (e, sends) in each {
                    for &sent in sends {
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
