//! `config check`, and `test`: what the configuration says for a repository, and a sample push sent now.

use std::io::Write;
use std::path::Path;

use crate::clock::Clock;
use crate::config::{self, Config, Endpoint};
use crate::env::HookEnv;
use crate::event::{PushEvent, RefEvent};
use crate::format::{Auth, Delivery, Hook};
use crate::git::{self, refs::RefUpdate, Context as _};
use crate::notice::chain;
use crate::secret::REDACTED;
use crate::{dry_run, project, send};

fn list(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Header names a format sets itself, which an endpoint's `headers` cannot override.
fn own_headers(e: &Endpoint) -> Vec<&'static str> {
    let d = Delivery {
        event_id: uuid::Uuid::nil(),
        hook: Hook {
            id: 0,
            delivery_id: uuid::Uuid::nil(),
        },
        kind: crate::event::EventKind::Push,
        instance: String::new(),
        project_id: 0,
        body: b"{}".to_vec(),
    };
    let attempt = crate::format::Attempt {
        id: uuid::Uuid::nil(),
        now: std::time::UNIX_EPOCH,
    };
    e.format
        .prepare(
            &d,
            Auth {
                secret: e.secret.as_ref(),
                mode: e.secret_mode,
            },
            attempt,
        )
        .headers
        .iter()
        .map(|h| h.name)
        .collect()
}

fn print_endpoint(e: &Endpoint, out: &mut dyn Write) -> Vec<String> {
    let mut problems = Vec::new();
    let _ = writeln!(out, "\n[[endpoint]]  # {}", e.number);
    let _ = writeln!(out, "url = {:?}", e.masked_url());
    let _ = writeln!(out, "format = {:?}", e.format.id());
    let _ = writeln!(
        out,
        "secret = {}",
        if e.secret.is_some() {
            format!("{REDACTED:?}")
        } else {
            "(none)".to_owned()
        }
    );
    let _ = writeln!(
        out,
        "secret_mode = {:?}",
        if e.secret_mode == crate::format::SecretMode::Sign {
            "sign"
        } else {
            "password"
        }
    );
    let _ = writeln!(
        out,
        "events = {}",
        list(
            &e.events
                .iter()
                .map(|k| k.as_str().to_owned())
                .collect::<Vec<_>>()
        )
    );
    let _ = writeln!(
        out,
        "branches = {}",
        e.branches
            .as_ref()
            .map_or_else(|| "(all)".to_owned(), |f| list(&f.patterns))
    );
    let _ = writeln!(
        out,
        "tags = {}",
        e.tags
            .as_ref()
            .map_or_else(|| "(all)".to_owned(), |f| list(&f.patterns))
    );
    let _ = writeln!(
        out,
        "timeout = {:?}",
        humantime::format_duration(e.timeout).to_string()
    );
    let own = own_headers(e);
    for (name, _) in &e.headers {
        let _ = writeln!(out, "headers.{name:?} = {REDACTED:?}");
        if own.iter().any(|o| o.eq_ignore_ascii_case(name)) {
            problems.push(format!(
                "endpoint {}: header {name} cannot be overridden ({} sets it); it is not sent",
                e.number,
                e.format.id()
            ));
        }
    }
    let _ = writeln!(out, "tls_verify = {}", e.tls.verify);
    if let Some(ca) = &e.tls.ca_file {
        let _ = writeln!(out, "ca_file = {:?}", ca.display().to_string());
    }
    if let Some((cert, _)) = &e.tls.client_cert {
        let _ = writeln!(out, "client_cert = {:?}", cert.display().to_string());
    }
    problems
}

/// `git webhook config check`: the effective configuration, secrets redacted, and every problem.
/// Returns whether it is free of problems.
pub fn config_check(
    explicit: Option<&Path>,
    env: &HookEnv,
    git_dir: &Path,
    out: &mut dyn Write,
) -> bool {
    let loaded = match config::load(explicit, env, git_dir) {
        Ok(Some(l)) => l,
        Ok(None) => {
            let looked: Vec<String> = config::candidates(explicit, env, git_dir)
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect();
            let _ = writeln!(
                out,
                "no configuration: looked for {} and webhook.* in git config",
                looked.join(", ")
            );
            return false;
        }
        Err(e) => {
            let _ = writeln!(out, "error: {}", chain(&e));
            return false;
        }
    };
    let c = &loaded.config;
    let _ = writeln!(
        out,
        "# from: {}",
        c.sources
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" < ")
    );
    let repo = git::open(git_dir, env).ok();
    let p = project::describe(c, git_dir, repo.as_ref(), env);
    let _ = writeln!(
        out,
        "\n[project]  # with what is derived from the repository"
    );
    for (k, v) in [
        ("name", &p.name),
        ("namespace", &p.namespace),
        ("path_with_namespace", &p.path_with_namespace),
        ("web_url", &p.web_url),
        ("git_http_url", &p.git_http_url),
        ("git_ssh_url", &p.git_ssh_url),
        ("description", &p.description),
        ("default_branch", &p.default_branch),
    ] {
        let _ = writeln!(out, "{k} = {v:?}");
    }
    let _ = writeln!(
        out,
        "id = {}\nvisibility_level = {}",
        p.id, p.visibility_level
    );
    let d = &c.delivery;
    let _ = writeln!(
        out,
        "\n[delivery]\nmode = {:?}\ntimeout = {:?}",
        format!("{:?}", d.mode).to_lowercase(),
        humantime::format_duration(d.timeout).to_string()
    );
    let schedule: Vec<String> = d
        .policy
        .schedule
        .iter()
        .map(|s| humantime::format_duration(*s).to_string())
        .collect();
    let _ = writeln!(
        out,
        "retry_schedule = {}\nretry_jitter = {}\nmax_parallel = {}",
        list(&schedule),
        d.policy.jitter,
        d.max_parallel
    );
    let _ = writeln!(
        out,
        "spool_dir = {:?}",
        git_dir.join(&d.spool_dir).display().to_string()
    );
    let mut problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    for e in &c.endpoints {
        problems.extend(print_endpoint(e, out));
    }
    if c.endpoints.is_empty() {
        problems.push("no endpoint is configured: nothing would be sent".to_owned());
    }
    let _ = writeln!(out);
    for w in &loaded.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    for p in &problems {
        let _ = writeln!(out, "problem: {p}");
    }
    let _ = writeln!(
        out,
        "{} problem(s), {} warning(s)",
        problems.len(),
        loaded.warnings.len()
    );
    problems.is_empty()
}

