//! Parsing what git hands a hook into typed ref updates: `<old> <new> <ref>` lines, or `update`'s arguments.

use std::fmt;

/// One ref moved (or created, or deleted) by a push, with its object names as git gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// Object name before the push: all zeros when the ref is created.
    pub old: String,
    /// Object name after the push: all zeros when the ref is deleted.
    pub new: String,
    /// Full ref name, e.g. `refs/heads/main`.
    pub refname: String,
}

/// What a push did to a ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

/// Which kind of ref it is: only branches and tags send webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefKind {
    /// `refs/heads/<name>`
    Branch(String),
    /// `refs/tags/<name>`
    Tag(String),
    /// Anything else (`refs/notes/*`, `refs/changes/*`, ...).
    Other,
}

/// Where a ref update was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The post-receive hook's stdin, 1-based line.
    Stdin(usize),
    /// The `update` hook's arguments.
    Arguments,
    /// A recorded push's list of updates, 1-based.
    Recorded(usize),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Stdin(n) => write!(f, "stdin line {n}"),
            Place::Arguments => write!(f, "arguments"),
            Place::Recorded(n) => write!(f, "ref update {n}"),
        }
    }
}

/// A line or argument list that is not a valid ref update.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {reason}")]
pub struct ParseError {
    pub place: Place,
    pub reason: BadUpdate,
}

/// What is wrong with a ref update.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadUpdate {
    #[error("expected \"<old> <new> <ref>\", got {0:?}")]
    Shape(String),
    #[error("{what} object name {hex:?} is not 40 or 64 hex digits")]
    ObjectName { what: &'static str, hex: String },
    #[error("old and new object names differ in length")]
    Lengths,
    #[error("{0}: both old and new object names are zero")]
    BothZero(String),
    #[error("{0:?} is not a valid full ref name")]
    RefName(String),
    #[error("not valid UTF-8")]
    NotUtf8,
}

/// True for the all-zero object name git uses for "no object".
pub fn is_zero(hex: &str) -> bool {
    hex.bytes().all(|b| b == b'0')
}

fn check_object_name(what: &'static str, hex: &str) -> Result<String, BadUpdate> {
    let ok_len = hex.len() == 40 || hex.len() == 64;
    if ok_len && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(BadUpdate::ObjectName {
            what,
            hex: shorten(hex),
        })
    }
}

impl RefUpdate {
    /// Builds an update from its three parts, checking each.
    pub fn new(old: &str, new: &str, refname: &str) -> Result<RefUpdate, BadUpdate> {
        let old = check_object_name("old", old)?;
        let new = check_object_name("new", new)?;
        if old.len() != new.len() {
            return Err(BadUpdate::Lengths);
        }
        if is_zero(&old) && is_zero(&new) {
            return Err(BadUpdate::BothZero(shorten(refname)));
        }
        if !refname.starts_with("refs/") || !git2::Reference::is_valid_name(refname) {
            return Err(BadUpdate::RefName(shorten(refname)));
        }
        Ok(RefUpdate {
            old,
            new,
            refname: refname.to_owned(),
        })
    }

    /// Parses one post-receive line, `<old> <new> <ref>`.
    pub fn parse_line(line: &str, lineno: usize) -> Result<RefUpdate, ParseError> {
        RefUpdate::parse_at(line, Place::Stdin(lineno))
    }

    /// Parses one `<old> <new> <ref>` line read at `place`.
    pub fn parse_at(line: &str, place: Place) -> Result<RefUpdate, ParseError> {
        let err = |reason| ParseError { place, reason };
        let mut parts = line.split_ascii_whitespace();
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(old), Some(new), Some(refname), None) => {
                RefUpdate::new(old, new, refname).map_err(err)
            }
            _ => Err(err(BadUpdate::Shape(shorten(line)))),
        }
    }

    /// Parses the `update` hook's arguments, `<ref> <old> <new>`.
    pub fn from_update_args(refname: &str, old: &str, new: &str) -> Result<RefUpdate, ParseError> {
        RefUpdate::new(old, new, refname).map_err(|reason| ParseError {
            place: Place::Arguments,
            reason,
        })
    }

    /// The update as a post-receive line, `<old> <new> <ref>`.
    pub fn to_line(&self) -> String {
        format!("{} {} {}", self.old, self.new, self.refname)
    }

    pub fn action(&self) -> Action {
        if is_zero(&self.old) {
            Action::Create
        } else if is_zero(&self.new) {
            Action::Delete
        } else {
            Action::Update
        }
    }

    pub fn kind(&self) -> RefKind {
        if let Some(name) = self.refname.strip_prefix("refs/heads/") {
            RefKind::Branch(name.to_owned())
        } else if let Some(name) = self.refname.strip_prefix("refs/tags/") {
            RefKind::Tag(name.to_owned())
        } else {
            RefKind::Other
        }
    }
}

