//! `deliver`: one pass over the repository's queue, a `--watch` worker, or the background deliverer.

use super::{load_config, open_repo, Context};
use crate::cli::RepoArgs;
use crate::delivery::worker::{self, Run};
use crate::delivery::Pass;
use crate::error::CommandError;

/// `git webhook deliver [--now] [--watch]`.
pub fn run(
    at: &RepoArgs,
    now: bool,
    watch: bool,
    background: bool,
    ctx: &mut Context<'_>,
) -> Result<(), CommandError> {
    let (git_dir, repo) = open_repo(at, ctx.env)?;
    let loaded = load_config(at, ctx.env, &git_dir, &repo, ctx)?;
    let queue = worker::open(&loaded.config, &git_dir, ctx.clock)
        .map_err(|e| CommandError::from_error(&e))?;
    let ref_moved = |refname: &str, new: &str| repo.ref_moved(refname, new);
    let (env, clock) = (ctx.env, ctx.clock);
    // Pushes the hook recorded become jobs first, in every pass.
    let intake =
        || super::hook::take_recorded(&queue, &repo, &git_dir, &loaded.config, (env, clock));
    let pass = Pass {
        queue: &queue,
        config: &loaded.config,
        repo: &git_dir,
        ref_moved: &ref_moved,
        intake: &intake,
        clock: ctx.clock,
        ignore_schedule: now,
    };
    let how = match (watch, background) {
        (true, _) => Run::Watch,
        (_, true) => Run::Background,
        _ => Run::Once,
    };
    worker::deliver(pass, how, ctx.out).map_err(|e| CommandError::from_error(&e))
}