/// The sample event GitLab's "Test" button sends: the newest three commits of a branch, oldest first,
/// `before` the oldest of them and `after` the newest.
fn sample(repo: &git2::Repository, refname: &str, config: &Config) -> Result<RefEvent, String> {
    let tip = repo
        .refname_to_id(refname)
        .context(|| format!("no ref {refname}"))
        .map_err(|e| chain(&e))?;
    let mut walk = repo.revwalk().map_err(|e| e.to_string())?;
    walk.set_sorting(git2::Sort::TIME)
        .map_err(|e| e.to_string())?;
    walk.push(tip).map_err(|e| e.to_string())?;
    let ids: Vec<git2::Oid> = walk
        .take(3)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut commits = Vec::new();
    for id in ids.iter().rev() {
        let c = repo.find_commit(*id).map_err(|e| e.to_string())?;
        commits.push(git::commit::read(repo, &c).map_err(|e| chain(&e))?);
    }
    let oldest = ids
        .last()
        .map_or_else(|| tip.to_string(), ToString::to_string);
    let update = RefUpdate::new(&oldest, &tip.to_string(), refname)?;
    let mut event = RefEvent {
        update,
        total_commits: commits.len(),
        head: commits.last().cloned(),
        commits,
        tag: None,
        forced: false,
    };
    project::name_authors(config, &mut event);
    Ok(event)
}

/// `git webhook test`: sends (or with dry-run prints) a sample push event to every endpoint, or to
/// endpoint `only`, now, and prints each answer. Returns whether every endpoint answered 2xx.
#[allow(clippy::too_many_arguments)]
pub fn test(
    config: &Config,
    env: &HookEnv,
    git_dir: &Path,
    refname: Option<&str>,
    only: Option<usize>,
    dry_run: bool,
    clock: &Clock,
    out: &mut dyn Write,
) -> Result<bool, String> {
    let repo = git::open(git_dir, env).map_err(|e| chain(&e))?;
    let p = project::describe(config, git_dir, Some(&repo), env);
    let refname = match refname {
        Some(r) if r.starts_with("refs/") => r.to_owned(),
        Some(r) => format!("refs/heads/{r}"),
        None => format!("refs/heads/{}", p.default_branch),
    };
    let change = sample(&repo, &refname, config)?;
    let event = PushEvent {
        id: clock.uuid(),
        change,
        project: p,
        pusher: project::pusher(config, env),
        push_options: Vec::new(),
        pushed_at: clock.now_seconds(),
    };
    let endpoints: Vec<Endpoint> = config
        .endpoints
        .iter()
        .filter(|e| only.is_none_or(|n| e.number == n))
        .cloned()
        .collect();
    if endpoints.is_empty() {
        return Err(match only {
            Some(n) => format!(
                "no endpoint {n} (the configuration has {})",
                config.endpoints.len()
            ),
            None => "no endpoint is configured".to_owned(),
        });
    }
    let mut all_ok = true;
    for e in &endpoints {
        // The test ignores the endpoint's filters, as a forge's Test button does.
        let unfiltered = Endpoint {
            events: vec![event.change.kind()],
            branches: None,
            tags: None,
            ..e.clone()
        };
        for job in send::plan(
            std::slice::from_ref(&unfiltered),
            std::slice::from_ref(&event),
            clock,
            false,
        ) {
            if dry_run {
                let _ = write!(out, "{}", dry_run::render(e, &job, clock));
                continue;
            }
            let a = match send::client(&e.tls) {
                Ok(client) => send::attempt(e, &job, &client, clock),
                Err(err) => return Err(err),
            };
            all_ok &= a.status.is_some_and(|s| (200..300).contains(&s));
            let _ = writeln!(
                out,
                "endpoint {} ({}) {}: {}",
                e.number,
                e.format.id(),
                e.masked_url(),
                a.summary()
            );
            if !a.body.is_empty() {
                let _ = writeln!(out, "  response: {}", a.body);
            }
        }
    }
    Ok(all_ok)
}
