//! An endpoint's keys that only some formats read beyond chat messages: `cdevents_version`, and a
//! `custom` format's request (`method`, `query`, `body`, where the secret goes), checked into the
//! format's [`Options`].

use std::collections::BTreeMap;

use serde::Serialize;
use toml::Spanned;

use super::schema::RawEndpoint;
use super::Located;
use crate::format::custom::{self, Request, Secrecy, Signature};
use crate::format::{CdEventsVersion, Format, Method, Options};

/// What an endpoint says to its format's dialect, with a `custom` format's defaults filled in.
/// Serializes as the file's keys.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dialect {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cdevents_version: Option<CdEventsVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<Method>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_query: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature_header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature_prefix: Option<String>,
}

/// `Ok` when `format` reads `key`; else the error says it has no such key.
pub(super) fn reads(format: &dyn Format, key: &str, at: usize) -> Result<(), Located> {
    if format.keys().contains(&key) {
        Ok(())
    } else {
        Err((at, format!("format {:?} has no {key}", format.id())))
    }
}

/// One of `names`, as written, or an error listing them.
fn one_of<T: Copy>(
    value: &Spanned<String>,
    key: &str,
    known: &[T],
    name: impl Fn(T) -> &'static str,
) -> Result<T, Located> {
    known
        .iter()
        .copied()
        .find(|k| name(*k).eq_ignore_ascii_case(value.get_ref()))
        .ok_or_else(|| {
            let names: Vec<String> = known.iter().map(|k| format!("{:?}", name(*k))).collect();
            (
                value.span().start,
                format!(
                    "unknown {key} {:?}; known: {}",
                    value.get_ref(),
                    names.join(", ")
                ),
            )
        })
}

/// Checks the keys into `options`; `format` says which it reads.
pub(crate) fn check(
    raw: &RawEndpoint,
    format: &dyn Format,
    options: &mut Options,
    at_table: usize,
) -> Result<Dialect, Located> {
    let mut dialect = Dialect::default();
    if let Some(v) = &raw.cdevents_version {
        reads(format, "cdevents_version", v.span().start)?;
        let version = one_of(v, "cdevents_version", &CdEventsVersion::ALL, |v| v.as_str())?;
        options.cdevents_version = version;
        dialect.cdevents_version = Some(version);
    }
    for (key, at) in custom_keys(raw) {
        reads(format, key, at)?;
    }
    if let Some(preset) = custom::of(format) {
        let request = request(raw, preset.defaults())?;
        custom::render::check(&request).map_err(|m| (at_table, m))?;
        let has_secret =
            raw.secret.is_some() || raw.secret_file.is_some() || raw.secret_env.is_some();
        if has_secret && request.secret == Secrecy::None {
            return Err((
                at_table,
                format!(
                    "format {:?} sends the secret nowhere: give secret_query, secret_header or signature_header",
                    format.id()
                ),
            ));
        }
        dialect = Dialect {
            cdevents_version: dialect.cdevents_version,
            ..shown(&request)
        };
        options.request = Some(request);
    }
    Ok(dialect)
}

/// The `custom` keys the endpoint gives, and where.
fn custom_keys(raw: &RawEndpoint) -> Vec<(&'static str, usize)> {
    let text = [
        ("method", &raw.method),
        ("body", &raw.body),
        ("content_type", &raw.content_type),
        ("secret_query", &raw.secret_query),
        ("secret_header", &raw.secret_header),
        ("secret_prefix", &raw.secret_prefix),
        ("signature_header", &raw.signature_header),
        ("signature", &raw.signature),
        ("signature_prefix", &raw.signature_prefix),
    ];
    let mut keys: Vec<(&'static str, usize)> = text
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.span().start)))
        .collect();
    if let Some(q) = &raw.query {
        keys.push(("query", q.span().start));
    }
    keys
}

