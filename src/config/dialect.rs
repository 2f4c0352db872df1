//! An endpoint's keys that only some formats read beyond chat messages (`cdevents_version`),
//! checked into the format's [`Options`].

use serde::Serialize;

use super::schema::RawEndpoint;
use super::Located;
use crate::format::{CdEventsVersion, Format, Options};

/// What an endpoint says to its format's dialect. Serializes as the file's keys.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dialect {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cdevents_version: Option<CdEventsVersion>,
}

/// `Ok` when `format` reads `key`; else the error says it has no such key.
pub(super) fn reads(format: &dyn Format, key: &str, at: usize) -> Result<(), Located> {
    if format.keys().contains(&key) {
        Ok(())
    } else {
        Err((at, format!("format {:?} has no {key}", format.id())))
    }
}

/// Checks the keys into `options`; `format` says which it reads.
pub(crate) fn check(
    raw: &RawEndpoint,
    format: &dyn Format,
    options: &mut Options,
) -> Result<Dialect, Located> {
    let mut dialect = Dialect::default();
    if let Some(v) = &raw.cdevents_version {
        let at = v.span().start;
        reads(format, "cdevents_version", at)?;
        let version = CdEventsVersion::parse(v.get_ref()).ok_or_else(|| {
            let known: Vec<String> = CdEventsVersion::ALL
                .iter()
                .map(|v| format!("{:?}", v.as_str()))
                .collect();
            (
                at,
                format!(
                    "unknown cdevents_version {:?}; known: {}",
                    v.get_ref(),
                    known.join(", ")
                ),
            )
        })?;
        options.cdevents_version = version;
        dialect.cdevents_version = Some(version);
    }
    Ok(dialect)
}
