//! `endpoint resume`: ends the pause of endpoints that failed again and again, so that their
//! waiting webhooks go out now rather than at the next probe.

use std::path::PathBuf;

use super::deliver::{self, How};
use super::queue::open_view;
use super::Context;
use crate::cli::{RepoArgs, Select};
use crate::delivery::health::lane_parts;
use crate::error::CommandError;

/// Resumes the paused endpoints `all` and `endpoint` select; with one repository's spool, then
/// delivers what waited for them.
pub fn resume(
    at: &RepoArgs,
    all: Option<PathBuf>,
    endpoint: Option<String>,
    ctx: &mut Context<'_>,
) -> Result<(), CommandError> {
    let select = Select {
        all,
        endpoint,
        ..Select::default()
    };
    let (view, left_out) = open_view(at, &select, None, ctx)?;
    let resumed = view
        .admin?
        .resume(&view.filter)
        .map_err(CommandError::user)?;
    if resumed.is_empty() {
        let _ = writeln!(ctx.out, "no endpoint is paused");
    }
    for key in &resumed {
        let (repo, number, url) = lane_parts(key);
        let _ = writeln!(
            ctx.out,
            "resumed endpoint {number} {url} of {repo}: its waiting webhooks go out, in order"
        );
    }
    if !resumed.is_empty() && !view.wide {
        let how = How {
            now: false,
            watch: false,
            background: false,
            metrics: None,
        };
        deliver::run(at, how, ctx)?;
    }
    if left_out {
        return Err(CommandError::said());
    }
    Ok(())
}