fn shorten(line: &str) -> String {
    const MAX: usize = 80;
    match line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_owned(),
    }
}

/// Parses post-receive's whole stdin; good lines and bad lines are both kept, so one bad line loses nothing else.
pub fn parse_stdin(input: &[u8]) -> (Vec<RefUpdate>, Vec<ParseError>) {
    let mut updates = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in input.split(|&b| b == b'\n').enumerate() {
        let lineno = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match std::str::from_utf8(raw) {
            Ok(line) => match RefUpdate::parse_line(line, lineno) {
                Ok(update) => updates.push(update),
                Err(e) => errors.push(e),
            },
            Err(_) => errors.push(ParseError {
                place: Place::Stdin(lineno),
                reason: BadUpdate::NotUtf8,
            }),
        }
    }
    (updates, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const Z: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn parses_every_line_and_keeps_going_after_bad_ones() {
        let input = format!("{A} {B} refs/heads/main\n\ngarbage\n{Z} {B} refs/tags/v1\r\n{A} {Z} refs/heads/old\n{A} {B}\n");
        let (ok, bad) = parse_stdin(input.as_bytes());
        assert_eq!(ok.len(), 3);
        assert_eq!(
            ok[0],
            RefUpdate {
                old: A.into(),
                new: B.into(),
                refname: "refs/heads/main".into()
            }
        );
        assert_eq!(ok[0].action(), Action::Update);
        assert_eq!(ok[1].action(), Action::Create);
        assert_eq!(ok[1].kind(), RefKind::Tag("v1".into()));
        assert_eq!(ok[2].action(), Action::Delete);
        assert_eq!(ok[2].kind(), RefKind::Branch("old".into()));
        assert_eq!(bad.len(), 2);
        assert_eq!(
            bad[0].to_string(),
            "stdin line 3: expected \"<old> <new> <ref>\", got \"garbage\""
        );
        assert_eq!(bad[1].place, Place::Stdin(6));
    }

    #[test]
    fn rejects_bad_names_and_shapes() {
        let bad =
            |old: &str, new: &str, r: &str| RefUpdate::new(old, new, r).unwrap_err().to_string();
        assert!(bad("xyz", B, "refs/heads/a").contains("old object name \"xyz\""));
        assert!(bad(A, &B[..39], "refs/heads/a").contains("new object name"));
        assert!(bad(Z, Z, "refs/heads/a").contains("both old and new"));
        assert!(bad(A, B, "main").contains("not a valid full ref name"));
        assert!(bad(A, B, "refs/heads/a..b").contains("not a valid"));
        let sha256 = "a".repeat(64);
        assert!(RefUpdate::new(&sha256, &"0".repeat(64), "refs/heads/x").is_ok());
        assert!(bad(&sha256, B, "refs/heads/x").contains("differ in length"));
    }

    #[test]
    fn update_args_and_other_refs() {
        let u = RefUpdate::from_update_args("refs/notes/commits", A, B).unwrap();
        assert_eq!(u.kind(), RefKind::Other);
        let e = RefUpdate::from_update_args("refs/heads/x", "nope", B).unwrap_err();
        assert!(e.to_string().starts_with("arguments: old object name"));
        let (_, bad) = parse_stdin(b"\xff\xfe x y\n");
        assert_eq!(bad[0].to_string(), "stdin line 1: not valid UTF-8");
    }
}

/// Fuzzing, bounded: any bytes at all on stdin never make the parser panic, and every line that
/// is not blank comes out as an update or as an error naming its line.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn line() -> impl Strategy<Value = Vec<u8>> {
        let hex = prop::collection::vec(
            prop::sample::select(&b"0123456789abcdefABCDEFxz"[..]),
            0..70,
        );
        let name = prop::sample::select(
            &[
                "refs/heads/main",
                "refs/tags/v1",
                "refs/heads/a..b",
                "main",
                "refs/heads/",
                "refs/x y",
                "refs/heads/caf\u{e9}",
                "",
            ][..],
        );
        prop_oneof![
            (hex.clone(), hex, name).prop_map(|(o, n, r)| {
                [o, b" ".to_vec(), n, b" ".to_vec(), r.as_bytes().to_vec()].concat()
            }),
            prop::collection::vec(any::<u8>(), 0..200),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn any_input_parses_without_panicking(lines in prop::collection::vec(line(), 0..12)) {
            let input = lines.join(&b'\n');
            let (ok, bad) = parse_stdin(&input);
            let counted = input
                .split(|&b| b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .count();
            prop_assert_eq!(ok.len() + bad.len(), counted);
            for e in &bad {
                let total = input.split(|&b| b == b'\n').count();
                prop_assert!(matches!(e.place, Place::Stdin(n) if n >= 1 && n <= total));
            }
        }
    }
}
