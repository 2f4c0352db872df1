//! The markups chat vendors read: how a value is escaped so that text from a push (commit messages,
//! branch names, author names) shows as written and never becomes a link, a mention or formatting,
//! how a URL goes into a link, and how a message is cut to a size without breaking its markup.

/// A vendor's message markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    /// Slack's mrkdwn (also what Mattermost and Rocket.Chat read): `<url|text>`, `*bold*`.
    Mrkdwn,
    /// Markdown with backslash escapes (Discord, Teams, DingTalk, WeCom): `[text](url)`, `**bold**`.
    Markdown,
    /// Feishu/Lark card Markdown: special characters as HTML entities.
    LarkMarkdown,
    /// Telegram's HTML parse mode: `<a href="url">text</a>`, `<b>bold</b>`.
    Html,
}

/// Characters that make Markdown links, HTML, code or emphasis anywhere in a line (`#`, `-`, `+`
/// and `1.` only mean something at a line's start, where no value is put).
const MARKDOWN_SPECIALS: &str = "\\`*_[]()<>|~";

/// A word joiner: put after `@`, it keeps `@everyone`, `@all` or `@channel` from mentioning anyone;
/// after the `:` of `://` and the dots of a host name, it keeps `http://evil.example` or
/// `www.evil.example` from becoming a link.
const WORD_JOINER: char = '\u{2060}';

/// Bidirectional embedding, override and isolate controls, which reorder what a reader sees.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` as plain text that shows as written: bidirectional controls and carriage returns dropped,
/// a word joiner after `@`, after the `:` of `://` and after a dot between a letter or digit and a
/// letter (where a host name's next label starts: `1.0` stays as it is), so no chat makes a mention
/// or a link of it. Markup characters are left as they are.
pub fn plain(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if c == '\r' || is_bidi_control(c) {
            continue;
        }
        out.push(c);
        let next = chars.get(i + 1).copied();
        let joined = match c {
            '@' => true,
            ':' => next == Some('/') && chars.get(i + 2) == Some(&'/'),
            '.' => {
                let before = i.checked_sub(1).and_then(|p| chars.get(p));
                before.is_some_and(|b| b.is_alphanumeric()) && next.is_some_and(char::is_alphabetic)
            }
            _ => false,
        };
        if joined {
            out.push(WORD_JOINER);
        }
    }
    out
}

