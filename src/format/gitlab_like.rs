//! The GitLab-shaped parts that GitLab, GitCode and AtomGit all send: the project and repository objects,
//! commit authors and the `Push Hook` / `Tag Push Hook` event names.

use serde::Serialize;

use crate::model::{EventKind, Project};

/// The event header value GitLab and the forges modelled on it send: `Push Hook` or `Tag Push Hook`.
pub(crate) fn hook_event(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Push => "Push Hook",
        EventKind::TagPush => "Tag Push Hook",
    }
}

/// The deprecated `repository` object GitLab still sends, which AtomGit and GitCode send too.
#[derive(Serialize)]
pub(crate) struct Repository<'a> {
    name: &'a str,
    url: &'a str,
    description: &'a str,
    homepage: &'a str,
    git_http_url: &'a str,
    git_ssh_url: &'a str,
    visibility_level: u8,
}

impl<'a> Repository<'a> {
    pub(crate) fn of(p: &'a Project) -> Repository<'a> {
        Repository {
            name: &p.name,
            url: &p.git_ssh_url,
            description: &p.description,
            homepage: &p.web_url,
            git_http_url: &p.git_http_url,
            git_ssh_url: &p.git_ssh_url,
            visibility_level: p.visibility.level(),
        }
    }
}

/// The `project` object of GitLab's hooks (GitCode's lacks `ci_config_path`).
#[derive(Serialize)]
pub(crate) struct ProjectAttrs<'a> {
    id: u64,
    name: &'a str,
    description: &'a str,
    web_url: &'a str,
    avatar_url: Option<&'a str>,
    git_ssh_url: &'a str,
    git_http_url: &'a str,
    namespace: &'a str,
    visibility_level: u8,
    path_with_namespace: &'a str,
    default_branch: &'a str,
    /// `Some(None)` sends `null`; `None` leaves the key out.
    #[serde(skip_serializing_if = "Option::is_none")]
    ci_config_path: Option<Option<&'a str>>,
    homepage: &'a str,
    url: &'a str,
    ssh_url: &'a str,
    http_url: &'a str,
}

impl<'a> ProjectAttrs<'a> {
    /// The object for `p`; `with_ci_config_path` adds GitLab's `ci_config_path: null`.
    pub(crate) fn of(p: &'a Project, with_ci_config_path: bool) -> ProjectAttrs<'a> {
        ProjectAttrs {
            id: p.id,
            name: &p.name,
            description: &p.description,
            web_url: &p.web_url,
            avatar_url: p.avatar_url.as_deref(),
            git_ssh_url: &p.git_ssh_url,
            git_http_url: &p.git_http_url,
            namespace: &p.namespace,
            visibility_level: p.visibility.level(),
            path_with_namespace: &p.path_with_namespace,
            default_branch: &p.default_branch,
            ci_config_path: with_ci_config_path.then_some(None),
            homepage: &p.web_url,
            url: &p.git_ssh_url,
            ssh_url: &p.git_ssh_url,
            http_url: &p.git_http_url,
        }
    }
}

/// A commit's author as these hooks give it.
#[derive(Serialize)]
pub(crate) struct Author<'a> {
    pub(crate) name: &'a str,
    pub(crate) email: &'a str,
}
