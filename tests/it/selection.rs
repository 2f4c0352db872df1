//! Which commits each kind of push carries, checked against `git rev-list`.

use crate::support::*;

fn setup() -> (Receiver, Server, Work) {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new(&config_for(&receiver.url("/hook"), ""));
    let work = server.clone_work();
    (receiver, server, work)
}

#[test]
fn first_push_into_an_empty_repository_lists_its_history() {
    let (receiver, server, work) = setup();
    let ids = work.commits(5, "a");
    work.push(&["origin", "main"]);
    let got = expect_requests(&receiver, 1);
    let body = got[0].json();
    let oracle = server.rev_list(&["main"]);
    assert_eq!(oracle.len(), 5);
    assert_eq!(crate::support::ids(&body), newest_oldest_first(&oracle, 20));
    assert_eq!(crate::support::ids(&body), ids);
    assert_eq!(body["total_commits_count"], 5);
    assert_eq!(body["before"], ZERO);
    assert_eq!(body["after"], ids[4].as_str());
}

#[test]
fn a_25_commit_push_sends_the_newest_20_and_the_true_total() {
    let (receiver, server, work) = setup();
    let base = work.commits(1, "base")[0].clone();
    work.push(&["origin", "main"]);
    let ids = work.commits(25, "many");
    work.push(&["origin", "main"]);
    let got = expect_requests(&receiver, 2);
    let body = got[1].json();
    let range = format!("^{base}");
    let oracle = server.rev_list(&["main", &range]);
    assert_eq!(oracle.len(), 25);
    assert_eq!(body["total_commits_count"], 25);
    let sent = crate::support::ids(&body);
    assert_eq!(sent, newest_oldest_first(&oracle, 20));
    assert_eq!(sent, ids[5..].to_vec());
    assert_eq!(
        sent.last(),
        Some(&ids[24]),
        "the last element is the head commit"
    );
    assert_eq!(body["before"], base.as_str());
}

#[test]
fn a_new_branch_lists_only_commits_no_existing_ref_has() {
    let (receiver, server, work) = setup();
    work.commits(3, "main");
    work.push(&["origin", "main"]);
    work.git(&["checkout", "-q", "-b", "topic"]);
    let topic = work.commits(2, "topic");
    work.push(&["origin", "topic"]);
    // A branch with no new commits.
    work.git(&["branch", "empty", "main"]);
    work.push(&["origin", "empty"]);
    let got = expect_requests(&receiver, 3);
    let topic_body = got[1].json();
    assert_eq!(topic_body["ref"], "refs/heads/topic");
    assert_eq!(
        crate::support::ids(&topic_body),
        newest_oldest_first(&server.rev_list(&["topic", "^main"]), 20)
    );
    assert_eq!(crate::support::ids(&topic_body), topic);
    assert_eq!(topic_body["total_commits_count"], 2);
    let empty = got[2].json();
    assert_eq!(empty["ref"], "refs/heads/empty");
    assert_eq!(empty["commits"], serde_json::json!([]));
    assert_eq!(empty["total_commits_count"], 0);
    assert_eq!(empty["checkout_sha"], empty["after"]);
}

#[test]
fn a_branch_cut_from_another_branch_excludes_that_branch() {
    let (receiver, server, work) = setup();
    work.commits(2, "main");
    work.push(&["origin", "main"]);
    work.git(&["checkout", "-q", "-b", "dev"]);
    work.commits(3, "dev");
    work.push(&["origin", "dev"]);
    work.git(&["checkout", "-q", "-b", "feature"]);
    let feature = work.commits(1, "feature");
    work.push(&["origin", "feature"]);
    let got = expect_requests(&receiver, 3);
    let body = got[2].json();
    // git-multimail's rule: not reachable from any ref that existed before (GitLab would also count dev's 3).
    assert_eq!(crate::support::ids(&body), feature);
    assert_eq!(server.rev_list(&["feature", "^main", "^dev"]), feature);
    assert_eq!(body["total_commits_count"], 1);
}

#[test]
fn a_force_push_lists_new_not_old() {
    let (receiver, server, work) = setup();
    work.commits(3, "a");
    work.push(&["origin", "main"]);
    let old = work.git(&["rev-parse", "HEAD"]);
    work.git(&["reset", "-q", "--hard", "HEAD~2"]);
    let rewritten = work.commits(2, "b");
    work.push(&["--force", "origin", "main"]);
    let got = expect_requests(&receiver, 2);
    let body = got[1].json();
    assert_eq!(body["before"], old.as_str());
    let range = format!("^{old}");
    assert_eq!(
        crate::support::ids(&body),
        newest_oldest_first(&server.rev_list(&["main", &range]), 20)
    );
    assert_eq!(crate::support::ids(&body), rewritten);
    assert_eq!(body["total_commits_count"], 2);
}

