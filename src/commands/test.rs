//! `test`: a sample push (the newest three commits of a branch) sent to the endpoints now, with their answers.

use super::{Context, Repository};
use crate::cli::RepoArgs;
use crate::config::Endpoint;
use crate::delivery::retry::Verdict;
use crate::delivery::{http, plan, WireRequest};
use crate::describe;
use crate::error::CommandError;
use crate::model::PushEvent;
use crate::notice::Notice;

/// How many of the newest commits the sample carries, as GitLab's "Test" button sends.
const SAMPLE_COMMITS: usize = 3;

/// `git webhook test`: sends (or with dry-run prints) the sample event to every endpoint, or to
/// endpoint `only`, and prints each answer. Exit status 1 when an endpoint did not answer 2xx.
pub fn run(
    at: &RepoArgs,
    refname: Option<&str>,
    only: Option<usize>,
    dry_run: bool,
    ctx: &mut Context<'_>,
) -> Result<(), CommandError> {
    let found = Repository::open(at, ctx)?;
    let (repo, config) = (&found.repo, found.config());
    let project = describe::describe(config, &found.id, repo.default_branch(), ctx.env);
    let refname = match refname {
        Some(r) if r.starts_with("refs/") => r.to_owned(),
        Some(r) => format!("refs/heads/{r}"),
        None => {
            // HEAD may name a branch never pushed: the sample comes from one that exists.
            let head = format!("refs/heads/{}", project.default_branch);
            match repo.branch_for_sample(&head) {
                Some(found) if found != head => {
                    ctx.say(Notice::SampleBranch {
                        head,
                        used: found.clone(),
                    });
                    found
                }
                _ => head,
            }
        }
    };
    let mut change = repo
        .sample(&refname, SAMPLE_COMMITS)
        .map_err(CommandError::user)?;
    describe::name_authors(config, &mut change);
    let event = PushEvent {
        id: ctx.clock.uuid(),
        change,
        project,
        pusher: describe::pusher(config, ctx.env),
        push_options: Vec::new(),
        pushed_at: ctx.clock.now_seconds(),
    };
    let endpoints: Vec<&Endpoint> = config
        .endpoints
        .iter()
        .filter(|e| only.is_none_or(|n| e.number == n))
        .collect();
    if endpoints.is_empty() {
        return Err(CommandError::user(match only {
            Some(n) => format!(
                "no endpoint {n} (the configuration has {})",
                config.endpoints.len()
            ),
            None => "no endpoint is configured".to_owned(),
        }));
    }
    let mut all_ok = true;
    for e in endpoints {
        // The test ignores the endpoint's filters, as a forge's Test button does.
        let unfiltered = Endpoint {
            events: vec![event.change.kind()],
            branches: None,
            tags: None,
            ..e.clone()
        };
        for job in plan::plan(
            std::slice::from_ref(&unfiltered),
            std::slice::from_ref(&event),
            ctx.clock,
            false,
        ) {
            if dry_run || ctx.env.dry_run {
                let _ = ctx
                    .out
                    .write_all(WireRequest::dry_run(e, &job, ctx.clock).as_bytes());
                continue;
            }
            let wire = WireRequest::build(e, &job.template, ctx.clock, None);
            let client = http::client(&e.tls, &config.destinations).map_err(CommandError::user)?;
            let a = http::send_blocking(&wire, e.timeout, &client, ctx.clock.now());
            // The vendor's verdict: a chat API's 200 may carry an error in its body.
            let (verdict, failure, _) = a.judged(Some(e.format));
            all_ok &= verdict == Verdict::Delivered;
            let _ = writeln!(
                ctx.out,
                "endpoint {} ({}) {}: {}",
                e.number,
                e.format.id(),
                e.shown_url,
                failure.map_or_else(|| a.summary(), |f| format!("FAILED: {f}"))
            );
            if !a.body.is_empty() {
                let _ = writeln!(ctx.out, "  response: {}", a.body);
            }
        }
    }
    if all_ok {
        Ok(())
    } else {
        Err(CommandError::user("an endpoint did not accept the request"))
    }
}
