//! Keeping secrets out of what a receiver answers: a receiver that echoes the request (a debugging
//! endpoint, an error page quoting the headers) must not put the endpoint's token, password or
//! secret URL into `remote:` lines, the log, the spool or the database. Every secret value a
//! request carries is replaced by `[REDACTED]` in the answer's text, as sent and in the forms an echo
//! takes (JSON-escaped, percent-encoded).

use crate::secret::REDACTED;

/// Values shorter than this are not treated as secrets to look for (they would match everywhere).
const SHORTEST: usize = 3;

/// The secret values to take out of a text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is replaced whole.
    needles: Vec<String>,
}

impl Redactor {
    /// A redactor for these secret values (and their escaped forms).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut needles = Vec::new();
        for s in secrets.into_iter().filter(|s| s.len() >= SHORTEST) {
            let json = serde_json::to_string(s).unwrap_or_default();
            let json = json.trim_matches('"').to_owned();
            let percent: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
            let percent_path =
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            for n in [s.to_owned(), json, percent, percent_path] {
                if n.len() >= SHORTEST && !needles.contains(&n) {
                    needles.push(n);
                }
            }
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Redactor { needles }
    }

    /// `text` with every secret value replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for n in &self.needles {
            if text.contains(n.as_str()) {
                text = text.replace(n.as_str(), REDACTED);
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_secret_goes() {
        let r = Redactor::new(["s3cr\"et/+&", "Basic dXNlcjpwYXNz", "ab"]);
        let echoed = r#"{"authorization":"Basic dXNlcjpwYXNz","token":"s3cr\"et/+&"} token=s3cr%22et%2F%2B%26 ab"#;
        let clean = r.redact(echoed);
        assert!(!clean.contains("dXNlcjpwYXNz"), "{clean}");
        assert!(!clean.contains("s3cr"), "{clean}");
        assert!(clean.contains(" ab"), "two letters are no secret: {clean}");
        assert_eq!(clean.matches(REDACTED).count(), 3, "{clean}");
    }
}
