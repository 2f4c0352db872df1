//! The configuration's checks, its layering and the example file, end to end.

use super::*;
use crate::secret::Secret;

fn parse_str(text: &str) -> Result<Loaded, ConfigError> {
    parse(text, Path::new("/etc/x.toml"))
}

fn error(text: &str) -> String {
    match parse_str(text) {
        Err(e) => e.to_string(),
        Ok(l) => l
            .problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn the_example_file_is_the_defaults_and_names_every_key() {
    let example = include_str!("../../config.example.toml");
    let as_is = parse_str(example).expect("the example parses");
    assert!(as_is.problems.is_empty());
    assert_eq!(as_is.config.max_commits, DEFAULT_MAX_COMMITS);
    assert!(as_is.config.endpoints.is_empty());
    assert_eq!(as_is.config.project, schema::Project::default());
    assert_eq!(as_is.config.delivery, Delivery::default());
    // Uncomment every `# key = value` and `# [table]` line (pointing its paths at a real file): all
    // keys are known, and the values given for settings that have defaults are those defaults.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, "secret\n").unwrap();
    let key = tmp.path().join("key");
    std::fs::write(
        &key,
        crate::format::SigningKey::from_seed([7; 32]).to_file_text(),
    )
    .unwrap();
    let uncommented: String = example
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if rest.starts_with('[')
                    || rest.split_once(" = ").is_some_and(|(k, _)| {
                        k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
            {
                rest
            }
            _ => l,
        })
        .map(|l| {
            if l.contains("\"/etc/git-webhook/") {
                let name = l.split(" = ").next().unwrap();
                let path = if name == "signing_key_file" {
                    &key
                } else {
                    &file
                };
                format!("{name} = {path:?}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let env = HookEnv {
        vars: [
            ("CI_WEBHOOK_SECRET".to_owned(), "x".to_owned()),
            ("CI_WEBHOOK_SECRET_NEXT".to_owned(), "y".to_owned()),
        ]
        .into(),
        ..HookEnv::default()
    };
    let all = layers::assemble(
        vec![layers::Source::file("/x.toml".into(), uncommented.clone())],
        &env,
    )
    .expect("every key in the example is valid");
    assert!(all.problems.is_empty(), "{:?}", all.problems);
    assert_eq!(all.config.max_commits, DEFAULT_MAX_COMMITS);
    assert_eq!(
        all.config.delivery,
        Delivery::default(),
        "[delivery] in the example is the defaults"
    );
    assert_eq!(all.config.endpoints.len(), 12);
    let e = &all.config.endpoints[0];
    assert_eq!(e.timeout, delivery::DEFAULT_TIMEOUT);
    assert_eq!(e.format.id(), "gitlab");
    assert_eq!(e.secret_mode, crate::format::SecretMode::Password);
    assert_eq!(
        e.events,
        [
            crate::model::EventKind::Push,
            crate::model::EventKind::TagPush
        ]
    );
    assert!(e.tls.verify);
    assert_eq!(
        all.config.endpoints[1]
            .secrets
            .secret
            .as_ref()
            .map(Secret::expose),
        Some("secret")
    );
    assert_eq!(
        all.config.endpoints[2]
            .secrets
            .secret
            .as_ref()
            .map(Secret::expose),
        Some("x")
    );
    assert_eq!(all.config.users["alice"].id, Some(4));
    assert_eq!(
        all.config.server.base_url.as_deref(),
        Some("https://git.example.com")
    );
    // Every key of the schema is documented: written out, as `# key = ...`, in its table.
    for (table, keys) in [
        ("server", schema::Server::KEYS),
        ("project", schema::Project::KEYS),
        ("users", schema::User::KEYS),
        ("payload", schema::Payload::KEYS),
        ("delivery", schema::RawDelivery::KEYS),
        ("endpoint", schema::RawEndpoint::KEYS),
    ] {
        for key in keys {
            assert!(
                uncommented.contains(&format!("\n{} = ", key.name)),
                "config.example.toml lacks {table} key {}",
                key.name
            );
        }
    }
}

#[test]
fn syntax_errors_and_unknown_keys_name_file_line_and_key() {
    assert_eq!(
        error("[project]\nname = \"x\"\nnmae = \"y\"\n"),
        "/etc/x.toml:3:1: project.nmae: unknown field `nmae`, expected one of `name`, `namespace`, `web_url`, `git_http_url`, `git_ssh_url`, `id`, `description`, `visibility_level`, `default_branch`, `avatar_url`"
    );
    assert!(
        error("[project\n").starts_with("/etc/x.toml:1:9: project: "),
        "{}",
        error("[project\n")
    );
    assert_eq!(
        error("[[endpoint]]\nformat = \"gitlab\"\n"),
        "/etc/x.toml:1:1: endpoint: missing key url"
    );
    // A value inside a multi-line array is named by its key, at its own line.
    assert_eq!(
        error("[[endpoint]]\nurl = \"http://h/\"\nevents = [\n  \"push\",\n  3,\n]\n"),
        "/etc/x.toml:5:3: endpoint.events: invalid type: integer `3`, expected a string"
    );
    assert_eq!(
        error("[payload]\nmax_commits = -1\n"),
        "/etc/x.toml:2:15: payload.max_commits: invalid value: integer `-1`, expected a whole number"
    );
}

#[test]
fn endpoint_values_are_checked_one_by_one() {
    let text = "[[endpoint]]\nurl = \"not a url\"\n\n[[endpoint]]\nurl = \"https://h/x\"\nsecret_mode = \"sign\"\n\n[[endpoint]]\nurl = \"https://h/y\"\nbranches = [\"[\"]\n\n[[endpoint]]\nurl = \"https://u:p%2Fw@h/z\"\ntimeout = 0\n\n[[endpoint]]\nurl = \"https://u:p%2Fw@h/ok\"\n";
    let loaded = parse_str(text).expect("file parses");
    let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0].starts_with("/etc/x.toml:2:7: endpoint.url: \"not a url\" is not a URL"));
    assert_eq!(
        problems[1],
        "/etc/x.toml:6:15: endpoint.secret_mode: format \"gitlab\" has no \"sign\" mode"
    );
    assert!(
        problems[2].starts_with("/etc/x.toml:10:12: endpoint.branches: bad branch pattern \"[\"")
    );
    assert_eq!(
        problems[3],
        "/etc/x.toml:14:11: endpoint.timeout: must be longer than zero"
    );
    let ok = &loaded.config.endpoints[0];
    assert_eq!(ok.number, 5);
    assert_eq!(ok.url.as_str(), "https://h/ok");
    let (user, password) = ok.basic_auth.as_ref().expect("basic auth");
    assert_eq!((user.as_str(), password.expose()), ("u", "p/w"));
    assert_eq!(ok.shown_url, "https://*****:*****@h/ok");
    assert_eq!(
        format!("{ok:?}"),
        "Endpoint 5 https://*****:*****@h/ok (gitlab)"
    );
}

#[test]
fn cdevents_version_is_a_known_release_of_a_cdevents_format() {
    assert_eq!(
        error("[[endpoint]]\nurl = \"https://h/\"\nformat = \"cdevents\"\ncdevents_version = \"0.3\"\n"),
        "/etc/x.toml:4:20: endpoint.cdevents_version: unknown cdevents_version \"0.3\"; known: \"0.4.1\", \"0.5.1\""
    );
    assert_eq!(
        error("[[endpoint]]\nurl = \"https://h/\"\ncdevents_version = \"0.4.1\"\n"),
        "/etc/x.toml:3:20: endpoint.cdevents_version: format \"gitlab\" has no cdevents_version"
    );
    let loaded = parse_str(
        "[[endpoint]]\nurl = \"https://h/\"\nformat = \"cdevents-binary\"\ncdevents_version = \"0.4.1\"\n",
    )
    .expect("parses");
    let options = &loaded.config.endpoints[0].chat.options;
    assert_eq!(
        options.cdevents_version,
        crate::format::CdEventsVersion::V0_4_1
    );
}

#[test]
fn durations_and_branch_globs() {
    let loaded = parse_str("[delivery]\ntimeout = \"1m 30s\"\n\n[[endpoint]]\nurl = \"http://h/\"\nbranches = [\"release/*\", \"refs/heads/hot*\"]\n\n[[endpoint]]\nurl = \"http://h/\"\ntimeout = 3\n").expect("parses");
    let [a, b] = &loaded.config.endpoints[..] else {
        panic!("two endpoints")
    };
    assert_eq!(a.timeout, Duration::from_secs(90));
    assert_eq!(b.timeout, Duration::from_secs(3));
    let filter = a.branches.as_ref().expect("filter");
    assert!(filter.matches("release/1.0"));
    assert!(!filter.matches("release/1.0/rc"));
    assert!(filter.matches("hotfix"));
    assert!(!filter.matches("main"));
}

#[test]
fn lookup_order() {
    let env = HookEnv {
        global_config: Some("/g.toml".into()),
        ..HookEnv::default()
    };
    let c = candidates(None, &env, Path::new("/r.git"));
    assert_eq!(
        c,
        [
            (PathBuf::from("/g.toml"), false),
            (PathBuf::from("/r.git/webhook.toml"), false)
        ],
        "lowest layer first"
    );
    let env = HookEnv {
        config: Some("/e.toml".into()),
        ..HookEnv::default()
    };
    assert_eq!(
        candidates(None, &env, Path::new("/r.git")),
        [(PathBuf::from("/e.toml"), true)]
    );
    assert_eq!(
        candidates(Some(Path::new("/c.toml")), &env, Path::new("/r.git")),
        [(PathBuf::from("/c.toml"), true)]
    );
    assert_eq!(
        candidates(None, &HookEnv::default(), Path::new("/r.git"))[0].0,
        PathBuf::from(GLOBAL_CONFIG)
    );
}

mod layering {
    use super::super::layers::{assemble, Source};
    use super::*;

    #[test]
    fn later_layers_override_keys_and_add_endpoints() {
        let global = "[server]\nbase_url = \"https://git.example.com\"\n\n[project]\nvisibility_level = 20\ndescription = \"from the server\"\n\n[delivery]\nmode = \"sync\"\ntimeout = \"5s\"\n\n[[endpoint]]\nurl = \"http://h/global\"\n";
        let repo = "[project]\ndescription = \"from the repository\"\n\n[delivery]\ntimeout = \"3s\"\n\n[[endpoint]]\nurl = \"http://h/repo\"\nformat = \"github\"\n\n[[endpoint]]\nurl = \"http://h/bad\"\nformat = \"nope\"\n";
        let sources = vec![
            Source::file("/etc/g.toml".into(), global.into()),
            Source::file("/r.git/webhook.toml".into(), repo.into()),
        ];
        let loaded = assemble(sources, &HookEnv::default()).unwrap();
        let c = &loaded.config;
        assert_eq!(
            c.sources,
            [
                PathBuf::from("/etc/g.toml"),
                PathBuf::from("/r.git/webhook.toml")
            ]
        );
        assert_eq!(
            c.project.description.as_deref(),
            Some("from the repository"),
            "the repository's key wins"
        );
        assert_eq!(
            c.project.visibility_level.as_ref().map(|v| *v.get_ref()),
            Some(20),
            "other keys stay"
        );
        assert_eq!(c.delivery.mode, Mode::Sync);
        assert_eq!(c.delivery.timeout, Duration::from_secs(3));
        let urls: Vec<&str> = c.endpoints.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(
            urls,
            ["http://h/global", "http://h/repo"],
            "endpoints add up, in layer order"
        );
        assert!(
            c.endpoints
                .iter()
                .all(|e| e.timeout == Duration::from_secs(3)),
            "the merged default timeout"
        );
        assert_eq!(
            c.endpoints.iter().map(|e| e.number).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(loaded.problems.len(), 1);
        assert!(
            loaded.problems[0]
                .to_string()
                .starts_with("/r.git/webhook.toml:13:10: endpoint.format: unknown format \"nope\""),
            "{}",
            loaded.problems[0]
        );
        let bad = assemble(
            vec![
                Source::file("/etc/g.toml".into(), global.into()),
                Source::file(
                    "/r.git/webhook.toml".into(),
                    "[delivery]\nmode = \"later\"\n".into(),
                ),
            ],
            &HookEnv::default(),
        );
        assert_eq!(bad.unwrap_err().to_string(), "/r.git/webhook.toml:2:8: delivery.mode: \"later\" is not \"async\", \"sync\" or \"queue\"");
    }
}

/// Fuzzing, bounded: configuration text made of real tables, keys and values in any order and
/// mix (and of anything at all) never makes the loader panic; it gives a configuration or a
/// located problem.
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    const LINES: &[&str] = &[
        "[project]",
        "[delivery]",
        "[payload]",
        "[server]",
        "[[endpoint]]",
        "[users.alice]",
        "[endpoint]",
        "[[delivery]]",
        "name = \"demo\"",
        "url = \"http://127.0.0.1:9/x\"",
        "url = \"ftp://x\"",
        "url = \"\"",
        "url = 7",
        "format = \"gitee\"",
        "format = \"slack\"",
        "format = \"nope\"",
        "secret = \"s\"",
        "secret_mode = \"sign\"",
        "secret_file = \"/none\"",
        "secret_env = \"NOPE\"",
        "events = [\"push\", \"merge\"]",
        "branches = [\"[\"]",
        "branches = [\"release/*\"]",
        "timeout = \"0s\"",
        "timeout = \"1 fortnight\"",
        "timeout = 5",
        "retry_schedule = []",
        "retry_schedule = [\"1s\", \"x\"]",
        "retry_jitter = 2.5",
        "max_parallel = 0",
        "max_jobs = -1",
        "mode = \"sync\"",
        "mode = \"later\"",
        "queue = \"postgres://u:p@h/db\"",
        "queue = \"mysql://x\"",
        "queue_lease = \"1s\"",
        "max_commits = 0",
        "visibility_level = 15",
        "id = 18446744073709551615",
        "template = \"{{ ref\"",
        "rate_limit = \"20/zz\"",
        "chat_id = 1",
        "one_message = true",
        "skip_empty = \"yes\"",
        "headers = { X = \"y\" }",
        "headers = 3",
        "spool_dir = \"\"",
        "= 1",
        "x = ",
        "\"unterminated",
        "a.b.c = 1",
        "[[endpoint]] x = 1",
        "\u{0}",
        "web_url = \"not a url\"",
        "base_url = \"https://git.example.com\"",
    ];

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::collection::vec(prop::sample::select(LINES), 0..24).prop_map(|l| l.join("\n")),
            any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn the_loader_never_panics(text in text()) {
            let _ = parse_str(&text);
        }

        #[test]
        fn the_example_file_cut_anywhere_never_panics(cut in 0usize..20_000, skip in 0usize..400) {
            let example = include_str!("../../config.example.toml");
            let uncommented: String = example
                .lines()
                .skip(skip)
                .map(|l| l.strip_prefix("# ").unwrap_or(l))
                .collect::<Vec<_>>()
                .join("\n");
            let end = uncommented
                .char_indices()
                .map(|(i, _)| i)
                .find(|&i| i >= cut.min(uncommented.len()))
                .unwrap_or(uncommented.len());
            let _ = parse_str(&uncommented[..end]);
        }
    }
}