#[test]
fn a_merge_push_lists_both_sides_and_diffs_against_the_first_parent() {
    let (receiver, server, work) = setup();
    work.commits(1, "base");
    work.push(&["origin", "main"]);
    let before = work.git(&["rev-parse", "HEAD"]);
    work.git(&["checkout", "-q", "-b", "side"]);
    work.write("side.txt", "side\n");
    work.commit("Side work");
    work.git(&["checkout", "-q", "main"]);
    work.write("main.txt", "main\n");
    work.commit("Main work");
    work.merge("side", "Merge branch 'side'", Some("@1700009999 +0200"));
    work.push(&["origin", "main"]);
    let got = expect_requests(&receiver, 2);
    let body = got[1].json();
    let range = format!("^{before}");
    let oracle = server.rev_list(&["main", &range]);
    assert_eq!(oracle.len(), 3);
    assert_eq!(crate::support::ids(&body), newest_oldest_first(&oracle, 20));
    let merge = body["commits"]
        .as_array()
        .expect("commits")
        .last()
        .expect("merge")
        .clone();
    assert_eq!(merge["title"], "Merge branch 'side'");
    assert_eq!(merge["added"], serde_json::json!(["side.txt"]));
    assert_eq!(merge["modified"], serde_json::json!([]));
}

#[test]
fn deleting_a_branch_and_a_tag_sends_no_commits() {
    let (receiver, _server, work) = setup();
    work.commits(1, "a");
    work.git(&["branch", "gone"]);
    work.git(&["tag", "old-tag"]);
    work.push(&["origin", "main", "gone", "old-tag"]);
    work.push(&["origin", "--delete", "gone", "old-tag"]);
    let got = expect_requests(&receiver, 5);
    let deletes: Vec<_> = got[3..].iter().map(Request::json).collect();
    let mut refs: Vec<_> = deletes
        .iter()
        .map(|b| b["ref"].as_str().expect("ref").to_owned())
        .collect();
    refs.sort();
    assert_eq!(refs, ["refs/heads/gone", "refs/tags/old-tag"]);
    for body in &deletes {
        assert_eq!(body["after"], ZERO);
        assert_eq!(body["checkout_sha"], serde_json::Value::Null);
        assert_eq!(body["commits"], serde_json::json!([]));
        assert_eq!(body["total_commits_count"], 0);
        assert_eq!(body["message"], serde_json::Value::Null);
    }
}

#[test]
fn three_refs_in_one_push_give_three_events() {
    let (receiver, _server, work) = setup();
    let ids = work.commits(2, "a");
    work.git(&["branch", "one"]);
    work.git(&["branch", "two"]);
    work.push(&["origin", "main", "one", "two"]);
    let got = expect_requests(&receiver, 3);
    let mut refs: Vec<String> = got
        .iter()
        .map(|r| r.json()["ref"].as_str().expect("ref").to_owned())
        .collect();
    refs.sort();
    assert_eq!(
        refs,
        ["refs/heads/main", "refs/heads/one", "refs/heads/two"]
    );
    // No ref existed before this push: each of the three lists the whole history.
    for r in &got {
        assert_eq!(crate::support::ids(&r.json()), ids);
    }
}

#[test]
fn notes_and_other_refs_send_nothing() {
    let (receiver, _server, work) = setup();
    work.commits(1, "a");
    work.push(&["origin", "main"]);
    expect_requests(&receiver, 1);
    work.git(&["notes", "add", "-m", "a note"]);
    let stderr = work.push(&["origin", "refs/notes/commits"]);
    work.push(&["origin", "HEAD:refs/changes/01/1/1"]);
    expect_requests(&receiver, 1);
    assert!(!stderr.contains("git-webhook"), "{stderr}");
}

#[test]
fn a_first_push_with_merges_counts_every_reachable_commit() {
    let (receiver, server, work) = setup();
    work.commits(3, "base");
    for i in 0..3 {
        work.git(&["checkout", "-q", "-b", &format!("side{i}")]);
        work.commits(2, &format!("side{i}"));
        work.git(&["checkout", "-q", "main"]);
        work.commits(1, &format!("main{i}"));
        work.merge(&format!("side{i}"), &format!("Merge side{i}"), None);
    }
    work.push(&["origin", "main"]);
    let body = expect_requests(&receiver, 1)[0].json();
    let oracle = server.rev_list(&["main"]);
    assert_eq!(oracle.len(), 3 + 3 * 4);
    assert_eq!(body["total_commits_count"], oracle.len());
    assert_eq!(crate::support::ids(&body), newest_oldest_first(&oracle, 20));
}

#[test]
fn an_update_with_commits_of_the_same_second_keeps_git_rev_lists_order() {
    let (receiver, server, work) = setup();
    work.commits(2, "base");
    work.push(&["origin", "main"]);
    let before = work.git(&["rev-parse", "HEAD"]);
    let same = "@1700000500 +0000";
    for i in 0..3 {
        work.git(&["checkout", "-q", "-b", &format!("s{i}"), &before]);
        for j in 0..2 {
            work.write(&format!("s{i}/{j}.txt"), "x\n");
            work.commit_at(&format!("s{i} {j}"), same, same);
        }
        work.git(&["checkout", "-q", "main"]);
        work.merge(&format!("s{i}"), &format!("Merge s{i}"), Some(same));
    }
    work.push(&["origin", "main"]);
    let body = expect_requests(&receiver, 2)[1].json();
    let range = format!("^{before}");
    let oracle = server.rev_list(&["main", &range]);
    assert_eq!(oracle.len(), 9);
    assert_eq!(body["total_commits_count"], 9);
    assert_eq!(
        crate::support::ids(&body),
        newest_oldest_first(&oracle, 20),
        "git's order, ties included"
    );
}
