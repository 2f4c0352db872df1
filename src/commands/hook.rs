//! The hooks: ref updates in, webhooks out. Never fails: every problem becomes one `remote:` line.
//! Every push is recorded as it came; `async` mode leaves the record to the background
//! deliverer, every other mode (and dry-run, and the `update` hook) runs the one intake at once,
//! and a post-receive push whose objects it cannot read is left to a deliverer too.

use std::io::Read;

use super::{Context, Repository, Unusable};
use crate::cli::RepoArgs;
use crate::config::Mode;
use crate::delivery::pushes::RecordedPush;
use crate::delivery::submit::{self, Submit};
use crate::delivery::{intake, plan, WireRequest};
use crate::describe;
use crate::error::chain;
use crate::model::{refs, PathFilter, RefUpdate};
use crate::notice::Notice;

/// `post-receive`: every `<old> <new> <ref>` line of stdin.
pub fn post_receive(stdin: &mut dyn Read, at: &RepoArgs, dry_run: bool, ctx: &mut Context<'_>) {
    let mut input = Vec::new();
    if let Err(e) = stdin.read_to_end(&mut input) {
        ctx.say(Notice::NoInput(e.to_string()));
    }
    let (updates, bad) = refs::parse_stdin(&input);
    for e in bad {
        ctx.say(Notice::BadLine(e.to_string()));
    }
    run(&updates, at, dry_run, false, ctx);
}

/// `update <ref> <old> <new>`: one ref, whose event waits until the push has really moved it.
pub fn update(
    refname: &str,
    old: &str,
    new: &str,
    at: &RepoArgs,
    dry_run: bool,
    ctx: &mut Context<'_>,
) {
    match RefUpdate::from_update_args(refname, old, new) {
        Ok(update) => run(&[update], at, dry_run, true, ctx),
        Err(e) => ctx.say(Notice::BadUpdateArguments(e.to_string())),
    }
}

/// The repository, its configuration's problems and warnings said; `None` (said) when nothing can
/// be sent.
fn repository(at: &RepoArgs, ctx: &mut Context<'_>) -> Option<Repository> {
    let found = match Repository::find(at, ctx.env) {
        Ok(found) => found,
        Err(Unusable::NotConfigured(none)) => {
            ctx.say(Notice::NoConfig(none));
            return None;
        }
        Err(Unusable::Config(e)) => {
            ctx.say(Notice::ConfigUnusable(chain(&e)));
            return None;
        }
        Err(Unusable::Open(e)) => {
            ctx.say(Notice::RepositoryUnusable(chain(&e)));
            return None;
        }
    };
    for problem in &found.loaded.problems {
        ctx.say(Notice::EndpointSkipped(problem.clone()));
    }
    for warning in &found.loaded.warnings {
        ctx.say(Notice::ConfigWarning(warning.clone()));
    }
    // `[server] exclude` (gitolite's own gitolite-admin, say): nothing to send, nothing to say.
    // The project is described for it only when there is an exclude list.
    if found.config().exclude.is_some() {
        let project = describe::describe(
            found.config(),
            &found.id,
            found.repo.default_branch(),
            ctx.env,
        );
        if found.config().excludes(&project.path_with_namespace) {
            return None;
        }
    }
    if found.config().endpoints.is_empty() {
        if found.loaded.problems.is_empty() {
            ctx.say(Notice::NoEndpoint {
                files: found.config().sources.clone(),
            });
        }
        return None;
    }
    Some(found)
}

