//! The chat message: rendering a template over the [`Context`] of one ref's push with minijinja,
//! every value escaped for the vendor's markup.

use minijinja::Environment;

use super::markup::Markup;
pub use crate::format::variables::Context;

/// How much work one rendering may do (minijinja's instructions): a loop in a template is bounded.
const FUEL: u64 = 1_000_000;

/// An environment whose every printed value is escaped for `markup` (URLs the context made are
/// already safe), with bounded work per rendering.
fn environment(markup: Markup) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_keep_trailing_newline(false);
    env.set_formatter(move |out, _state, value| {
        if value.is_none() || value.is_undefined() {
            return Ok(());
        }
        let text = match value.as_str() {
            Some(s) if value.is_safe() => s.to_owned(),
            Some(s) => markup.escape(s),
            None => markup.escape(&value.to_string()),
        };
        out.write_str(&text).map_err(minijinja::Error::from)
    });
    env
}

/// Checks a template's syntax: the error names the line.
pub fn check(source: &str) -> Result<(), minijinja::Error> {
    environment(Markup::Markdown)
        .template_from_str(source)
        .map(|_| ())
}

/// Renders `source` over `context`, escaped for `markup`; blank lines at either end dropped.
pub fn render(source: &str, context: &Context, markup: Markup) -> Result<String, minijinja::Error> {
    let env = environment(markup);
    let text = env.template_from_str(source)?.render(context)?;
    Ok(text.trim_matches('\n').to_owned())
}
