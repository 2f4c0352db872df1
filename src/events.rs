//! A push's neutral events, made in its repository: the ref updates of a recorded push walked for
//! their commits ([`crate::git`]) and described with the configuration ([`crate::describe`]). This
//! is what the one intake ([`crate::delivery::intake`]) asks of the repository.

use std::path::Path;

use git2::Oid;

use crate::clock::Clock;
use crate::config::Config;
use crate::delivery::intake::{Events, Unreadable};
use crate::delivery::pushes::RecordedPush;
use crate::describe;
use crate::env::HookEnv;
use crate::error::chain;
use crate::git::push::Filters;
use crate::git::Repo;
use crate::model::{PushEvent, Touch};
use crate::notice::Notice;

/// A repository, its canonical path, its configuration and the environment: what a push's events
/// are made with.
pub struct RepoEvents<'a> {
    pub repo: &'a Repo,
    pub path: &'a Path,
    pub config: &'a Config,
    pub env: &'a HookEnv,
}

impl Events for RepoEvents<'_> {
    /// The pusher's login and push options come from the record, not from whoever makes the
    /// events later; what the other refs pointed at too, when the push created a branch. A ref whose
    /// objects are there but could not be read holds back the whole push (`Err`), so that it is
    /// made later in full, in its place among the pushes.
    fn events(
        &self,
        push: &RecordedPush,
        clock: &Clock,
        say: &mut dyn FnMut(Notice),
    ) -> Result<Vec<PushEvent>, Unreadable> {
        let (updates, bad) = push.ref_updates();
        for e in bad {
            say(Notice::BadLine(e.to_string()));
        }
        let env = HookEnv {
            login: push.login.clone(),
            push_options: push.push_options.clone(),
            ..self.env.clone()
        };
        let others: Option<Vec<Oid>> = push
            .before
            .as_ref()
            .map(|b| b.iter().filter_map(|h| Oid::from_str(h).ok()).collect());
        let project = describe::describe(self.config, self.path, push.head.clone(), &env);
        let pusher = describe::pusher(self.config, &env);
        let pushed_at = clock.now_seconds();
        let mut events = Vec::new();
        let mut filters = Filters {
            list: Vec::new(),
            max_commits: self.config.paths_max_commits,
        };
        for f in self
            .config
            .endpoints
            .iter()
            .filter_map(|e| e.paths.as_ref())
        {
            if !filters.list.contains(&f) {
                filters.list.push(f);
            }
        }
        let walked = self.repo.events(
            &updates,
            others.as_deref(),
            self.config.max_commits,
            &filters,
        );
        if let Some(e) = walked
            .iter()
            .filter_map(|r| r.as_ref().err())
            .find(|e| e.is_passing())
        {
            return Err(Unreadable(chain(e)));
        }
        for result in walked {
            match result {
                Ok(mut change) => {
                    if change.touches.iter().any(|(_, t)| *t == Touch::Unchecked) {
                        say(Notice::PathsUnchecked {
                            refname: change.update.refname.clone(),
                            max: self.config.paths_max_commits,
                        });
                    }
                    describe::name_authors(self.config, &mut change);
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
        Ok(events)
    }
}
