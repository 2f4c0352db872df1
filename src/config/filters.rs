//! An endpoint's filters beyond its events: globs on branch and tag names, and what they ask of a
//! ref update beyond its name (whether a new branch brings commits, which files its commits changed).

use globset::{GlobSet, GlobSetBuilder};
use serde::{Serialize, Serializer};
use toml::Spanned;

use super::Located;
use crate::model::PathFilter;

/// A glob filter on branch or tag names: a pattern matches the short name (`release/*`) or the full
/// ref (`refs/heads/*`, `refs/tags/v*`).
#[derive(Debug, Clone)]
pub struct RefFilter {
    pub patterns: Vec<String>,
    prefix: &'static str,
    set: GlobSet,
}

impl Serialize for RefFilter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.patterns.serialize(s)
    }
}

impl RefFilter {
    pub fn matches(&self, name: &str) -> bool {
        self.set.is_match(name) || self.set.is_match(format!("{}{name}", self.prefix))
    }
}

/// What the filters ask of a ref update beyond its name, answered from its event or, before the
/// commits are walked, from the repository.
pub trait Facts {
    /// Whether a created branch brings commits no other ref had (`skip_empty`).
    fn brings_commits(&self) -> bool;
    /// Whether the update's new commits changed a file that counts for `filter` (`paths`).
    fn touches(&self, filter: &PathFilter) -> bool;
}

/// `paths` and `paths_ignore` as the file writes them.
pub(super) fn path_patterns<S: Serializer>(
    f: &Option<PathFilter>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(None)?;
    if let Some(f) = f {
        if !f.paths.is_empty() {
            map.serialize_entry("paths", &f.paths)?;
        }
        if !f.ignore.is_empty() {
            map.serialize_entry("paths_ignore", &f.ignore)?;
        }
    }
    map.end()
}

pub(super) fn ref_filter(
    list: &Option<Spanned<Vec<String>>>,
    what: &str,
    prefix: &'static str,
) -> Result<Option<RefFilter>, Located> {
    let Some(list) = list else { return Ok(None) };
    let at = |m: String| (list.span().start, m);
    let mut set = GlobSetBuilder::new();
    for p in list.get_ref() {
        let glob = globset::GlobBuilder::new(p).literal_separator(true).build();
        set.add(glob.map_err(|e| at(format!("bad {what} pattern {p:?}: {e}")))?);
    }
    let set = set.build().map_err(|e| at(e.to_string()))?;
    Ok(Some(RefFilter {
        patterns: list.get_ref().clone(),
        prefix,
        set,
    }))
}
