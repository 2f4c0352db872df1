//! The hooks: ref updates in, webhooks out. Never fails: every problem becomes one `remote:` line.

use std::io::Read;
use std::path::Path;

use git2::Oid;

use super::Context;
use crate::cli::RepoArgs;
use crate::clock::Clock;
use crate::config::{self, Config, Mode, NotConfigured};
use crate::delivery::job::Job;
use crate::delivery::pushes::{self, RecordedPush};
use crate::delivery::spool::Spool;
use crate::delivery::{plan, submit, worker, Queue, WireRequest};
use crate::describe;
use crate::env::HookEnv;
use crate::error::chain;
use crate::git::Repo;
use crate::model::{refs, PushEvent, RefKind, RefUpdate};
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
    let canonical = git_dir.canonicalize().unwrap_or_else(|_| git_dir.clone());
    let mut push = RecordedPush::new(canonical, ctx.clock.now_ms(), ctx.clock.seed());
    push.updates = updates.iter().map(RefUpdate::to_line).collect();
    push.head = repo.default_branch();
    push.login.clone_from(&env.login);
    push.push_options.clone_from(&env.push_options);
    let ref_moved = |refname: &str, new: &str| repo.ref_moved(refname, new);
    let submit = worker::Submit {
        config: &config,
        git_dir: &git_dir,
        config_path: at.config.as_deref(),
        env,
        clock: ctx.clock,
        ref_moved: &ref_moved,
    };
    let dry_run = dry_run || env.dry_run;
    // In `async` mode, a post-receive hook hands the push to the background deliverer, which makes
    // its events after the push has ended (the walk over a long push's commits takes time the
    // pusher should not wait for): it keeps what may change meanwhile, what the other refs pointed
    // at. (`sync` mode sends before returning; in `queue` mode the jobs are counted and limited as
    // the push is received.)
    if !dry_run && !wait_for_ref && config.delivery.mode == Mode::Async {
        // As many as the jobs will be (a format may send several requests per ref, or one per push).
        let count: usize = config
            .endpoints
            .iter()
            .map(|e| {
                let wanted = updates
                    .iter()
                    .filter(|u| u.kind() != RefKind::Other && e.wants(u));
                match e.one_per_push() {
                    true => usize::from(wanted.count() > 0),
                    false => wanted.map(|u| e.format.sends(u).len()).sum(),
                }
            })
            .sum();
        if count == 0 {
            return;
        }
        let recorded = repo
            .others_before(updates)
            .map_err(|e| chain(&e))
            .and_then(|others| {
                push.before = others.map(|o| o.iter().map(ToString::to_string).collect());
                worker::record(&push, count, &submit, &mut |n| ctx.say(n)).map_err(|e| chain(&e))
            });
        match recorded {
            Ok(()) => return,
            // Made here and now instead, with the spool's own fallbacks.
            Err(e) => ctx.say(Notice::NotRecorded(e)),
        }
    }
    let jobs = jobs_of(
        &push,
        &repo,
        &git_dir,
        &config,
        env,
        wait_for_ref,
        &mut |n| {
            ctx.say(n);
        },
    );
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

/// The jobs of a push: its events (walking the commits each ref update brought) for every endpoint
/// that wants them. The same whether made in the hook or later from the record: ids and times come
/// from the record's seed and time.
fn jobs_of(
    push: &RecordedPush,
    repo: &Repo,
    git_dir: &Path,
    config: &Config,
    env: &HookEnv,
    wait_for_ref: bool,
    say: &mut dyn FnMut(Notice),
) -> Vec<Job> {
    let clock = Clock::new(i64::try_from(push.at_ms).ok(), Some(push.seed));
    let (updates, bad) = refs::parse_stdin(push.updates.join("\n").as_bytes());
    for e in bad {
        say(Notice::BadLine(e.to_string()));
    }
    let env = HookEnv {
        login: push.login.clone(),
        push_options: push.push_options.clone(),
        ..env.clone()
    };
    let others: Option<Vec<Oid>> = push
        .before
        .as_ref()
        .map(|b| b.iter().filter_map(|h| Oid::from_str(h).ok()).collect());
    let project = describe::describe(config, git_dir, push.head.clone(), &env);
    let pusher = describe::pusher(config, &env);
    let pushed_at = clock.now_seconds();
    let mut events = Vec::new();
    for result in repo.events(&updates, others.as_deref(), config.max_commits) {
        match result {
            Ok(mut change) => {
                describe::name_authors(config, &mut change);
                events.push(PushEvent {
                    id: clock.uuid(),
                    change,
                    project: project.clone(),
                    pusher: pusher.clone(),
                    push_options: env.push_options.clone(),
                    pushed_at,
                });
            }
            Err(e) => say(Notice::RefSkipped(chain(&e))),
        }
    }
    plan::plan(&config.endpoints, &events, &clock, wait_for_ref)
}

/// Turns the pushes recorded in `spool` into jobs in `queue` (the spool itself, or the database),
/// oldest first: a deliverer's first step.
pub fn take_recorded(
    spool: &Spool,
    queue: &dyn Queue,
    repo: &Repo,
    git_dir: &Path,
    config: &Config,
    (env, clock): (&HookEnv, &Clock),
) -> Vec<Notice> {
    let mut notices = Vec::new();
    let mut say = |n: Notice| notices.push(n);
    let mine = git_dir
        .canonicalize()
        .unwrap_or_else(|_| git_dir.to_path_buf());
    let taken = pushes::take(spool.root(), &mine, &mut |push| {
        let jobs = jobs_of(push, repo, git_dir, config, env, false, &mut say);
        jobs.is_empty() || worker::enqueue(queue, jobs, (config, git_dir, clock), &mut say) > 0
    });
    match taken {
        Ok(bad) => notices.extend(bad.into_iter().map(Notice::UnreadablePush)),
        Err(e) => notices.push(Notice::NotRecorded(chain(&e))),
    }
    notices
}