impl Markup {
    /// Which built-in template writes this markup.
    pub fn template(self) -> &'static str {
        match self {
            Markup::Mrkdwn => include_str!("templates/mrkdwn.j2"),
            Markup::Markdown | Markup::LarkMarkdown => include_str!("templates/markdown.j2"),
            Markup::Html => include_str!("templates/html.j2"),
        }
    }

    /// `text` as it must be written to show as itself, never a mention or a link (see `plain`).
    pub fn escape(self, text: &str) -> String {
        let text = plain(text);
        let mut out = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            match (self, c) {
                (Markup::Mrkdwn | Markup::Html, '&') => out.push_str("&amp;"),
                (Markup::Mrkdwn | Markup::Html, '<') => out.push_str("&lt;"),
                (Markup::Mrkdwn | Markup::Html, '>') => out.push_str("&gt;"),
                // mrkdwn has no escape for its formatting characters: a word joiner stops them (and
                // `](`, a link to Mattermost, which reads the same messages as Markdown).
                (Markup::Mrkdwn, '*' | '_' | '~' | '`' | ']') => {
                    out.push(c);
                    out.push(WORD_JOINER);
                }
                (Markup::Markdown, c) if MARKDOWN_SPECIALS.contains(c) => {
                    out.push('\\');
                    out.push(c);
                }
                (Markup::LarkMarkdown, c) if MARKDOWN_SPECIALS.contains(c) || c == '&' => {
                    out.push_str(&format!("&#{};", u32::from(c)));
                }
                _ => out.push(c),
            }
        }
        out
    }

    /// A URL as it goes into a link of this markup: characters that would end the link are
    /// percent-encoded (and `&` written as an entity where the markup needs it).
    pub fn url(self, url: &str) -> String {
        let mut out = String::with_capacity(url.len());
        for c in url.chars() {
            match c {
                ' ' | '"' | '<' | '>' | '|' | '(' | ')' | '[' | ']' | '`' | '\\' | '^' | '{'
                | '}' => out.push_str(&format!("%{:02X}", u32::from(c))),
                '&' if self == Markup::Html => out.push_str("&amp;"),
                c if c.is_control() => {}
                c => out.push(c),
            }
        }
        out
    }

    /// `text` cut to fit `fits`: whole lines while they fit, then a line saying the message was cut;
    /// a first line too long by itself is cut where no link, tag or entity is left open.
    pub fn cut(self, text: &str, fits: &dyn Fn(&str) -> bool) -> String {
        if fits(text) {
            return text.to_owned();
        }
        const MARK: &str = "…";
        let mut kept = String::new();
        for line in text.lines() {
            let candidate = if kept.is_empty() {
                line.to_owned()
            } else {
                format!("{kept}\n{line}")
            };
            if !fits(&format!("{candidate}\n{MARK}")) {
                break;
            }
            kept = candidate;
        }
        if !kept.is_empty() {
            return format!("{kept}\n{MARK}");
        }
        // Not even the first line fits: cut it by characters, then close what the cut left open.
        let first = text.lines().next().unwrap_or_default();
        let chars: Vec<char> = first.chars().collect();
        let (mut lo, mut hi) = (0, chars.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let s: String = chars[..mid].iter().collect();
            if fits(&format!("{}{MARK}", self.close(&s))) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let s: String = chars[..lo].iter().collect();
        format!("{}{MARK}", self.close(&s))
    }

    /// A cut line made whole: an unfinished tag, entity or link dropped, open tags closed.
    fn close(self, line: &str) -> String {
        let mut s = line.to_owned();
        let unfinished =
            |s: &str, open: char, close: char| s.rfind(open).filter(|&i| !s[i..].contains(close));
        if let Some(i) = unfinished(&s, '&', ';') {
            s.truncate(i);
        }
        match self {
            Markup::Html => {
                if let Some(i) = unfinished(&s, '<', '>') {
                    s.truncate(i);
                }
                // Close the tags still open, innermost first.
                let mut open: Vec<String> = Vec::new();
                for tag in s.split('<').skip(1) {
                    let name: String = tag
                        .trim_start_matches('/')
                        .chars()
                        .take_while(char::is_ascii_alphanumeric)
                        .collect();
                    if tag.starts_with('/') {
                        if let Some(p) = open.iter().rposition(|t| *t == name) {
                            open.truncate(p);
                        }
                    } else {
                        open.push(name);
                    }
                }
                for name in open.iter().rev() {
                    s.push_str(&format!("</{name}>"));
                }
            }
            Markup::Mrkdwn => {
                if let Some(i) = unfinished(&s, '<', '>') {
                    s.truncate(i);
                }
            }
            Markup::Markdown | Markup::LarkMarkdown => {
                // A link whose text or target the cut left open is dropped from its `[`.
                let unescaped = |i: usize| i == 0 || s.as_bytes()[i - 1] != b'\\';
                if let Some(i) = s.rfind('[').filter(|&i| unescaped(i)) {
                    let rest = &s[i..];
                    if !(rest.contains("](") && rest.contains(')')) {
                        s.truncate(i);
                    }
                }
                for mark in ["**", "`"] {
                    if s.matches(mark).count() % 2 == 1 {
                        s.push_str(mark);
                    }
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_mentions() {
        let hostile = "<@U1> @everyone [x](http://evil) *b* <a href=\"e\">&amp;";
        assert_eq!(
            Markup::Mrkdwn.escape(hostile),
            "&lt;@\u{2060}U1&gt; @\u{2060}everyone [x]\u{2060}(http:\u{2060}//evil) *\u{2060}b*\u{2060} &lt;a href=\"e\"&gt;&amp;amp;"
        );
        assert_eq!(
            Markup::Markdown.escape("[x](http://evil) **b** @all"),
            "\\[x\\]\\(http:\u{2060}//evil\\) \\*\\*b\\*\\* @\u{2060}all"
        );
        assert_eq!(
            Markup::Html.escape("<b>x</b> & @here"),
            "&lt;b&gt;x&lt;/b&gt; &amp; @\u{2060}here"
        );
        assert_eq!(
            Markup::LarkMarkdown.escape("<at id=all></at> *x*"),
            "&#60;at id=all&#62;&#60;/at&#62; &#42;x&#42;"
        );
        assert_eq!(
            Markup::Mrkdwn.url("https://x/a b|c>d"),
            "https://x/a%20b%7Cc%3Ed"
        );
        assert_eq!(
            Markup::Html.url("https://x/?a=1&b=\"2\""),
            "https://x/?a=1&amp;b=%222%22"
        );
    }

    #[test]
    fn bare_urls_hosts_and_bidi_controls_are_defused() {
        const J: char = '\u{2060}';
        assert_eq!(
            plain("see http://evil.example/x or www.evil.example, v1.2 ends."),
            format!("see http:{J}//evil.{J}example/x or www.{J}evil.{J}example, v1.2 ends.")
        );
        assert_eq!(
            plain("a\u{202E}txt.exe\u{2066}b\u{2069}\r"),
            format!("atxt.{J}exeb")
        );
        assert_eq!(plain("@all"), format!("@{J}all"));
        for markup in [
            Markup::Mrkdwn,
            Markup::Markdown,
            Markup::LarkMarkdown,
            Markup::Html,
        ] {
            let shown = markup.escape("http://evil.example \u{202E}x");
            assert!(
                !shown.contains("http://") && !shown.contains("evil.example"),
                "{shown}"
            );
            assert!(!shown.contains('\u{202E}'), "{markup:?}");
        }
    }

    #[test]
    fn cuts_at_lines_and_keeps_markup_whole() {
        let fits = |n: usize| move |s: &str| s.chars().count() <= n;
        let text = "first line\nsecond line\nthird line";
        assert_eq!(Markup::Html.cut(text, &fits(100)), text);
        assert_eq!(
            Markup::Html.cut(text, &fits(25)),
            "first line\nsecond line\n…"
        );
        let long = "<b>alice</b> pushed <a href=\"https://x/c/1\">a very long title</a>";
        let cut = Markup::Html.cut(long, &fits(40));
        assert!(cut.chars().count() <= 40, "{cut}");
        assert_eq!(cut, "<b>alice</b> pushed …");
        let cut = Markup::Html.cut("<b>alice and a long name</b>", &fits(12));
        assert_eq!(cut, "<b>alic</b>…");
        let cut = Markup::Markdown.cut("**alice** pushed [abc](https://x/c/1) title", &fits(30));
        assert_eq!(cut, "**alice** pushed …");
        let cut = Markup::Html.cut("a &amp; b", &fits(4));
        assert_eq!(cut, "a …");
    }
}
