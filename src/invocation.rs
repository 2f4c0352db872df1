//! How we were called: as a hook (by file name, `hooks/post-receive`, or by folder, `post-receive.d/`) or as a command.

use std::ffi::OsString;
use std::path::Path;

/// The hooks git-webhook can be installed as.
pub const HOOKS: [&str; 2] = ["post-receive", "update"];

/// The hook this program file stands for, if its name or its folder (`<hook>.d`) names one.
pub fn hook_name(argv0: &Path) -> Option<&'static str> {
    let name = argv0.file_name()?.to_str()?;
    let folder = argv0
        .parent()
        .and_then(Path::file_name)
        .and_then(|f| f.to_str())
        .and_then(|f| f.strip_suffix(".d"));
    HOOKS.into_iter().find(|h| *h == name || Some(*h) == folder)
}

/// The argument list for the command-line parser: a hook call `post-receive ARGS` becomes
/// `git-webhook post-receive ARGS`; other calls are left as they are. Also says whether it is a hook call.
pub fn normalize(argv: Vec<OsString>) -> (Vec<OsString>, bool) {
    let Some(argv0) = argv.first() else {
        return (vec![OsString::from("git-webhook")], false);
    };
    match hook_name(Path::new(argv0)) {
        Some(hook) => {
            let mut args = vec![OsString::from("git-webhook"), OsString::from(hook)];
            args.extend(argv.into_iter().skip(1));
            (args, true)
        }
        None => {
            let explicit_hook = argv
                .get(1)
                .and_then(|a| a.to_str())
                .is_some_and(|a| HOOKS.contains(&a));
            (argv, explicit_hook)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn by_file_name_and_by_folder() {
        assert_eq!(
            hook_name(Path::new("hooks/post-receive")),
            Some("post-receive")
        );
        assert_eq!(
            hook_name(Path::new("/srv/git/a.git/hooks/update")),
            Some("update")
        );
        assert_eq!(
            hook_name(Path::new("custom_hooks/post-receive.d/50-webhook")),
            Some("post-receive")
        );
        assert_eq!(
            hook_name(Path::new("hooks/update.d/webhook")),
            Some("update")
        );
        assert_eq!(hook_name(Path::new("/usr/local/bin/git-webhook")), None);
        assert_eq!(hook_name(Path::new("hooks/pre-receive")), None);
        assert_eq!(hook_name(Path::new("post-receive.sample")), None);
    }

    #[test]
    fn hook_calls_become_subcommands_and_argv0_is_not_an_argument() {
        let (a, hook) = normalize(args(&["hooks/update", "refs/heads/main", "1", "2"]));
        assert_eq!(
            a,
            args(&["git-webhook", "update", "refs/heads/main", "1", "2"])
        );
        assert!(hook);
        let (a, hook) = normalize(args(&["hooks/post-receive"]));
        assert_eq!(a, args(&["git-webhook", "post-receive"]));
        assert!(hook);
        let (a, hook) = normalize(args(&["git-webhook", "post-receive"]));
        assert_eq!(a, args(&["git-webhook", "post-receive"]));
        assert!(hook);
        let (a, hook) = normalize(args(&["git-webhook", "demo"]));
        assert_eq!(a, args(&["git-webhook", "demo"]));
        assert!(!hook);
        assert_eq!(normalize(Vec::new()).0, args(&["git-webhook"]));
    }
}
