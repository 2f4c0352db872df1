//! The `git-webhook` executable: hands its arguments, environment and streams to the library.

use std::process::ExitCode;

use git_webhook::env::HookEnv;
use git_webhook::invocation;

fn main() -> ExitCode {
    let argv = HookEnv::args();
    let as_hook = invocation::normalize(argv.clone()).1;
    // A bug must never fail a push: report it on one line and, as a hook, exit 0.
    std::panic::set_hook(Box::new(|info| {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("git-webhook: internal error, please report it: {info}\n").as_bytes(),
        );
    }));
    let env = HookEnv::from_process();
    let result = std::panic::catch_unwind(|| {
        git_webhook::run(
            argv,
            &env,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )
    });
    match result {
        Ok(code) => code,
        Err(_) if as_hook => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(255),
    }
}
