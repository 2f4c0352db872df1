//! The hook itself: ref updates in, webhooks out. Never fails: every problem becomes one line on stderr.

use std::io::Write;
use std::path::Path;

use super::deliver;
use super::say;
use crate::clock::Clock;
use crate::config;
use crate::env::HookEnv;
use crate::event::PushEvent;
use crate::git::{self, refs::RefUpdate};
use crate::notice::{chain, Notice};
use crate::{dry_run, project, send};

/// What the command line adds to the environment for one hook run.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    pub config: Option<&'a Path>,
    pub repo: Option<&'a Path>,
    pub dry_run: bool,
    /// Run as the `update` hook: the ref has not moved yet, so each event waits until it has.
    pub wait_for_ref: bool,
}

/// Runs the hook for these ref updates: builds the events and sends (or, in dry-run, prints) every request.
pub fn run(
    updates: &[RefUpdate],
    opts: Options<'_>,
    env: &HookEnv,
    clock: &Clock,
    out: &mut dyn Write,
    err: &mut dyn Write,
) {
    let git_dir = git::repo_path(opts.repo, env);
    let loaded = match config::load(opts.config, env, &git_dir) {
        Ok(Some(loaded)) => loaded,
        Ok(None) => {
            let looked: Vec<String> = config::candidates(opts.config, env, &git_dir)
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect();
            say(
                err,
                Notice::Info(format!(
                    "no configuration found (looked for {} and webhook.* in git config); nothing sent",
                    looked.join(", ")
                )),
            );
            return;
        }
        Err(e) => {
            say(err, Notice::Problem(format!("{}; nothing sent", chain(&e))));
            return;
        }
    };
    for problem in &loaded.problems {
        say(
            err,
            Notice::Problem(format!("{problem}; this endpoint is skipped")),
        );
    }
    for warning in &loaded.warnings {
        say(err, Notice::Problem(warning.clone()));
    }
    let config = loaded.config;
    if config.endpoints.is_empty() {
        if loaded.problems.is_empty() {
            let files: Vec<String> = config
                .sources
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            say(
                err,
                Notice::Info(format!("no endpoint in {}; nothing sent", files.join(", "))),
            );
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
        say(
            err,
            Notice::Info(format!("push option {skip}: no webhooks for this push")),
        );
        return;
    }
    let repo = match git::open(&git_dir, env) {
        Ok(repo) => repo,
        Err(e) => {
            say(err, Notice::Problem(format!("{}; nothing sent", chain(&e))));
            return;
        }
    };
    let project = project::describe(&config, &git_dir, Some(&repo), env);
    let pusher = project::pusher(&config, env);
    let mut events = Vec::new();
    let pushed_at = clock.now_seconds();
    for result in git::push::events(&repo, updates, config.max_commits) {
        match result {
            Ok(mut change) => {
                project::name_authors(&config, &mut change);
                events.push(PushEvent {
                    id: clock.uuid(),
                    change,
                    project: project.clone(),
                    pusher: pusher.clone(),
                    push_options: env.push_options.clone(),
                    pushed_at,
                });
            }
            Err(e) => say(
                err,
                Notice::Problem(format!("{}; no webhook for this ref", chain(&e))),
            ),
        }
    }
    let jobs = send::plan(&config.endpoints, &events, clock, opts.wait_for_ref);
    if jobs.is_empty() {
        return;
    }
    if opts.dry_run || env.dry_run {
        for job in &jobs {
            if let Some(endpoint) = config
                .endpoints
                .iter()
                .find(|e| e.number == job.endpoint.number)
            {
                let _ = out.write_all(dry_run::render(endpoint, job, clock).as_bytes());
            }
        }
        say(
            err,
            Notice::Info(format!(
                "dry run: {} request(s) shown above, nothing sent",
                jobs.len()
            )),
        );
        return;
    }
    deliver::hand_over(&jobs, &config, &git_dir, opts.config, clock, err);
}
