//! Server-wide operation: one global configuration for every repository, git config as a source,
//! `install` / `uninstall`, `test`, `config check`, custom headers and TLS settings.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::support::*;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `srv/<path>.git` bare repositories below a temporary directory.
fn bare_repos(root: &Path, paths: &[&str]) -> Vec<PathBuf> {
    paths
        .iter()
        .map(|p| {
            let dir = root.join(format!("{p}.git"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            git(&dir, &["init", "-q", "--bare", "-b", "main"]);
            dir
        })
        .collect()
}

/// A work clone of `bare` at `dir` with one commit.
fn work_for(bare: &Path, dir: &Path, file: &str) -> Work {
    git(
        bare.parent().expect("parent"),
        &[
            "clone",
            "-q",
            &bare.to_string_lossy(),
            &dir.to_string_lossy(),
        ],
    );
    let w = Work::at(dir.to_path_buf());
    w.write(file, "content\n");
    w.commit(&format!("Add {file}"));
    w
}

#[test]
fn one_global_config_serves_every_repository_and_repository_files_add_to_it() {
    let receiver = Receiver::start().expect("receiver");
    let tmp = tempfile::tempdir().expect("tmp");
    let srv = tmp.path().join("srv");
    let repos = bare_repos(&srv, &["acme/one", "acme/two", "beta/tools/three"]);
    std::fs::write(repos[0].join("description"), "The first one\n").expect("description");
    let global = tmp.path().join("config.toml");
    std::fs::write(
        &global,
        format!(
            "[server]\nbase_url = \"https://git.example.com\"\nrepos_root = \"{}\"\n\n[delivery]\nmode = \"sync\"\n\n[[endpoint]]\nurl = \"{}\"\n",
            srv.display(),
            receiver.url("/all")
        ),
    )
    .expect("global");
    // acme/two adds an endpoint of its own and overrides a project field.
    std::fs::write(repos[1].join("webhook.toml"), format!("[project]\ndescription = \"Second\"\n\n[[endpoint]]\nurl = \"{}\"\nformat = \"github\"\n", receiver.url("/two-only"))).expect("repo file");
    let out = run_bin(
        tmp.path(),
        &["install", "--all", &srv.to_string_lossy()],
        b"",
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("install post-receive: installed 3"),
        "{}",
        text(&out)
    );
    let env = [("GIT_WEBHOOK_GLOBAL_CONFIG", global.to_str().expect("path"))];
    for (i, bare) in repos.iter().enumerate() {
        let w = work_for(bare, &tmp.path().join(format!("w{i}")), "a.txt");
        w.push_env(&["origin", "main"], &env);
    }
    let got = expect_requests(&receiver, 4);
    let all: Vec<serde_json::Value> = got
        .iter()
        .filter(|r| r.path == "/all")
        .map(|r| r.json())
        .collect();
    let pwn: Vec<&str> = all
        .iter()
        .map(|b| b["project"]["path_with_namespace"].as_str().expect("pwn"))
        .collect();
    assert_eq!(pwn, ["acme/one", "acme/two", "beta/tools/three"]);
    assert_eq!(
        all[0]["project"]["web_url"],
        "https://git.example.com/acme/one"
    );
    assert_eq!(all[0]["project"]["description"], "The first one");
    assert_eq!(all[1]["project"]["description"], "Second");
    assert_eq!(all[2]["project"]["namespace"], "beta/tools");
    assert_eq!(
        all[2]["project"]["git_ssh_url"],
        "git@git.example.com:beta/tools/three.git"
    );
    assert_eq!(all[2]["project"]["default_branch"], "main");
    let ids: std::collections::HashSet<u64> = all
        .iter()
        .map(|b| b["project_id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids.len(), 3, "each repository has its own stable id");
    let two_only: Vec<_> = got.iter().filter(|r| r.path == "/two-only").collect();
    assert_eq!(two_only.len(), 1);
    assert_eq!(two_only[0].json()["repository"]["full_name"], "acme/two");
}

#[test]
fn install_on_fifty_repositories_is_idempotent_and_keeps_a_foreign_hook() {
    let tmp = tempfile::tempdir().expect("tmp");
    let srv = tmp.path().join("srv");
    let names: Vec<String> = (0..50).map(|i| format!("team{}/repo{i}", i % 5)).collect();
    let repos = bare_repos(&srv, &names.iter().map(String::as_str).collect::<Vec<_>>());
    let foreign = repos[7].join("hooks/post-receive");
    let marker = tmp.path().join("foreign-ran");
    std::fs::write(&foreign, format!("#!/bin/sh\ncat > {}\n", marker.display()))
        .expect("foreign hook");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let install = |extra: &[&str]| {
        let mut args = vec!["install", "--all", srv.to_str().expect("path")];
        args.extend_from_slice(extra);
        run_bin(tmp.path(), &args, b"", &[])
    };
    let first = install(&[]);
    assert_eq!(
        first.status.code(),
        Some(1),
        "a skipped repository is reported"
    );
    assert!(text(&first).contains("[50/50]"), "progress");
    assert!(
        text(&first).contains("install post-receive: installed 49, skipped 1"),
        "{}",
        text(&first)
    );
    assert!(
        text(&first).contains("is another program; rerun with --chain"),
        "{}",
        text(&first)
    );
    assert!(
        std::fs::read_to_string(&foreign)
            .expect("kept")
            .contains("cat >"),
        "never clobbered"
    );
    let again = install(&[]);
    assert!(
        text(&again).contains("install post-receive: already installed 49, skipped 1"),
        "{}",
        text(&again)
    );
    let chained = install(&["--chain"]);
    assert!(chained.status.success());
    assert!(
        text(&chained).contains("already installed 49, chained 1"),
        "{}",
        text(&chained)
    );
    // Both the previous hook and ours run on a push.
    let receiver = Receiver::start().expect("receiver");
    std::fs::write(
        repos[7].join("webhook.toml"),
        config_for(&receiver.url("/hook"), ""),
    )
    .expect("config");
    let w = work_for(&repos[7], &tmp.path().join("w"), "x.txt");
    w.push(&["origin", "main"]);
    assert_eq!(
        expect_requests(&receiver, 1)[0].json()["ref"],
        "refs/heads/main"
    );
    assert!(std::fs::read_to_string(&marker)
        .expect("the previous hook ran")
        .contains("refs/heads/main"));
    let removed = run_bin(
        tmp.path(),
        &["uninstall", "--all", srv.to_str().expect("path")],
        b"",
        &[],
    );
    assert!(
        text(&removed)
            .contains("uninstall post-receive: removed 49, removed, previous hook restored 1"),
        "{}",
        text(&removed)
    );
    assert!(std::fs::read_to_string(&foreign)
        .expect("restored")
        .contains("cat >"));
    assert!(repos
        .iter()
        .enumerate()
        .all(|(i, r)| i == 7 || !r.join("hooks/post-receive").exists()));
}

#[test]
fn git_config_alone_configures_a_repository_with_secrets_from_a_file_or_the_environment() {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new("");
    std::fs::remove_file(server.bare.join("webhook.toml")).expect("no file");
    let secret_file = server.tmp.path().join("gitee.secret");
    std::fs::write(&secret_file, "from-a-file\n").expect("secret file");
    let url = receiver.url("/gitee");
    for (k, v) in [
        ("webhook.delivery.mode", "sync"),
        (
            "webhook.project.webUrl",
            "https://code.example.org/acme/demo",
        ),
        ("webhook.ci.url", url.as_str()),
        ("webhook.ci.format", "gitee"),
        ("webhook.ci.secretFile", secret_file.to_str().expect("path")),
        ("webhook.ci.events", "push"),
        ("webhook.bot.url", &receiver.url("/bot")),
        ("webhook.bot.secretEnv", "BOT_TOKEN"),
        ("webhook.bot.header", "X-Team: platform"),
    ] {
        git(&server.bare, &["config", "--add", k, v]);
    }
    let work = server.clone_work();
    work.commits(1, "a");
    let stderr = work.push_env(&["origin", "main"], &[("BOT_TOKEN", "from-the-env")]);
    assert!(stderr.contains("200 OK"), "{stderr}");
    let got = expect_requests(&receiver, 2);
    let gitee = got.iter().find(|r| r.path == "/gitee").expect("gitee");
    assert_eq!(gitee.header("X-Gitee-Token"), Some("from-a-file"));
    assert_eq!(
        gitee.json()["repository"]["html_url"],
        "https://code.example.org/acme/demo"
    );
    let bot = got.iter().find(|r| r.path == "/bot").expect("bot");
    assert_eq!(bot.header("X-Gitlab-Token"), Some("from-the-env"));
    assert_eq!(bot.header("X-Team"), Some("platform"));
    // A bad value in git config is named by its key.
    git(
        &server.bare,
        &["config", "webhook.bad.url", "ftp://nowhere/"],
    );
    let out = run_bin(
        &server.bare,
        &["config", "check"],
        b"",
        &[("BOT_TOKEN", "x")],
    );
    assert_eq!(out.status.code(), Some(1));
    let config = server.bare.join("config");
    assert!(
        text(&out).contains(&format!(
            "problem: {}: webhook.bad.url: ftp://nowhere/ must be an http:// or https:// URL",
            config.display()
        )),
        "{}",
        text(&out)
    );
    let missing = run_bin(&server.bare, &["config", "check"], b"", &[]);
    assert!(
        text(&missing)
            .contains("webhook.bot.secretenv: secret_env names $BOT_TOKEN, which is not set"),
        "{}",
        text(&missing)
    );
}

#[test]
fn config_check_shows_the_effective_configuration_and_names_a_broken_key() {
    let server = Server::new("[project]\nweb_url = \"https://git.example.com/acme/demo\"\n\n[[endpoint]]\nurl = \"https://ci:pa55@ci.example.com/hook\"\nsecret = \"s3cret\"\nheaders = { \"X-Team\" = \"core\" }\n");
    let out = run_bin(&server.bare, &["config", "check"], b"", &[]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("name = \"demo\"  # derived")
            && t.contains("url = \"https://*****:*****@ci.example.com/hook\"  # "),
        "{t}"
    );
    assert!(
        t.contains("secret = \"[REDACTED]\"") && !t.contains("s3cret") && !t.contains("pa55"),
        "{t}"
    );
    assert!(
        t.contains("headers = { X-Team = \"[REDACTED]\" }") && !t.contains("core"),
        "header values are shown redacted: {t}"
    );
    assert!(t.contains("0 problem(s)"), "{t}");
    server.write_config("[project]\nweb_url = \"https://git.example.com/acme/demo\"\n\n[[endpoint]]\nurl = \"https://ci.example.com/hook\"\nevnets = [\"push\"]\n");
    let out = run_bin(&server.bare, &["config", "check"], b"", &[]);
    assert_eq!(out.status.code(), Some(1));
    let file = server.bare.join("webhook.toml");
    assert!(
        text(&out).contains(&format!(
            "{}:6:1: endpoint.evnets: unknown field `evnets`",
            file.display()
        )),
        "{}",
        text(&out)
    );
}

/// The user's git config file counts as git itself says: `~/.gitconfig` is left out under
/// `GIT_CONFIG_GLOBAL=/dev/null` (as every command here runs), the file it names is read instead.
#[test]
fn git_config_files_are_the_ones_git_reads() {
    let server = Server::new("[[endpoint]]\nurl = \"http://127.0.0.1:9/a\"\n");
    // Commands here run with HOME at the directory they run in.
    let user = server.bare.join(".gitconfig");
    std::fs::write(&user, "[webhook \"delivery\"]\n\tupdateWait = 90s\n").expect("write");
    let update_wait = |envs: &[(&str, &str)]| {
        let out = run_bin(&server.bare, &["config", "check"], b"", envs);
        let t = text(&out);
        t.lines()
            .find(|l| l.starts_with("update_wait = "))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no update_wait in:\n{t}"))
    };
    assert_eq!(update_wait(&[]), "update_wait = \"1m\"  # default");
    let named = [("GIT_CONFIG_GLOBAL", user.to_str().expect("utf8"))];
    assert_eq!(
        update_wait(&named),
        "update_wait = \"1m 30s\"  # git config webhook.delivery.updatewait"
    );
    // Above every file, what git takes from its environment: GIT_CONFIG_COUNT's pairs, then
    // `git -c` (GIT_CONFIG_PARAMETERS, as git quotes it), the later winning.
    let counted = [
        ("GIT_CONFIG_COUNT", "2"),
        ("GIT_CONFIG_KEY_0", "WebHook.Delivery.UpdateWait"),
        ("GIT_CONFIG_VALUE_0", "2m"),
        ("GIT_CONFIG_KEY_1", "core.bare"),
        ("GIT_CONFIG_VALUE_1", "true"),
    ];
    let given = [&named[..], &counted[..]].concat();
    assert_eq!(
        update_wait(&given),
        "update_wait = \"2m\"  # git config webhook.Delivery.updatewait"
    );
    let parameters = "'alias.e'=''\\!'env' 'webhook.delivery.updateWait'='3m' 'core.bare'=";
    let given = [&given[..], &[("GIT_CONFIG_PARAMETERS", parameters)][..]].concat();
    assert_eq!(
        update_wait(&given),
        "update_wait = \"3m\"  # git config webhook.delivery.updatewait"
    );
    // A wrong key is named with where it was set: the user's file, or git's environment.
    std::fs::write(&user, "[webhook \"delivery\"]\n\tupdateWait = soon\n").expect("write");
    let said =
        |envs: &[(&str, &str)]| text(&run_bin(&server.bare, &["config", "check"], b"", envs));
    let t = said(&named);
    let wrong = format!("{}: webhook.delivery.updatewait: ", user.display());
    assert!(t.contains(&wrong), "no {wrong:?} in:\n{t}");
    let t = said(&[("GIT_CONFIG_PARAMETERS", "'webhook.delivery.maxJobs'='many'")]);
    let wrong = "git's environment (git -c, GIT_CONFIG_COUNT): webhook.delivery.maxjobs: ";
    assert!(t.contains(wrong), "no {wrong:?} in:\n{t}");
}

/// Every key of every table, with its value and where it came from: a file's line, a git config key,
/// the default, or (for the project) what the repository says.
#[test]
fn config_check_lists_every_key_with_its_origin() {
    let server = Server::new("[payload]\nmax_commits = 5\n\n[delivery]\nmax_age = \"2days\"\n\n[users.alice]\nemail = \"alice@example.com\"\n\n[[endpoint]]\nurl = \"http://127.0.0.1:9/a\"\n");
    let global = server.tmp.path().join("global.toml");
    std::fs::write(
        &global,
        "[server]\nbase_url = \"https://git.example.com\"\n",
    )
    .expect("write");
    git(
        &server.bare,
        &["config", "webhook.delivery.updateWait", "90s"],
    );
    git(
        &server.bare,
        &["config", "webhook.ci.url", "http://127.0.0.1:9/ci"],
    );
    let out = run_bin(
        &server.bare,
        &["config", "check"],
        b"",
        &[("GIT_WEBHOOK_GLOBAL_CONFIG", global.to_str().expect("utf8"))],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let repo_file = server.bare.join("webhook.toml");
    let line = |l: &str| {
        assert!(t.lines().any(|x| x == l), "no line {l:?} in:\n{t}");
    };
    line(&format!(
        "base_url = \"https://git.example.com\"  # {}:2",
        global.display()
    ));
    line("# repos_root: not set");
    line("web_url = \"https://git.example.com/acme/demo\"  # derived");
    line("visibility_level = 0  # derived");
    line(&format!(
        "email = \"alice@example.com\"  # {}:8",
        repo_file.display()
    ));
    line(&format!("max_commits = 5  # {}:2", repo_file.display()));
    line("mode = \"async\"  # default");
    line(&format!("max_age = \"2days\"  # {}:5", repo_file.display()));
    line("update_wait = \"1m 30s\"  # git config webhook.delivery.updatewait");
    line("max_jobs = 10000  # default");
    line("retry_schedule = [\"10s\", \"1m\", \"5m\", \"30m\", \"2h\", \"6h\"]  # default");
    line("[[endpoint]]  # 2");
    line("url = \"http://127.0.0.1:9/ci\"  # git config webhook.ci.url");
    line("format = \"gitlab\"  # default");
    line("timeout = \"10s\"  # default");
    // Every key of the schema is listed, with a value or as not set.
    for key in [
        "spool_dir",
        "max_parallel",
        "retry_jitter",
        "tls_verify",
        "secret_mode",
        "events",
        "namespace",
        "id",
    ] {
        assert!(
            t.lines()
                .any(|l| l.starts_with(&format!("{key} = ")) || l == format!("# {key}: not set")),
            "{key} missing:\n{t}"
        );
    }
}

#[test]
fn test_sends_the_newest_three_commits_now() {
    let receiver = Receiver::start().expect("receiver");
    let other = Receiver::start().expect("receiver");
    let server = Server::new(&format!(
        "{}\n[[endpoint]]\nurl = \"{}\"\nbranches = [\"nothing-matches\"]\n",
        config_for(&receiver.url("/hook"), ""),
        other.url("/two")
    ));
    let work = server.clone_work();
    let ids = work.commits(4, "a");
    work.push(&["origin", "main"]);
    let before = expect_requests(&receiver, 1).len();
    let out = run_bin(&server.bare, &["test", "--endpoint", "1"], b"", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "endpoint 1 (gitlab) {}: 200 OK in",
            receiver.url("/hook")
        )),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("response: ok"), "{}", text(&out));
    let got = expect_requests(&receiver, before + 1);
    let body = got[before].json();
    assert_eq!(
        crate::support::ids(&body),
        ids[1..].to_vec(),
        "the newest three, oldest first"
    );
    assert_eq!(body["before"], ids[1].as_str());
    assert_eq!(body["after"], ids[3].as_str());
    assert_eq!(body["total_commits_count"], 3);
    assert!(other.requests().is_empty(), "--endpoint 1 only");
    // The test ignores the endpoint's filters; dry-run prints instead of sending.
    let out = run_bin(
        &server.bare,
        &["test", "--dry-run", "--endpoint", "2"],
        b"",
        &[],
    );
    assert!(
        text(&out).contains(&format!("POST {}", other.url("/two"))),
        "{}",
        text(&out)
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(other.requests().is_empty());
    let bad = run_bin(&server.bare, &["test", "--endpoint", "9"], b"", &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad).contains("no endpoint 9 (the configuration has 2)"),
        "{}",
        text(&bad)
    );
}

#[test]
fn custom_headers_arrive_and_cannot_override_the_formats_own() {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new(&config_for(&receiver.url("/hook"), "secret = \"real\"\nheaders = { \"Authorization\" = \"Bearer argo\", \"X-Gitlab-Token\" = \"fake\", \"X-Gitlab-Event\" = \"fake\" }"));
    let work = server.clone_work();
    work.commits(1, "a");
    work.push(&["origin", "main"]);
    let r = &expect_requests(&receiver, 1)[0];
    assert_eq!(r.header("Authorization"), Some("Bearer argo"));
    assert_eq!(r.header("X-Gitlab-Token"), Some("real"));
    assert_eq!(r.header("X-Gitlab-Event"), Some("Push Hook"));
    assert_eq!(
        r.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-gitlab-token"))
            .count(),
        1
    );
    let head = work.git(&["rev-parse", "HEAD"]);
    let dry = server.run_hook(
        &["post-receive", "--dry-run"],
        format!("{ZERO} {head} refs/heads/main\n").as_bytes(),
        &[],
    );
    let shown = String::from_utf8_lossy(&dry.stdout);
    assert!(
        shown.contains("Authorization: [REDACTED]") && !shown.contains("argo"),
        "{shown}"
    );
}

/// An HTTPS receiver on 127.0.0.1 with a self-signed certificate made in-process; returns it and the
/// certificate (PEM).
fn https_receiver() -> (Receiver, String) {
    let (cert, key) = self_signed_localhost();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key DER"),
    )
    .expect("server config");
    (tls_receiver(config), cert.pem())
}

/// A receiver on 127.0.0.1 that speaks TLS as `config` says.
fn tls_receiver(config: rustls::ServerConfig) -> Receiver {
    let config = std::sync::Arc::new(config);
    Receiver::start_wrapped(
        0,
        move |tcp| {
            let session = rustls::ServerConnection::new(config.clone()).ok()?;
            let stream: Box<dyn Stream> = Box::new(rustls::StreamOwned::new(session, tcp));
            Some(stream)
        },
        |_| Reply::default(),
    )
    .expect("TLS receiver")
}

#[test]
fn a_self_signed_https_receiver_is_refused_by_default_and_accepted_with_its_ca_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (receiver, pem) = https_receiver();
    let cert = tmp.path().join("cert.pem");
    std::fs::write(&cert, pem).expect("write certificate");
    let port = receiver.port();
    let url = |path: &str| format!("https://127.0.0.1:{port}{path}");
    let config = format!(
        "{SYNC}[[endpoint]]\nurl = \"{}\"\n\n[[endpoint]]\nurl = \"{}\"\nca_file = \"{}\"\n\n[[endpoint]]\nurl = \"{}\"\ntls_verify = false\n",
        url("/default"),
        url("/with-ca"),
        cert.display(),
        url("/no-verify")
    );
    let server = Server::new(&config);
    let work = server.clone_work();
    work.commits(1, "a");
    let stderr = work.push(&["origin", "main"]);
    let got = receiver.requests();
    let mut paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/no-verify", "/with-ca"], "{stderr}");
    assert!(
        stderr.contains(&format!("{} (gitlab): FAILED:", url("/default"))),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{} (gitlab): 200 OK", url("/with-ca"))),
        "{stderr}"
    );
}

/// A `ca_file` that holds no certificate is said to be so, naming it, and nothing is sent.
#[test]
fn a_ca_file_without_a_certificate_is_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (receiver, pem) = https_receiver();
    let der = tmp.path().join("cert.der");
    std::fs::write(&der, pem.replace("CERTIFICATE", "NOTHING")).expect("write");
    let port = receiver.port();
    let server = Server::new(&format!(
        "{SYNC}[[endpoint]]\nurl = \"https://127.0.0.1:{port}/\"\nca_file = \"{}\"\n",
        der.display()
    ));
    let work = server.clone_work();
    work.commits(1, "a");
    let stderr = work.push(&["origin", "main"]);
    assert!(receiver.requests().is_empty(), "{stderr}");
    let said = format!(
        "{}: no certificate in it (PEM, BEGIN CERTIFICATE)",
        der.display()
    );
    assert!(stderr.contains(&said), "{stderr}");
}

