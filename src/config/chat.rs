//! An endpoint's keys for people's messages and pacing: the chat message template, the chat, the
//! rate limit, `skip_empty` and `one_message`, checked into [`Chat`] (and the format's [`Options`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use toml::Spanned;

use super::schema::RawEndpoint;
use super::Located;
use crate::format::chat::{describe, message, Markup, Template};
use crate::format::{Format, Options, Rate};

/// What an endpoint says about its messages and their pace. Serializes as the file's keys.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Chat {
    /// What the format reads of them.
    #[serde(skip)]
    pub options: Options,
    /// The inline template, as written (templates hold no secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    /// The pace the deliverer keeps to; `None`: as fast as it can.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<Rate>,
    pub skip_empty: bool,
    pub one_message: bool,
}

/// `20/min`, `1/s`, `5/10s`: a count per unit (`s`, `sec`, `min`, `h`, or a duration).
pub fn parse_rate(text: &str) -> Result<Rate, String> {
    let bad = || format!("rate_limit {text:?} is not like \"20/min\", \"1/s\" or \"off\"");
    let (count, per) = text.split_once('/').ok_or_else(bad)?;
    let count: u32 = count
        .trim()
        .parse()
        .ok()
        .filter(|&c| c > 0)
        .ok_or_else(bad)?;
    let per = match per.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        other => humantime::parse_duration(other).map_err(|_| bad())?,
    };
    if per.is_zero() {
        return Err(bad());
    }
    Ok(Rate { count, per })
}

/// The template's source, checked: its syntax, then one rendering over a sample push (an unknown
/// filter or a bad operation shows only then). Errors name the template's line.
fn template(source: String, origin: String) -> Result<Template, String> {
    let tried = message::check(&source).and_then(|()| {
        message::Context::samples()
            .iter()
            .try_for_each(|c| message::render(&source, c, Markup::Markdown).map(|_| ()))
    });
    tried.map_err(|e| format!("{origin}: {}", describe(&e)))?;
    Ok(Template { origin, source })
}

/// Checks the keys; `format` says which it reads (whether they are all it needs is checked once
/// every key is read).
pub(crate) fn check(
    raw: &RawEndpoint,
    format: &dyn Format,
    at_table: usize,
) -> Result<Chat, Located> {
    let reads = |key: &str, at: usize| super::dialect::reads(format, key, at);
    let spanned =
        |s: &Option<Spanned<String>>, key: &str| -> Result<Option<(String, usize)>, Located> {
            s.as_ref()
                .map(|v| reads(key, v.span().start).map(|()| (v.get_ref().clone(), v.span().start)))
                .transpose()
        };
    if raw.one_message == Some(true) {
        reads("one_message", at_table)?;
    }
    let inline = spanned(&raw.template, "template")?;
    let file = raw
        .template_file
        .as_ref()
        .map(|f| reads("template_file", f.span().start).map(|()| f))
        .transpose()?;
    let template = match (&inline, file) {
        (Some(_), Some(f)) => {
            return Err((
                f.span().start,
                "give template or template_file, not both".to_owned(),
            ))
        }
        (Some((source, at)), None) => {
            Some(template(source.clone(), "template".to_owned()).map_err(|m| (*at, m))?)
        }
        (None, Some(f)) => {
            let path = f.get_ref();
            let at = f.span().start;
            let source = std::fs::read_to_string(path).map_err(|e| {
                (
                    at,
                    format!("cannot read template_file {}: {e}", path.display()),
                )
            })?;
            Some(
                template(source, format!("template_file {}", path.display()))
                    .map_err(|m| (at, m))?,
            )
        }
        (None, None) => None,
    };
    let chat_id = spanned(&raw.chat_id, "chat_id")?.map(|(id, _)| id);
    let options = Options {
        template,
        chat_id: chat_id.clone(),
        ..Options::default()
    };
    let rate_limit = match &raw.rate_limit {
        None => format.rate_limit(),
        Some(r) if r.get_ref().trim() == "off" => None,
        Some(r) => Some(parse_rate(r.get_ref()).map_err(|m| (r.span().start, m))?),
    };
    Ok(Chat {
        options,
        template: inline.map(|(t, _)| t),
        template_file: raw.template_file.as_ref().map(|f| f.get_ref().clone()),
        chat_id,
        rate_limit,
        skip_empty: raw.skip_empty.unwrap_or(false),
        one_message: raw.one_message.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        let r = |s: &str| parse_rate(s).map(|r| (r.count, r.per.as_secs()));
        assert_eq!(r("20/min"), Ok((20, 60)));
        assert_eq!(r("1/s"), Ok((1, 1)));
        assert_eq!(r(" 5 / 10s"), Ok((5, 10)));
        assert_eq!(r("100/hour"), Ok((100, 3600)));
        for bad in ["0/min", "fast", "20/", "20/0s", "-1/s"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
