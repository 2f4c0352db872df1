//! Path filters: the changed files an endpoint cares about (`paths`, `paths_ignore`), as globs like
//! the branch filters (`*` within one path segment, `**` across them).

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// An endpoint's `paths` and `paths_ignore`: a changed file counts when it matches `paths` (or there
/// are none) and no `paths_ignore`.
#[derive(Debug, Clone)]
pub struct PathFilter {
    pub paths: Vec<String>,
    pub ignore: Vec<String>,
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl PartialEq for PathFilter {
    fn eq(&self, other: &PathFilter) -> bool {
        (&self.paths, &self.ignore) == (&other.paths, &other.ignore)
    }
}

impl Eq for PathFilter {}

fn set(patterns: &[String], what: &str) -> Result<GlobSet, String> {
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        let glob = GlobBuilder::new(p).literal_separator(true).build();
        set.add(glob.map_err(|e| format!("bad {what} pattern {p:?}: {e}"))?);
    }
    set.build().map_err(|e| e.to_string())
}

impl PathFilter {
    /// The filter of these patterns; `None` when there are none. The error names a bad pattern.
    pub fn new(
        paths: Option<&[String]>,
        ignore: Option<&[String]>,
    ) -> Result<Option<Self>, String> {
        if paths.is_none() && ignore.is_none() {
            return Ok(None);
        }
        let include = paths.map(|p| set(p, "paths")).transpose()?;
        let ignore = ignore.unwrap_or_default();
        Ok(Some(PathFilter {
            paths: paths.map(<[String]>::to_vec).unwrap_or_default(),
            ignore: ignore.to_vec(),
            include,
            exclude: set(ignore, "paths_ignore")?,
        }))
    }

    /// Whether a change to `path` counts for the endpoint.
    pub fn counts(&self, path: &str) -> bool {
        self.include.as_ref().is_none_or(|s| s.is_match(path)) && !self.exclude.is_match(path)
    }
}

/// What a branch update's changed files say to one path filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// A file one of its new commits changed counts.
    Yes,
    /// No file any of its new commits changed counts.
    No,
    /// More new commits than are looked at: taken as a match.
    Unchecked,
}

impl Touch {
    /// Whether the endpoint gets the event: a match, or too many commits to tell.
    pub fn sends(self) -> bool {
        self != Touch::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(paths: &[&str], ignore: &[&str]) -> PathFilter {
        let own = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let (p, i) = (own(paths), own(ignore));
        let paths = (!p.is_empty()).then_some(&p[..]);
        let ignore = (!i.is_empty()).then_some(&i[..]);
        PathFilter::new(paths, ignore)
            .expect("patterns")
            .expect("a filter")
    }

    #[test]
    fn paths_and_ignores_decide_together() {
        let f = filter(&["src/**", "*.toml"], &["src/generated/**"]);
        assert!(f.counts("src/main.rs"));
        assert!(f.counts("src/a/b/c.rs"));
        assert!(f.counts("Cargo.toml"));
        assert!(!f.counts("sub/Cargo.toml"), "* stays within a segment");
        assert!(!f.counts("src/generated/x.rs"));
        assert!(!f.counts("docs/index.md"));
        let only_ignore = filter(&[], &["docs/**", "**/*.md"]);
        assert!(only_ignore.counts("src/lib.rs"));
        assert!(!only_ignore.counts("docs/a.txt"));
        assert!(!only_ignore.counts("src/README.md"));
        assert_eq!(PathFilter::new(None, None), Ok(None));
        let bad = PathFilter::new(Some(&["a[".to_owned()]), None).expect_err("bad glob");
        assert!(bad.starts_with("bad paths pattern \"a[\""), "{bad}");
    }
}
