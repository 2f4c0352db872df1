//! The `custom` formats: `custom` itself, and one line per notify-style receiver with the request
//! its documentation asks for. An endpoint's own keys override any of it.

use super::{Custom, Secrecy, Signature};
use crate::format::{Docs, Method};

/// Every `custom` format, as the format registry lists them.
pub static ALL: &[&Custom] = &[
    &CUSTOM,
    &JENKINS,
    &GOCD,
    &TEAMCITY,
    &CONCOURSE,
    &AZURE_DEVOPS,
    &BACKSTAGE,
    &DEPLOY_HOOK,
];

/// The neutral event as the body, as JSON.
const EVENT: Option<&str> = Some("{{ event }}");
const JSON: Option<&str> = Some("application/json");
/// A branch push's branch name (nothing for tags and deleted branches).
const BRANCH: &str =
    r#"{% if ref.kind == "branch" and action != "deleted" %}{{ ref.name }}{% endif %}"#;

fn bearer() -> Secrecy {
    Secrecy::Header {
        name: "Authorization".to_owned(),
        prefix: "Bearer ".to_owned(),
    }
}

pub static CUSTOM: Custom = Custom {
    id: "custom",
    about: "Any receiver: the request is what the endpoint's `method`, `query`, `body` and \
            `content_type` templates make; by default a POST of the neutral event as JSON.",
    docs: Docs {
        event: "none of its own: what the templates make",
        secret: "where `secret_query`, `secret_header` or `signature_header` say",
        check: "as the receiver does",
    },
    method: Method::Post,
    query: &[],
    headers: &[],
    content_type: JSON,
    body: EVENT,
    secret: || Secrecy::None,
    url_is_secret: false,
};

pub static JENKINS: Custom = Custom {
    id: "jenkins",
    about: "Jenkins' git plugin: `url = \"https://jenkins.example.com/git/notifyCommit\"`. Jenkins polls \
            (and, given `sha1`, builds) every job whose repository URL is `url` and whose branch \
            spec matches `branches`; the secret is the plugin's notifyCommit access token.",
    docs: Docs {
        event: "none: `GET /git/notifyCommit?url=<clone URL>&branches=<branch>&sha1=<commit>`",
        secret: "`token=<secret>` in the URL (shown masked)",
        check: "Jenkins' git plugin compares the token",
    },
    method: Method::Get,
    query: &[
        ("url", "{{ project.clone_url }}"),
        ("branches", BRANCH),
        (
            "sha1",
            r#"{% if action != "deleted" %}{{ tag.target if tag else after }}{% endif %}"#,
        ),
    ],
    headers: &[],
    content_type: None,
    body: None,
    secret: || Secrecy::Query("token".to_owned()),
    url_is_secret: false,
};

