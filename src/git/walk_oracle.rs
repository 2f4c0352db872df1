//! The commit walk against its oracle, `git rev-list`, on generated histories: random merges, several
//! roots, same-second commits, clock skew and many refs; for first pushes, updates, force pushes and new
//! branches; order, count and whether an update is a force push; and a new branch's newest commits. A quarter of the histories have no
//! commit-graph, a quarter a whole one, a quarter one that covers only their older half (the walk reads
//! the rest from objects), and a quarter a split chain of two graph files.

use std::path::Path;
use std::process::{Command, Stdio};

use git2::{Oid, Repository};

use super::push::newest;
use super::walk::select;

/// A small deterministic generator (xorshift64*), so every run builds the same histories.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// git with a cleared environment (the tests' only window on the process environment is `PATH`).
#[allow(clippy::disallowed_methods)]
pub(super) fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        // Throw-away repositories: no fsync (commit-graph writes would spend most of the test in it).
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "core.fsync")
        .env("GIT_CONFIG_VALUE_0", "none");
    cmd
}

fn rev_list(dir: &Path, args: &[String]) -> Vec<Oid> {
    let out = git(dir)
        .arg("rev-list")
        .args(args)
        .output()
        .expect("git rev-list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| Oid::from_str(l).expect("oid"))
        .collect()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("git");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Feeds `stream` to `git fast-import`, keeping marks across calls.
fn import(dir: &Path, stream: &str) {
    let marks = dir.join("marks");
    let mut cmd = git(dir);
    cmd.args(["fast-import", "--quiet", "--force", "--export-marks=marks"]);
    if marks.exists() {
        cmd.arg("--import-marks=marks");
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git fast-import");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), stream.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds history `seed` with `git fast-import`, with a commit-graph as `seed % 4` says: returns the
/// commits (in creation order) and the refs.
fn build(dir: &Path, seed: u64) -> (Vec<Oid>, Vec<Oid>) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let commits = 10 + rng.below(70);
    let mut stream = String::new();
    let mut time: i64 = 1_600_000_000;
    let half = commits / 2;
    for i in 1..=commits {
        if i == half + 1 {
            import(dir, &std::mem::take(&mut stream));
            match seed % 4 {
                2 => run(git(dir).args(["commit-graph", "write", "--reachable"])),
                3 => run(git(dir).args(["commit-graph", "write", "--reachable", "--split"])),
                _ => {}
            }
        }
        // Mostly forward, often the same second, sometimes back in time (a skewed clock).
        time += match rng.below(10) {
            0..=3 => 0,
            4 => -(rng.below(5000) as i64),
            _ => rng.below(600) as i64,
        };
        let root = i == 1 || rng.below(25) == 0;
        if root {
            stream.push_str("reset refs/heads/scratch\n");
        }
        let msg = format!("c{i}");
        stream.push_str(&format!(
            "commit refs/heads/scratch\nmark :{i}\ncommitter C <c@example.com> {time} +0000\ndata {}\n{msg}\n",
            msg.len()
        ));
        if !root {
            // The first parent is usually a recent commit; a merge adds any earlier one.
            let first = i - 1 - rng.below((i - 1).min(4));
            stream.push_str(&format!("from :{first}\n"));
            if rng.below(3) == 0 {
                let other = 1 + rng.below(i - 1);
                if other != first {
                    stream.push_str(&format!("merge :{other}\n"));
                }
            }
        }
        stream.push_str(&format!(
            "M 100644 inline f{}.txt\ndata 2\n{}\n\n",
            i % 7,
            i % 10
        ));
    }
    let refs = 1 + rng.below(30);
    for r in 0..refs {
        stream.push_str(&format!(
            "reset refs/heads/r{r}\nfrom :{}\n\n",
            1 + rng.below(commits)
        ));
    }
    stream.push_str(&format!("reset refs/heads/scratch\nfrom :{commits}\n\n"));
    import(dir, &stream);
    match seed % 4 {
        1 => run(git(dir).args(["commit-graph", "write", "--reachable"])),
        3 => run(git(dir).args(["commit-graph", "write", "--reachable", "--split=no-merge"])),
        _ => {}
    }
    let marks = std::fs::read_to_string(dir.join("marks")).expect("marks");
    let mut ids = vec![Oid::ZERO_SHA1; commits];
    for line in marks.lines() {
        let (mark, id) = line.split_once(' ').expect("mark line");
        let n: usize = mark.trim_start_matches(':').parse().expect("mark");
        ids[n - 1] = Oid::from_str(id).expect("oid");
    }
    let repo = Repository::open(dir).expect("open");
    let tips = (0..refs)
        .map(|r| {
            repo.refname_to_id(&format!("refs/heads/r{r}"))
                .expect("ref")
        })
        .collect();
    (ids, tips)
}

/// `select` must give `git rev-list`'s commits in its order: all of them, and the newest few.
fn check(repo: &Repository, dir: &Path, include: Oid, hide: &[Oid], what: &str) -> usize {
    let mut args = vec![include.to_string()];
    args.extend(hide.iter().map(|h| format!("^{h}")));
    let expected = rev_list(dir, &args);
    let all = select(repo, include, hide, usize::MAX).expect("select");
    assert_eq!(all.newest_first, expected, "{what}: rev-list {args:?}");
    assert_eq!(all.total, expected.len(), "{what}");
    // For an update, what the walk says of reachability (force push or not) is what libgit2's own
    // graph code says (an independent implementation; asking git would cost a process per check).
    if let [old] = hide {
        let contains =
            *old == include || repo.graph_descendant_of(include, *old).expect("descendant");
        assert_eq!(
            all.reaches_hidden, contains,
            "{what}: reaches the old value"
        );
    }
    let few = select(repo, include, hide, 3).expect("select");
    assert_eq!(
        few.newest_first,
        expected[..expected.len().min(3)],
        "{what}"
    );
    assert_eq!(few.total, expected.len(), "{what}");
    expected.len()
}

#[test]
fn the_walk_matches_git_rev_list_on_generated_histories() {
    const HISTORIES: u64 = 200;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut compared = 0;
    for seed in 0..HISTORIES {
        let dir = tmp.path().join(format!("h{seed}.git"));
        std::fs::create_dir(&dir).expect("mkdir");
        assert!(git(&dir)
            .args(["init", "-q", "--bare"])
            .status()
            .expect("git init")
            .success());
        let (ids, tips) = build(&dir, seed);
        let info = dir.join("objects").join("info");
        let has_graph = info.join("commit-graph").exists()
            || info
                .join("commit-graphs")
                .join("commit-graph-chain")
                .exists();
        assert_eq!(
            has_graph,
            seed % 4 != 0,
            "history {seed}: commit-graph as planned"
        );
        let repo = Repository::open(&dir).expect("open");
        let mut rng = Rng(seed + 1);
        let pick = |rng: &mut Rng| ids[rng.below(ids.len())];
        let what = |case: &str| format!("history {seed}, {case}");
        // A first push: everything the new tip reaches.
        let tip = *ids.last().expect("a commit");
        compared += check(&repo, &dir, tip, &[], &what("first push"));
        // A new branch's newest commits, whatever other refs reach: `rev-list --max-count=10`.
        for from in [tip, pick(&mut rng)] {
            assert_eq!(
                newest(&repo, from, 10).expect("newest"),
                rev_list(&dir, &["--max-count=10".to_owned(), from.to_string()]),
                "{}",
                what("the newest 10")
            );
        }
        for _ in 0..3 {
            // An update from any commit to any other: a fast-forward, or a force push when the old
            // value is not an ancestor of the new one.
            let (old, new) = (pick(&mut rng), pick(&mut rng));
            compared += check(&repo, &dir, new, &[old], &what("update"));
            // A new branch: what no ref before the push reached.
            let others: Vec<Oid> = tips.iter().copied().filter(|t| *t != new).collect();
            compared += check(&repo, &dir, new, &others, &what("new branch"));
        }
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
    assert!(compared > 1000, "only {compared} commits compared");
}
