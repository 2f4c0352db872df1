//! Rendering a `custom` request's templates over one event: the chat templates' engine and
//! variables, plus `event` (the neutral event), each printed value written as its place needs it —
//! JSON in a JSON body (strings quoted, so no value can break out of it), percent-encoded in a form
//! body, as it is in a query parameter (the URL encodes it) or any other body.

use minijinja::{context, Environment, Value};

use super::Request;
use crate::format::neutral;
use crate::format::variables::Context;
use crate::model::PushEvent;

/// How much work one rendering may do (minijinja's instructions): a loop in a template is bounded.
const FUEL: u64 = 1_000_000;

/// How a printed value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    Json,
    Form,
    Raw,
}

impl Escape {
    /// The escaping a body of this content type needs.
    fn of_body(content_type: Option<&str>) -> Escape {
        match content_type.map(str::to_ascii_lowercase) {
            Some(t) if t.contains("json") => Escape::Json,
            Some(t) if t.contains("x-www-form-urlencoded") => Escape::Form,
            _ => Escape::Raw,
        }
    }
}

fn environment(escape: Escape) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_keep_trailing_newline(false);
    env.set_formatter(move |out, _state, value| {
        let text = match escape {
            Escape::Json if value.is_undefined() => "null".to_owned(),
            Escape::Json => serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()),
            _ if value.is_none() || value.is_undefined() => String::new(),
            Escape::Form => {
                let plain = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                url::form_urlencoded::byte_serialize(plain.as_bytes()).collect()
            }
            Escape::Raw => value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned),
        };
        out.write_str(&text).map_err(minijinja::Error::from)
    });
    env
}

/// Renders one template over `vars`.
fn render(source: &str, escape: Escape, vars: &Value) -> Result<String, minijinja::Error> {
    let env = environment(escape);
    let text = env.template_from_str(source)?.render(vars)?;
    Ok(text.trim_matches('\n').to_owned())
}

/// Every template of `request` rendered over `vars`; the first error, if any, with the key it is in.
fn rendered(request: &Request, vars: &Value) -> (Request, Option<(String, minijinja::Error)>) {
    let mut first = None;
    let mut note = |key: String, e: minijinja::Error| {
        first.get_or_insert((key, e));
        String::new()
    };
    let query = request
        .query
        .iter()
        .map(|(k, t)| {
            let v = render(t, Escape::Raw, vars).unwrap_or_else(|e| note(format!("query.{k}"), e));
            (k.clone(), v)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let escape = Escape::of_body(request.content_type.as_deref());
    let body = request
        .body
        .as_ref()
        .map(|t| render(t, escape, vars).unwrap_or_else(|e| note("body".to_owned(), e)));
    let request = Request {
        query,
        body,
        ..request.clone()
    };
    (request, first)
}

/// The variables of one event: those of the chat templates, URLs as they are, and `event`.
fn variables(e: &PushEvent) -> Value {
    let ctx = Context::of(e, &|url| Value::from(url));
    context! { event => Value::from_serialize(neutral::event(e)), ..Value::from_serialize(&ctx) }
}

/// The request for one event. A template that fails at push time renders as nothing (a query
/// parameter is then left out); `config check` tries every template first.
pub fn request(request: &Request, e: &PushEvent) -> Request {
    rendered(request, &variables(e)).0
}

/// Tries every template of `request` on the sample pushes: the error names the key and the line.
pub fn check(request: &Request) -> Result<(), String> {
    for sample in Context::samples() {
        let vars = context! { event => Value::from(()), ..Value::from_serialize(&sample) };
        if let (_, Some((key, e))) = rendered(request, &vars) {
            return Err(format!("{key}: {}", crate::format::chat::describe(&e)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Value {
        let [branch, _] = Context::samples();
        context! { event => Value::from(()), ..Value::from_serialize(&branch) }
    }

    #[test]
    fn values_are_written_as_their_place_needs() {
        let v = vars();
        let json = r#"{"ref": {{ ref.full }}, "n": {{ total_commits }}, "x": {{ nothing }}}"#;
        assert_eq!(
            render(json, Escape::Json, &v).expect("json"),
            r#"{"ref": "refs/heads/main", "n": 2, "x": null}"#
        );
        assert_eq!(
            render("a={{ commits[0].title }}&b={{ nothing }}", Escape::Form, &v).expect("form"),
            "a=Second+change&b="
        );
        assert_eq!(
            render("{{ project.clone_url }}", Escape::Raw, &v).expect("raw"),
            "https://git.example.com/acme/demo.git"
        );
    }

    #[test]
    fn a_bad_template_is_named_by_its_key() {
        let request = Request {
            query: vec![("x".to_owned(), "{{ ref.name | nosuchfilter }}".to_owned())],
            ..Request::default()
        };
        let err = check(&request).expect_err("bad filter");
        assert!(err.starts_with("query.x: line 1: "), "{err}");
        assert!(err.contains("nosuchfilter"), "{err}");
    }
}