pub static GOCD: Custom = Custom {
    id: "gocd",
    about:
        "GoCD: `url = \"https://gocd.example.com/go/api/admin/materials/git/notify\"`. GoCD checks \
            every git material whose URL is `repository_url`; the secret is a GoCD access token.",
    docs: Docs {
        event: "none: `POST` of `{\"repository_url\": \"<clone URL>\"}`, `Confirm: true`",
        secret: "`Authorization: Bearer <secret>`",
        check: "GoCD checks the access token",
    },
    method: Method::Post,
    query: &[],
    headers: &[
        ("Accept", "application/vnd.go.cd+json"),
        ("Confirm", "true"),
    ],
    content_type: JSON,
    body: Some(r#"{"repository_url": {{ project.clone_url }}}"#),
    secret: bearer,
    url_is_secret: false,
};

pub static TEAMCITY: Custom = Custom {
    id: "teamcity",
    about: "TeamCity: `url = \"https://teamcity.example.com/app/rest/vcs-root-instances/commitHookNotification\"`. \
            TeamCity checks for changes the git VCS roots whose URL contains the clone URL; the secret \
            is a TeamCity access token.",
    docs: Docs {
        event: "none: `POST ...commitHookNotification?locator=vcsRoot:(type:jetbrains.git,...),property:(name:url,value:<clone URL>,...)`",
        secret: "`Authorization: Bearer <secret>`",
        check: "TeamCity checks the access token",
    },
    method: Method::Post,
    query: &[(
        "locator",
        "vcsRoot:(type:jetbrains.git,count:99999),property:(name:url,value:{{ project.clone_url }},matchType:contains,ignoreCase:true),count:99999",
    )],
    headers: &[],
    content_type: None,
    body: None,
    secret: bearer,
    url_is_secret: false,
};

pub static CONCOURSE: Custom = Custom {
    id: "concourse",
    about: "Concourse: `url = \"https://ci.example.com/api/v1/teams/<team>/pipelines/<pipeline>/resources/<resource>/check/webhook\"`. \
            Concourse checks that resource for new versions; the secret is its `webhook_token`.",
    docs: Docs {
        event: "none: `POST .../resources/<resource>/check/webhook`",
        secret: "`webhook_token=<secret>` in the URL (shown masked)",
        check: "Concourse compares the webhook token",
    },
    method: Method::Post,
    query: &[],
    headers: &[],
    content_type: None,
    body: None,
    secret: || Secrecy::Query("webhook_token".to_owned()),
    url_is_secret: false,
};

pub static AZURE_DEVOPS: Custom = Custom {
    id: "azure-devops",
    about: "An Azure DevOps \"Incoming WebHook\" service connection: \
            `url = \"https://dev.azure.com/<org>/_apis/public/distributedtask/webhooks/<name>?api-version=6.0-preview\"`. \
            Pipelines that name the connection as a webhook resource run, the neutral event as their \
            parameters; the secret is the connection's, and its HTTP header `X-Hub-Signature`.",
    docs: Docs {
        event: "none: `POST` of the neutral event",
        secret: "never sent: `X-Hub-Signature: sha1=<hex HMAC-SHA1(secret, body)>`",
        check: "Azure DevOps recomputes the HMAC of the raw body",
    },
    method: Method::Post,
    query: &[],
    headers: &[],
    content_type: JSON,
    body: EVENT,
    secret: || Secrecy::Signature {
        header: "X-Hub-Signature".to_owned(),
        signature: Signature::Sha1Hex,
        prefix: "sha1=".to_owned(),
    },
    url_is_secret: false,
};

pub static BACKSTAGE: Custom = Custom {
    id: "backstage",
    about: "Backstage's events backend (HTTP ingress): \
            `url = \"https://backstage.example.com/api/events/http/<topic>\"`. The neutral event is \
            published on that topic.",
    docs: Docs {
        event: "the topic in the URL; `POST` of the neutral event",
        secret: "none by default (`secret_header` names one for an ingress that checks it)",
        check: "the ingress's validator, if it has one",
    },
    method: Method::Post,
    query: &[],
    headers: &[],
    content_type: JSON,
    body: EVENT,
    secret: || Secrecy::None,
    url_is_secret: false,
};

pub static DEPLOY_HOOK: Custom = Custom {
    id: "deploy-hook",
    about: "A deploy hook (Netlify build hooks, Vercel deploy hooks, and the like): \
            `url = \"https://api.netlify.com/build_hooks/<id>\"`. The URL is the credential; \
            `trigger_branch` and `trigger_title` tell Netlify what to build (others ignore them). \
            Mostly wanted with `events = [\"push\"]` and `branches = [\"main\"]`.",
    docs: Docs {
        event: "none: `POST ?trigger_branch=<branch>&trigger_title=...` with `{}`",
        secret: "none: the hook URL is the credential (shown masked)",
        check: "the URL's secret id",
    },
    method: Method::Post,
    query: &[
        ("trigger_branch", BRANCH),
        (
            "trigger_title",
            "{{ pusher.login }} pushed {{ ref.name }} ({{ after[:7] }})",
        ),
    ],
    headers: &[],
    content_type: JSON,
    body: Some("{}"),
    secret: || Secrecy::None,
    url_is_secret: true,
};
