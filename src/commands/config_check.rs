//! `config check`: every key of the effective configuration, where each value came from, and every problem.

use super::{Context, Repository};
use crate::cli::RepoArgs;
use crate::config::{self, Endpoint};
use crate::delivery::{shared, WireRequest};
use crate::describe;
use crate::error::{chain, CommandError};
use crate::format::{Hook, RequestTemplate};
use crate::model::EventKind;

/// The endpoint's own headers that its format (or Basic auth) replaces: as the one request builder
/// drops them from a sample request.
fn overridden(e: &Endpoint, ctx: &Context<'_>) -> Vec<String> {
    let sample = RequestTemplate {
        event_id: uuid::Uuid::nil(),
        hook: Hook {
            id: e.hook_id(),
            delivery_id: uuid::Uuid::nil(),
        },
        kind: EventKind::Push,
        sent: Default::default(),
        instance: String::new(),
        project_id: 0,
        body: b"{}".to_vec(),
    };
    WireRequest::build(e, &sample, ctx.clock, None).overridden
}

/// `git webhook config check`: exit status 1 when there is a problem.
pub fn run(at: &RepoArgs, ctx: &mut Context<'_>) -> Result<(), CommandError> {
    let env = ctx.env;
    let found = Repository::find(at, env)?;
    let loaded = &found.loaded;
    let c = &loaded.config;
    let project = describe::describe(c, &found.id, found.repo.default_branch(), env);
    let _ = write!(
        ctx.out,
        "{}",
        config::effective(loaded, &describe::as_config(&project))
    );
    let mut problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    for e in &c.endpoints {
        for name in overridden(e, ctx) {
            problems.push(format!(
                "endpoint {}: header {name} cannot be overridden ({} sets it); it is not sent",
                e.number,
                e.format.id()
            ));
        }
    }
    if c.endpoints.is_empty() {
        problems.push("no endpoint is configured: nothing would be sent".to_owned());
    }
    let _ = writeln!(ctx.out);
    if let Some(db) = c.delivery.queue.database() {
        match shared::open(db, env, ctx.clock).and_then(|q| q.describe()) {
            Ok((version, queued)) => {
                let _ = writeln!(
                    ctx.out,
                    "queue: {}: schema version {version}, {queued} job(s) queued",
                    db.shown
                );
            }
            Err(e) => problems.push(format!("[delivery] queue: {}", chain(&e))),
        }
    }
    let mut warnings = loaded.warnings.clone();
    if c.excludes(&project.path_with_namespace) {
        warnings.push(format!(
            "[server] exclude names {}: this repository sends nothing",
            project.path_with_namespace
        ));
    }
    for w in &warnings {
        let _ = writeln!(ctx.out, "warning: {w}");
    }
    for p in &problems {
        let _ = writeln!(ctx.out, "problem: {p}");
    }
    let _ = writeln!(
        ctx.out,
        "{} problem(s), {} warning(s)",
        problems.len(),
        warnings.len()
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CommandError::said())
    }
}
