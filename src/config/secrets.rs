//! An endpoint's secrets: its secret (`secret`, `secret_file`, `secret_env`), the next one while it
//! is rotated (`secret_next`, `secret_next_file`, `secret_next_env`), and the Ed25519 key that signs
//! for receivers that verify with a public key (`signing_key_file`). None is ever shown.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use toml::Spanned;

use super::schema::RawEndpoint;
use super::Located;
use crate::format::SigningKey;
use crate::secret::Secret;

/// Where a secret comes from, as the configuration says it (never the secret itself): under the
/// keys `<key>`, `<key>_file` or `<key>_env`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Source {
    key: &'static str,
    from: From,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum From {
    /// Written in the file: shown as `[REDACTED]`.
    Inline(Secret),
    File(PathBuf),
    Env(String),
}

/// The values of `<key>`, `<key>_file` and `<key>_env`.
type Keys<'a> = (
    &'a Option<Spanned<Secret>>,
    &'a Option<Spanned<PathBuf>>,
    &'a Option<Spanned<String>>,
);

/// The secret under `key`, `key_file` or `key_env` (at most one of them), and where it came from.
fn one(
    key: &'static str,
    (inline, file, var): Keys<'_>,
    at_table: usize,
    env: &BTreeMap<String, String>,
) -> Result<Option<(Secret, Source)>, Located> {
    let source = |from| Source { key, from };
    match (inline, file, var) {
        (None, None, None) => Ok(None),
        (Some(s), None, None) => Ok(Some((
            s.get_ref().clone(),
            source(From::Inline(s.get_ref().clone())),
        ))),
        (None, Some(f), None) => match Secret::from_file(f.get_ref()) {
            Ok(secret) => Ok(Some((secret, source(From::File(f.get_ref().clone()))))),
            Err(e) => Err((
                f.span().start,
                format!("cannot read {key}_file {}: {e}", f.get_ref().display()),
            )),
        },
        (None, None, Some(v)) => match Secret::from_env(env, v.get_ref()) {
            Some(secret) => Ok(Some((secret, source(From::Env(v.get_ref().clone()))))),
            None => Err((
                v.span().start,
                format!("{key}_env names ${}, which is not set", v.get_ref()),
            )),
        },
        _ => Err((
            at_table,
            format!("give at most one of {key}, {key}_file and {key}_env"),
        )),
    }
}

/// An endpoint's secrets, checked. It serializes as the keys they came from, values redacted.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// The secret itself (from `secret`, `secret_file` or `secret_env`).
    pub secret: Option<Secret>,
    /// The next secret, while it is rotated in: requests carry a signature with each.
    pub next: Option<Secret>,
    /// The Ed25519 key of `signing_key_file`.
    pub signing_key: Option<SigningKey>,
    sources: Vec<Source>,
    signing_key_file: Option<PathBuf>,
}

impl Serialize for Secrets {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for source in &self.sources {
            match &source.from {
                From::Inline(secret) => map.serialize_entry(source.key, secret)?,
                From::File(path) => map.serialize_entry(&format!("{}_file", source.key), path)?,
                From::Env(name) => map.serialize_entry(&format!("{}_env", source.key), name)?,
            }
        }
        if let Some(path) = &self.signing_key_file {
            map.serialize_entry("signing_key_file", path)?;
        }
        map.end()
    }
}

/// Reads them for `format`: `secret_next` only where it sends several signatures (else how to
/// rotate instead), `signing_key_file` only where it signs with a key.
pub(super) fn check(
    raw: &RawEndpoint,
    format: &dyn crate::format::Format,
    at_table: usize,
    env: &BTreeMap<String, String>,
) -> Result<Secrets, Located> {
    let secret = one(
        "secret",
        (&raw.secret, &raw.secret_file, &raw.secret_env),
        at_table,
        env,
    )?;
    let next = one(
        "secret_next",
        (
            &raw.secret_next,
            &raw.secret_next_file,
            &raw.secret_next_env,
        ),
        at_table,
        env,
    )?;
    if next.is_some() && !format.signs_with_several() {
        return Err((
            at_table,
            format!(
                "format {:?} carries one secret, so secret_next cannot go with it: to rotate, have the receiver accept the new secret too, then change secret (docs/formats.md, \"Rotating a secret\")",
                format.id()
            ),
        ));
    }
    if next.is_some() && secret.is_none() {
        return Err((at_table, "secret_next goes with a secret".to_owned()));
    }
    let signing_key = match &raw.signing_key_file {
        None => None,
        Some(f) if !format.signs_with_key() => {
            return Err((
                f.span().start,
                format!(
                    "format {:?} does not sign with a key: signing_key_file goes with standard-webhooks",
                    format.id()
                ),
            ))
        }
        Some(f) => Some(SigningKey::from_file(f.get_ref()).map_err(|e| {
            (
                f.span().start,
                format!("signing_key_file {} {e}", f.get_ref().display()),
            )
        })?),
    };
    let (secret, secret_source) = secret.unzip();
    let (next, next_source) = next.unzip();
    Ok(Secrets {
        secret,
        next,
        signing_key,
        sources: secret_source.into_iter().chain(next_source).collect(),
        signing_key_file: raw.signing_key_file.as_ref().map(|f| f.get_ref().clone()),
    })
}
