//! `key new` and `key public`: the Ed25519 key standard-webhooks endpoints sign with
//! (`signing_key_file`), and the public key receivers verify with.

use std::io::Write;
use std::path::Path;

use super::Context;
use crate::error::CommandError;
use crate::format::SigningKey;

/// Writes a new key to `file` (mode 0600, refused when it exists) and prints its public key. The
/// seed comes from the operating system's random source, never from a test seed.
pub fn new(file: &Path, ctx: &mut Context<'_>) -> Result<(), CommandError> {
    use rand::RngCore as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = SigningKey::from_seed(seed);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .and_then(|mut f| {
            f.write_all(key.to_file_text().as_bytes())?;
            f.sync_all()
        });
    written.map_err(|e| {
        let error = CommandError::user(format!("cannot write {}: {e}", file.display()));
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            error.hint(format!(
                "a key is never overwritten: `git-webhook key public {}` prints the one there",
                file.display()
            ))
        } else {
            error
        }
    })?;
    let _ = writeln!(ctx.out, "{}", key.public());
    Ok(())
}

/// Prints the public key of the key in `file`.
pub fn public(file: &Path, ctx: &mut Context<'_>) -> Result<(), CommandError> {
    let key = SigningKey::from_file(file)
        .map_err(|e| CommandError::user(format!("{} {e}", file.display())))?;
    let _ = writeln!(ctx.out, "{}", key.public());
    Ok(())
}
