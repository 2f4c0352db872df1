//! What the command line says of itself beyond `--help`: the manual pages (one per command, so that
//! every page the main one names exists), the formats listed from the registry, and completion
//! scripts (for `git-webhook ...` and `git webhook ...` alike).

use std::io::Write;
use std::path::Path;

use clap_mangen::Man;

use super::Context;
use crate::error::CommandError;
use crate::format::FORMATS;

/// The command line as the manual shows it: without clap's `help` command (the manual has no page
/// for it).
fn command() -> clap::Command {
    let mut cmd = crate::cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The formats, one paragraph each: the header naming the event, how the secret travels, and how
/// a receiver checks it; what `formats` prints.
pub fn formats_text() -> String {
    let mut text = String::new();
    for f in FORMATS {
        let d = f.docs();
        let secret = d.secret.replace('\n', " ");
        text.push_str(&format!(
            "{}\n  event:  {}\n  secret: {secret}\n  check:  {}\n",
            f.id(),
            d.event,
            d.check
        ));
    }
    text
}

/// Text as roff reads it literally: backslashes doubled, a leading `.` or `'` escaped.
fn roff(text: &str) -> String {
    let text = text.replace('\\', "\\e");
    match text.chars().next() {
        Some('.' | '\'') => format!("\\&{text}"),
        _ => text,
    }
}

/// The main page's FORMATS section, from the registry.
fn formats_section(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, ".SH FORMATS")?;
    for f in FORMATS {
        let d = f.docs();
        writeln!(out, ".TP\n\\fB{}\\fR", roff(f.id()))?;
        writeln!(out, "Event header: {}", roff(d.event))?;
        writeln!(out, ".br\nSecret: {}", roff(&d.secret.replace('\n', " ")))?;
        writeln!(out, ".br\nA receiver checks: {}", roff(d.check))?;
    }
    Ok(())
}

/// The main page: the commands, then the formats, then the environment and exit status.
fn main_page(cmd: &clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let man = Man::new(cmd.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    formats_section(out)?;
    man.render_extra_section(out)?;
    man.render_version_section(out)
}

/// Writes a command's page, and those of its commands, into `dir`.
fn pages(cmd: &clap::Command, dir: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        Man::new(sub.clone()).generate_to(dir)?;
        pages(sub, dir)?;
    }
    Ok(())
}

/// `git-webhook man [--dir DIR]`.
pub fn run(dir: Option<&Path>, ctx: &mut Context<'_>) -> Result<(), CommandError> {
    let cmd = command();
    let Some(dir) = dir else {
        return main_page(&cmd, ctx.out).map_err(CommandError::user);
    };
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let mut file = std::fs::File::create(dir.join("git-webhook.1"))?;
        main_page(&cmd, &mut file)?;
        pages(&cmd, dir)
    });
    written.map_err(|e| {
        CommandError::user(format!(
            "cannot write the manual into {}: {e}",
            dir.display()
        ))
    })
}

/// bash: git's completion asks `_git_webhook` for `git webhook ...`; it hands over to the
/// program's own, as if `git-webhook ...` were typed.
const BASH_GIT: &str = r#"
# `git webhook <TAB>`: git's completion calls _git_webhook; complete as `git-webhook` would.
_git_webhook() {
    local COMP_WORDS=("git-webhook" "${words[@]:2}")
    local COMP_CWORD=$((cword - 1))
    _git__webhook "git-webhook" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
}
"#;

/// `git-webhook completions SHELL`: the program's completion script; bash's also completes `git
/// webhook` (zsh's `_git-webhook` serves git's completion as it is).
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), "git-webhook", &mut script);
    if shell == clap_complete::Shell::Bash {
        // clap's generator names the commands' cases `git__subcmd__webhook__...` but looks them up
        // as `git__webhook__...` (a name with a dash): without this no command's options complete.
        let text =
            String::from_utf8_lossy(&script).replace("git__subcmd__webhook__", "git__webhook__");
        script = (text + BASH_GIT).into_bytes();
    }
    let _ = out.write_all(&script);
}
