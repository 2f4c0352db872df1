//! The `git-webhook` executable: hands its arguments, environment and streams to the library.

use std::process::ExitCode;

use git_webhook::env::HookEnv;

fn main() -> ExitCode {
    // A bug must never fail a push: it is said on one line, and `run` ends it as an internal error
    // (as a hook, with exit status 0).
    std::panic::set_hook(Box::new(|info| {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("git-webhook: internal error, please report it: {info}\n").as_bytes(),
        );
    }));
    git_webhook::run(
        HookEnv::args(),
        &HookEnv::from_process(),
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}