/// Whether `name` can be an HTTP header's name (an RFC 9110 token).
fn header_name(name: &Spanned<String>, key: &str) -> Result<String, Located> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    let n = name.get_ref();
    if n.is_empty() || !n.bytes().all(tchar) {
        return Err((
            name.span().start,
            format!("{key} {n:?} is not a header name"),
        ));
    }
    Ok(n.clone())
}

/// The preset's request with the endpoint's own keys in place of its defaults.
fn request(raw: &RawEndpoint, mut r: Request) -> Result<Request, Located> {
    let text = |v: &Option<Spanned<String>>| v.as_ref().map(|v| v.get_ref().clone());
    if let Some(m) = &raw.method {
        r.method = one_of(
            m,
            "method",
            &[Method::Post, Method::Put, Method::Get],
            |m| m.as_str(),
        )?;
    }
    if let Some(q) = &raw.query {
        for (name, template) in q.get_ref() {
            match r.query.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = template.clone(),
                None => r.query.push((name.clone(), template.clone())),
            }
        }
    }
    r.body = text(&raw.body).or(r.body);
    r.content_type = text(&raw.content_type).or(r.content_type);
    let placements = [&raw.secret_query, &raw.secret_header, &raw.signature_header];
    if let [_, second, ..] = placements
        .iter()
        .filter_map(|p| p.as_ref())
        .collect::<Vec<_>>()[..]
    {
        return Err((
            second.span().start,
            "give one of secret_query, secret_header and signature_header".to_owned(),
        ));
    }
    if let Some(q) = &raw.secret_query {
        r.secret = Secrecy::Query(q.get_ref().clone());
    }
    if let Some(h) = &raw.secret_header {
        let name = header_name(h, "secret_header")?;
        r.secret = Secrecy::Header {
            name,
            prefix: String::new(),
        };
    }
    if let Some(h) = &raw.signature_header {
        let header = header_name(h, "signature_header")?;
        r.secret = Secrecy::Signature {
            header,
            signature: Signature::Sha256Hex,
            prefix: String::new(),
        };
    }
    adjust(raw, &mut r.secret)?;
    Ok(r)
}

/// `secret_prefix`, `signature` and `signature_prefix`, which shape the placement the endpoint or
/// its preset gives.
fn adjust(raw: &RawEndpoint, secret: &mut Secrecy) -> Result<(), Located> {
    let misplaced = |v: &Spanned<String>, key: &str, needs: &str| {
        (v.span().start, format!("{key} goes with {needs}"))
    };
    if let Some(p) = &raw.secret_prefix {
        match secret {
            Secrecy::Header { prefix, .. } => *prefix = p.get_ref().clone(),
            _ => return Err(misplaced(p, "secret_prefix", "secret_header")),
        }
    }
    if let Some(s) = &raw.signature {
        match secret {
            Secrecy::Signature { signature, .. } => {
                *signature = one_of(s, "signature", &Signature::ALL, Signature::as_str)?;
            }
            _ => return Err(misplaced(s, "signature", "signature_header")),
        }
    }
    if let Some(p) = &raw.signature_prefix {
        match secret {
            Secrecy::Signature { prefix, .. } => *prefix = p.get_ref().clone(),
            _ => return Err(misplaced(p, "signature_prefix", "signature_header")),
        }
    }
    Ok(())
}

/// The request as `config check` lists it, by the file's keys.
fn shown(r: &Request) -> Dialect {
    let mut d = Dialect {
        method: Some(r.method),
        query: (!r.query.is_empty()).then(|| r.query.iter().cloned().collect()),
        body: r.body.clone(),
        content_type: r.content_type.clone(),
        ..Dialect::default()
    };
    match &r.secret {
        Secrecy::None => {}
        Secrecy::Query(name) => d.secret_query = Some(name.clone()),
        Secrecy::Header { name, prefix } => {
            d.secret_header = Some(name.clone());
            d.secret_prefix = Some(prefix.clone());
        }
        Secrecy::Signature {
            header,
            signature,
            prefix,
        } => {
            d.signature_header = Some(header.clone());
            d.signature = Some(signature.as_str());
            d.signature_prefix = Some(prefix.clone());
        }
    }
    d
}