/// The system's certificates (here `SSL_CERT_FILE`, naming the receiver's) are read once per process
/// and trusted by every sending thread's client: three endpoints, sent to in parallel, no `ca_file`.
#[test]
fn the_systems_certificates_are_trusted_by_every_sending_thread() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (receiver, pem) = https_receiver();
    let cert = tmp.path().join("system.pem");
    std::fs::write(&cert, pem).expect("write certificate");
    let port = receiver.port();
    let config: String = ["/a", "/b", "/c"]
        .iter()
        .map(|p| format!("[[endpoint]]\nurl = \"https://127.0.0.1:{port}{p}\"\n\n"))
        .collect();
    let server = Server::new(&format!("{SYNC}{config}"));
    let work = server.clone_work();
    work.commits(1, "a");
    let cert = cert.to_str().expect("UTF-8 path");
    let stderr = work.push_env(&["origin", "main"], &[("SSL_CERT_FILE", cert)]);
    let mut paths: Vec<String> = receiver.requests().into_iter().map(|r| r.path).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/a", "/b", "/c"], "{stderr}");
    assert_eq!(stderr.matches("(gitlab): 200 OK").count(), 3, "{stderr}");
}

/// A receiver that requires a client certificate issued by its own CA (made in-process): an endpoint
/// with `client_cert` and `client_key` is let in and named by its certificate; one without is
/// refused in the handshake; a world-readable key file is warned about.
#[test]
fn a_client_certificate_is_presented_to_a_receiver_that_requires_one() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().expect("tmp");
    let (server_cert, server_key) = self_signed_localhost();
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::new()).expect("CA parameters");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Receivers' CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let client_key = rcgen::KeyPair::generate().expect("client key");
    let mut client = rcgen::CertificateParams::new(Vec::new()).expect("client parameters");
    client
        .distinguished_name
        .push(rcgen::DnType::CommonName, "git-webhook on git.example.com");
    client.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client
        .signed_by(&client_key, &ca_cert, &ca_key)
        .expect("client certificate");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).expect("CA root");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .expect("client verifier");
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![server_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(server_key.serialize_der())
                .expect("key DER"),
        )
        .expect("server config");
    let receiver = tls_receiver(config);
    let file = |name: &str, text: &str, mode: u32| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        p
    };
    let ca_file = file("server.pem", &server_cert.pem(), 0o644);
    let cert_file = file("client.pem", &client_cert.pem(), 0o644);
    let key_file = file("client.key", &client_key.serialize_pem(), 0o600);
    let url = |path: &str| format!("https://127.0.0.1:{}{path}", receiver.port());
    let endpoint = |path: &str, extra: &str| {
        format!(
            "\n[[endpoint]]\nurl = \"{}\"\nca_file = \"{}\"\n{extra}",
            url(path),
            ca_file.display()
        )
    };
    let config = format!(
        "{SYNC}{}{}",
        endpoint(
            "/with-cert",
            &format!(
                "client_cert = \"{}\"\nclient_key = \"{}\"\n",
                cert_file.display(),
                key_file.display()
            )
        ),
        endpoint("/without", "")
    );
    let server = Server::new(&config);
    let work = server.clone_work();
    work.commits(1, "a");
    let stderr = work.push(&["origin", "main"]);
    let got = receiver.requests();
    let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/with-cert"], "{stderr}");
    assert!(
        stderr.contains(&format!("{} (gitlab): FAILED:", url("/without"))),
        "{stderr}"
    );
    assert!(!stderr.contains("can be read by every user"), "{stderr}");
    // The key file readable by everyone: said at the next push (and by config check).
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    work.commits(1, "b");
    let stderr = work.push(&["origin", "main"]);
    assert!(
        stderr.contains(&format!(
            "client_key {} can be read by every user of this machine: `chmod o-r` it",
            key_file.display()
        )),
        "{stderr}"
    );
}
