//! The documents an admin reads link to each other: every relative link in the README,
//! CONTRIBUTING.md and docs/ names a file that is there, and a heading that is there.

use std::path::{Path, PathBuf};

/// A heading's anchor as GitHub makes it: lowercase, spaces as dashes, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut in_code = false;
    text.lines()
        .filter(|l| {
            if l.starts_with("```") {
                in_code = !in_code;
            }
            !in_code && l.starts_with('#')
        })
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

/// The relative links of a Markdown text: `(target)` after `]`.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        if let Some(end) = after.find(')') {
            let target = &after[..end];
            // A file, or a heading; not a placeholder of an example (`[3 commits](compare)`).
            let a_path = target.contains(['.', '/', '#']);
            if a_path && !target.contains("://") && !target.starts_with("mailto:") {
                found.push(target.to_owned());
            }
        }
        rest = after;
    }
    found
}

#[test]
fn every_relative_link_of_the_documents_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = vec![root.join("README.md"), root.join("CONTRIBUTING.md")];
    for e in std::fs::read_dir(root.join("docs")).expect("docs") {
        files.push(e.expect("entry").path());
    }
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("document");
        let dir = file.parent().expect("dir");
        for link in links(&text) {
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            assert!(
                target.exists(),
                "{}: the link ({link}) names nothing",
                file.display()
            );
            if !fragment.is_empty() {
                let there = std::fs::read_to_string(&target).expect("linked document");
                assert!(
                    anchors(&there).iter().any(|a| a == fragment),
                    "{}: the link ({link}) names no heading of {}",
                    file.display(),
                    target.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "links checked: {checked}");
}