/// Records the push of these ref updates, and queues (or, in dry-run, prints) every request.
fn run(
    updates: &[RefUpdate],
    at: &RepoArgs,
    dry_run: bool,
    wait_for_ref: bool,
    ctx: &mut Context<'_>,
) {
    let Some(found) = repository(at, ctx) else {
        return;
    };
    if updates.is_empty() {
        return;
    }
    let env = ctx.env;
    if let Some(skip) = env
        .push_options
        .iter()
        .find(|o| matches!(o.as_str(), "ci.skip" | "webhook.skip"))
    {
        return ctx.say(Notice::Skipped {
            option: skip.clone(),
        });
    }
    let config = found.config();
    let mut push = RecordedPush::new(found.id.clone(), ctx.clock.now_ms(), ctx.clock.seed());
    push.updates = updates.iter().map(RefUpdate::to_line).collect();
    push.head = found.repo.default_branch();
    push.login.clone_from(&env.login);
    push.push_options.clone_from(&env.push_options);
    let ref_moved = found.ref_moved();
    let submit = Submit {
        config,
        git_dir: &found.git_dir,
        repo: &found.id,
        config_path: at.config.as_deref(),
        env,
        clock: ctx.clock,
        ref_moved: &ref_moved,
    };
    let dry_run = dry_run || env.dry_run;
    // In `async` mode, a post-receive hook leaves the push to the background deliverer, which
    // makes its events after the push has ended (the walk over a long push's commits takes time
    // the pusher should not wait for).
    let may_leave = !dry_run && !wait_for_ref;
    if may_leave
        && config.delivery.mode == Mode::Async
        && leave(&found, updates, &mut push, &submit, false, ctx)
    {
        return;
    }
    let events = found.events(env);
    let made = intake::jobs(&push, &events, &config.endpoints, wait_for_ref, &mut |n| {
        ctx.say(n);
    });
    let jobs = match made {
        Ok(jobs) => jobs,
        Err(e) => {
            // Its objects are there but could not be read: a deliverer makes it once they can be.
            if may_leave {
                ctx.say(Notice::MadeLater(e.0.clone()));
                if leave(&found, updates, &mut push, &submit, true, ctx) {
                    return;
                }
            }
            return ctx.say(Notice::RefSkipped(e.0));
        }
    };
    if jobs.is_empty() {
        return;
    }
    if dry_run {
        for job in &jobs {
            if let Some(endpoint) = config
                .endpoints
                .iter()
                .find(|e| e.number == job.endpoint.number)
            {
                let _ = ctx
                    .out
                    .write_all(WireRequest::dry_run(endpoint, job, ctx.clock).as_bytes());
            }
        }
        return ctx.say(Notice::DryRun {
            requests: jobs.len(),
        });
    }
    submit::submit(jobs, &submit, &mut |n| ctx.say(n));
}

/// Leaves the push to a deliverer, which makes its events after the push has ended: the record
/// keeps what may change meanwhile, what the other refs pointed at. `always`: recorded even when no
/// webhook is counted for it (its objects could not be read, so neither can the count). Returns
/// whether it is left (or has nothing to send); `false`, said why, when it must be made here.
fn leave(
    found: &Repository,
    updates: &[RefUpdate],
    push: &mut RecordedPush,
    submit: &Submit<'_>,
    always: bool,
    ctx: &mut Context<'_>,
) -> bool {
    let config = found.config();
    let others = match found.repo.others_before(updates) {
        Ok(others) => others,
        Err(e) => {
            ctx.say(Notice::NotRecorded(chain(&e)));
            return false;
        }
    };
    let before = others.as_deref().unwrap_or(&[]);
    let asked = plan::Asked {
        brings_commits: &|u: &RefUpdate| found.repo.brings_commits(u, before),
        touches: &|u: &RefUpdate, f: &PathFilter| {
            let max = config.paths_max_commits;
            found.repo.touches(u, updates, before, f, max).sends()
        },
    };
    let count = plan::count(&config.endpoints, updates, &asked);
    if count == 0 && !always {
        return true;
    }
    push.before = others.map(|o| o.iter().map(ToString::to_string).collect());
    match submit::record(push, count, submit, &mut |n| ctx.say(n)) {
        Ok(()) => true,
        // Made here and now instead, with the hand-over's own fallbacks.
        Err(e) => {
            ctx.say(Notice::NotRecorded(chain(&e)));
            false
        }
    }
}
