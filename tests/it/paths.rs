//! Path filters (`paths`, `paths_ignore`) from the real diff of every new commit: which endpoints get
//! which pushes, the hook's count agreeing with what goes out, and the cap on gigantic pushes.

use std::io::Write as _;
use std::process::Stdio;

use crate::support::*;

/// Endpoints `/src` (`paths = ["src/**"]`), `/code` (`paths_ignore` of docs and Markdown), `/all`.
fn config(receiver: &Receiver, mode: &str) -> String {
    format!(
        "[delivery]\nmode = \"{mode}\"\n\n[project]\nweb_url = \"https://git.example.com/acme/demo\"\n\n\
         [[endpoint]]\nurl = \"{}\"\npaths = [\"src/**\"]\n\n\
         [[endpoint]]\nurl = \"{}\"\npaths_ignore = [\"docs/**\", \"**/*.md\"]\n\n\
         [[endpoint]]\nurl = \"{}\"\n",
        receiver.url("/src"),
        receiver.url("/code"),
        receiver.url("/all")
    )
}

/// The endpoints that got requests since `from`, sorted.
fn who(receiver: &Receiver, from: usize) -> Vec<String> {
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut paths: Vec<String> = receiver.requests()[from..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    paths.sort();
    paths
}

#[test]
fn endpoints_get_the_branch_pushes_whose_new_commits_touch_their_paths() {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new(&config(&receiver, "sync"));
    let work = server.clone_work();
    let mut seen = 0;
    let mut push = |args: &[&str], wanted: &[&str]| {
        work.push(args);
        let got = receiver.wait_for(seen + wanted.len(), std::time::Duration::from_secs(20));
        assert_eq!(who(&receiver, seen), wanted, "push {args:?}");
        seen = got.len().max(seen + wanted.len());
    };
    // Docs only: neither filtered endpoint.
    work.write("docs/guide.md", "words\n");
    work.write("README.md", "hello\n");
    work.commit("Docs");
    push(&["origin", "HEAD:refs/heads/main"], &["/all"]);
    // 25 commits; only the oldest, which no payload lists (the newest 20 are), touches src/.
    work.write("src/lib.rs", "// code\n");
    work.commit("Code");
    for i in 0..24 {
        work.write(&format!("docs/{i}.md"), "more\n");
        work.commit(&format!("Docs {i}"));
    }
    push(
        &["origin", "HEAD:refs/heads/main"],
        &["/all", "/code", "/src"],
    );
    // A tag, and a new branch without new commits: tags are not path-filtered; the branch changed
    // nothing.
    work.git(&["tag", "v1"]);
    push(&["origin", "v1"], &["/all", "/code", "/src"]);
    push(&["origin", "HEAD:refs/heads/copy"], &["/all"]);
    // A change to a Markdown file below src/: it counts for paths, not past paths_ignore.
    work.write("src/notes.md", "notes\n");
    work.commit("Notes");
    push(&["origin", "HEAD:refs/heads/main"], &["/all", "/src"]);
    // A deletion is not path-filtered.
    push(&["origin", "--delete", "copy"], &["/all", "/code", "/src"]);
}

/// In `async` mode the hook counts before any walk of the events: it asks the same question, so
/// what it says it queued is what the receivers get.
#[test]
fn the_hooks_count_is_what_goes_out() {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new(&config(&receiver, "async"));
    let work = server.clone_work();
    work.write("docs/guide.md", "words\n");
    work.commit("Docs");
    let said = work.push(&["origin", "HEAD:refs/heads/main"]);
    assert!(said.contains("1 webhook(s) queued"), "{said}");
    work.write("src/lib.rs", "// code\n");
    work.commit("Code");
    let said = work.push(&["origin", "HEAD:refs/heads/main"]);
    assert!(said.contains("3 webhook(s) queued"), "{said}");
    let got = receiver.wait_for(4, std::time::Duration::from_secs(20));
    assert_eq!(
        who(&receiver, 0),
        ["/all", "/all", "/code", "/src"],
        "{got:#?}"
    );
}

/// More new commits than the filters look at (`[payload] paths_max_commits`): the endpoints with
/// paths get the push (a build too many rather than one missed), and the hook says so.
#[test]
fn a_push_past_the_cap_is_sent_and_said() {
    let receiver = Receiver::start().expect("receiver");
    let config = config(&receiver, "sync").replace(
        "[project]",
        "[payload]\npaths_max_commits = 100\n\n[project]",
    );
    let server = Server::new(&config);
    let work = server.clone_work();
    work.write("docs/start.md", "start\n");
    work.commit("Start");
    work.push(&["origin", "HEAD:refs/heads/main"]);
    let before = receiver
        .wait_for(1, std::time::Duration::from_secs(20))
        .len();
    // 101 commits that touch docs/ only, made with fast-import.
    let start = work.git(&["rev-parse", "HEAD"]);
    let mut stream = String::new();
    for i in 0..101 {
        let from = if i == 0 {
            format!("from {start}\n")
        } else {
            String::new()
        };
        stream.push_str(&format!(
            "commit refs/heads/main\ncommitter A <a@example.com> {} +0000\ndata 2\nc\n{from}M 644 inline docs/{i}.md\ndata 2\nx\n\n",
            1_700_000_000 + i
        ));
    }
    let mut child = git_cmd(&work.dir)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("fast-import");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stream.as_bytes())
        .expect("stream");
    assert!(child.wait().expect("fast-import").success());
    let said = work.push(&["origin", "main"]);
    assert!(
        said.contains("refs/heads/main brings more than 100 new commits, more than paths filters look at: endpoints with paths get it"),
        "{said}"
    );
    receiver.wait_for(before + 3, std::time::Duration::from_secs(60));
    assert_eq!(who(&receiver, before), ["/all", "/code", "/src"]);
}

/// A bad glob is refused with its file, line and key.
#[test]
fn a_bad_path_pattern_is_named() {
    let server =
        Server::new("[[endpoint]]\nurl = \"https://ci.example.com/x\"\npaths = [\"src/[\"]\n");
    let out = server.run_hook(&["config", "check"], b"", &[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(":3:9: endpoint.paths: bad paths pattern \"src/[\""),
        "{text}"
    );
}
