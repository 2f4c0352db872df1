//! The hooks: ref updates in, webhooks out. Never fails: every problem becomes one `remote:` line.

use std::io::Read;

use super::Context;
use crate::cli::RepoArgs;
use crate::config::{self, NotConfigured};
use crate::delivery::{plan, worker, WireRequest};
use crate::describe;
use crate::error::chain;
use crate::model::{refs, PushEvent, RefUpdate};
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

/// Builds the events of these ref updates and queues (or, in dry-run, prints) every request.
fn run(
    updates: &[RefUpdate],
    at: &RepoArgs,
    dry_run: bool,
    wait_for_ref: bool,
    ctx: &mut Context<'_>,
) {
    let env = ctx.env;
    let (git_dir, repo) = match super::open_repo(at, env) {
        Ok(found) => found,
        Err(e) => return ctx.say(Notice::RepositoryUnusable(e.to_string())),
    };
    let loaded = match config::load(at.config.as_deref(), env, &git_dir, &repo.webhook_config()) {
        Ok(Some(loaded)) => loaded,
        Ok(None) => {
            return ctx.say(Notice::NoConfig(NotConfigured::new(
                at.config.as_deref(),
                env,
                &git_dir,
            )))
        }
        Err(e) => return ctx.say(Notice::ConfigUnusable(chain(&e))),
    };
    for problem in &loaded.problems {
        ctx.say(Notice::EndpointSkipped(problem.clone()));
    }
    for warning in &loaded.warnings {
        ctx.say(Notice::ConfigWarning(warning.clone()));
    }
    let config = loaded.config;
    if config.endpoints.is_empty() {
        if loaded.problems.is_empty() {
            ctx.say(Notice::NoEndpoint {
                files: config.sources.clone(),
            });
        }
        return;
    }
    if updates.is_empty() {
        return;
    }
    if let Some(skip) = env
        .push_options
        .iter()
        .find(|o| matches!(o.as_str(), "ci.skip" | "webhook.skip"))
    {
        return ctx.say(Notice::Skipped {
            option: skip.clone(),
        });
    }
    let project = describe::describe(&config, &git_dir, repo.default_branch(), env);
    let pusher = describe::pusher(&config, env);
    let pushed_at = ctx.clock.now_seconds();
    let mut events = Vec::new();
    for result in repo.events(updates, config.max_commits) {
        match result {
            Ok(mut change) => {
                describe::name_authors(&config, &mut change);
                events.push(PushEvent {
                    id: ctx.clock.uuid(),
                    change,
                    project: project.clone(),
                    pusher: pusher.clone(),
                    push_options: env.push_options.clone(),
                    pushed_at,
                });
            }
            Err(e) => ctx.say(Notice::RefSkipped(chain(&e))),
        }
    }
    let jobs = plan::plan(&config.endpoints, &events, ctx.clock, wait_for_ref);
    if jobs.is_empty() {
        return;
    }
    if dry_run || env.dry_run {
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
    let ref_moved = |refname: &str, new: &str| repo.ref_moved(refname, new);
    let submit = worker::Submit {
        config: &config,
        git_dir: &git_dir,
        config_path: at.config.as_deref(),
        env,
        clock: ctx.clock,
        ref_moved: &ref_moved,
    };
    worker::submit(&jobs, &submit, &mut |n| ctx.say(n));
}
