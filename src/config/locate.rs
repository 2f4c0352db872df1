//! Where each key of a TOML file stands: its line, for `config check`'s origins and for locating errors.

use toml_edit::{ImDocument, Item, Table};

/// The keys of one file with their places, from the parsed document's spans.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Dotted key path (`endpoint.0.url`), byte range from the key to the end of its value.
    entries: Vec<(String, std::ops::Range<usize>)>,
    /// Table headers (`[delivery]`, `[[endpoint]]`): where each starts, and its path.
    headers: Vec<(usize, String)>,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

impl Index {
    /// The index of `text`; empty when it does not parse (the parse error is reported on its own).
    pub(crate) fn new(text: &str) -> Index {
        let mut index = Index::default();
        if let Ok(doc) = ImDocument::parse(text) {
            index.walk(doc.as_table(), "");
        }
        index
    }

    fn walk(&mut self, table: &Table, prefix: &str) {
        for (key, item) in table.iter() {
            let path = join(prefix, key);
            match item {
                Item::Table(t) => {
                    if let Some(span) = t.span() {
                        self.headers.push((span.start, path.clone()));
                    }
                    self.walk(t, &path);
                }
                Item::ArrayOfTables(array) => {
                    for (i, t) in array.iter().enumerate() {
                        let path = format!("{path}.{i}");
                        if let Some(span) = t.span() {
                            self.headers.push((span.start, path.clone()));
                        }
                        self.walk(t, &path);
                    }
                }
                Item::Value(v) => {
                    let start = table.key(key).and_then(toml_edit::Key::span);
                    if let (Some(start), Some(end)) = (start, v.span()) {
                        self.entries.push((path, start.start..end.end));
                    }
                }
                Item::None => {}
            }
        }
    }

    /// Every key path with the byte offset where its key is written.
    pub(crate) fn keys(&self) -> impl Iterator<Item = (&str, usize)> {
        self.entries.iter().map(|(p, r)| (p.as_str(), r.start))
    }

    /// Where the header of table `path` (`endpoint.2`) starts.
    pub(crate) fn header(&self, path: &str) -> Option<usize> {
        self.headers
            .iter()
            .find(|(_, p)| p == path)
            .map(|(at, _)| *at)
    }

    /// The key (or table) written at `offset`, as messages name it: `endpoint.events`, with no indexes.
    pub(crate) fn key_at(&self, text: &str, offset: usize) -> String {
        self.path_at(text, offset)
            .split('.')
            .filter(|part| !part.bytes().all(|b| b.is_ascii_digit()))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The full path of the key (or table) written at `offset`: `endpoint.1.events`.
    pub(crate) fn path_at(&self, text: &str, offset: usize) -> String {
        let entry = self
            .entries
            .iter()
            .filter(|(_, r)| r.start <= offset && offset <= r.end)
            .max_by_key(|(_, r)| r.start)
            .map(|(p, _)| p.clone());
        let header = || {
            self.headers
                .iter()
                .filter(|(start, _)| *start <= offset)
                .max_by_key(|(start, _)| *start)
                .map(|(_, p)| p.clone())
        };
        entry
            .or_else(header)
            .or_else(|| header_before(text, offset))
            .unwrap_or_else(|| "(top level)".to_owned())
    }
}

/// For text that does not parse: the table header written last before `offset`.
fn header_before(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_end = text
        .get(offset..)
        .and_then(|tail| tail.find('\n'))
        .map_or(text.len(), |i| offset + i);
    text[..line_end]
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .map(|l| l.trim().trim_matches(['[', ']']).trim().to_owned())
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_key_of_a_multi_line_value() {
        let text = "[[endpoint]]\nurl = \"x\"\n\n[[endpoint]]\nevents = [\n  \"push\",\n  3,\n]\n";
        let index = Index::new(text);
        let offset = text.find('3').unwrap();
        assert_eq!(index.key_at(text, offset), "endpoint.events");
        assert_eq!(line_column(text, offset), (7, 3));
        let keys: Vec<(&str, usize)> = index.keys().collect();
        assert_eq!(keys[0], ("endpoint.0.url", 13));
        assert_eq!(keys[1].0, "endpoint.1.events");
        assert_eq!(index.key_at(text, 1), "endpoint");
    }

    #[test]
    fn text_that_does_not_parse_is_located_by_its_headers() {
        let text = "[server]\nbase_url = \"x\"\n[project\n";
        let index = Index::new(text);
        assert_eq!(index.key_at(text, text.len() - 1), "project");
    }
}
