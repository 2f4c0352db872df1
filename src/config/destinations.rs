//! `[server] allow_destinations` and `deny_destinations`: where requests may go. A repository's own
//! configuration can be set by people who are not the server's admin, so only the server-wide file
//! sets these, and link-local and cloud metadata addresses are refused unless it allows them.

use std::net::IpAddr;

use ipnet::IpNet;

/// One entry as written: an address range, a host, every host below a domain, or a named set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Rule {
    written: String,
    what: What,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum What {
    Nets(Vec<IpNet>),
    /// `ci.example.com`: that host only.
    Host(String),
    /// `*.example.com`: every host below `example.com` (the dot kept).
    Below(String),
}

/// The named sets an entry may give.
const SETS: &[(&str, &[&str])] = &[
    (
        "loopback",
        &["127.0.0.0/8", "::1/128", "0.0.0.0/8", "::/128"],
    ),
    (
        "private",
        &[
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "fc00::/7",
        ],
    ),
    ("link-local", &["169.254.0.0/16", "fe80::/10"]),
    (
        "metadata",
        &[
            "169.254.169.254/32",
            "fd00:ec2::254/128",
            "100.100.100.200/32",
        ],
    ),
];

/// What is refused when neither list names it.
const REFUSED_BY_DEFAULT: &[&str] = &["link-local", "metadata"];

/// The ranges of [`REFUSED_BY_DEFAULT`], parsed once (every request is checked).
fn refused_by_default() -> &'static [IpNet] {
    static NETS: std::sync::OnceLock<Vec<IpNet>> = std::sync::OnceLock::new();
    NETS.get_or_init(|| {
        REFUSED_BY_DEFAULT
            .iter()
            .filter_map(|s| nets(s))
            .flatten()
            .collect()
    })
}

fn nets(set: &str) -> Option<Vec<IpNet>> {
    SETS.iter().find(|(name, _)| *name == set).map(|(_, nets)| {
        nets.iter()
            .map(|n| n.parse().expect("a valid range"))
            .collect()
    })
}

impl Rule {
    fn parse(entry: &str) -> Result<Rule, String> {
        let text = entry.trim().to_ascii_lowercase();
        let what = if let Some(nets) = nets(&text) {
            What::Nets(nets)
        } else if let Ok(net) = text.parse::<IpNet>() {
            What::Nets(vec![net])
        } else if let Ok(ip) = text.parse::<IpAddr>() {
            What::Nets(vec![IpNet::from(ip)])
        } else if let Some(domain) = text.strip_prefix("*.").filter(|d| host_like(d)) {
            What::Below(format!(".{domain}"))
        } else if host_like(&text) {
            What::Host(text)
        } else {
            return Err(format!(
                "{entry:?} is not an address range (10.0.0.0/8, fd00::/8), an address, a host \
                 (ci.example.com, *.example.com) or one of {}",
                SETS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ));
        };
        Ok(Rule {
            written: entry.trim().to_owned(),
            what,
        })
    }

    fn matches(&self, host: Option<&str>, ip: Option<IpAddr>) -> bool {
        let host = host.map(|h| h.trim_end_matches('.').to_ascii_lowercase());
        match (&self.what, host, ip) {
            (What::Nets(nets), _, Some(ip)) => nets.iter().any(|n| n.contains(&ip)),
            (What::Host(name), Some(h), _) => *name == h,
            (What::Below(suffix), Some(h), _) => h.ends_with(suffix.as_str()),
            _ => false,
        }
    }
}

fn host_like(text: &str) -> bool {
    !text.is_empty()
        && text.contains(|c: char| c.is_ascii_alphabetic())
        && text
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// Why a destination is refused: one line, naming the setting that refuses it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("destination refused: {0}")]
pub struct Refusal(String);

/// The server's destination policy, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Destinations {
    /// `None`: every destination not refused; else only those it names.
    allow: Option<Vec<Rule>>,
    deny: Vec<Rule>,
}

impl Destinations {
    /// Checks the two lists (`None` when not given); an error names the list it is in.
    pub fn new(
        allow: Option<&[String]>,
        deny: Option<&[String]>,
    ) -> Result<Destinations, (&'static str, String)> {
        let rules = |key| {
            move |list: &[String]| {
                list.iter()
                    .map(|e| Rule::parse(e).map_err(|m| (key, m)))
                    .collect()
            }
        };
        Ok(Destinations {
            allow: allow.map(rules("allow_destinations")).transpose()?,
            deny: deny
                .map(rules("deny_destinations"))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// Whether `host` (a name, before it is resolved) is refused by name.
    pub fn check_host(&self, host: &str) -> Result<(), Refusal> {
        match self.deny.iter().find(|r| r.matches(Some(host), None)) {
            Some(rule) => Err(refused_by(host, rule)),
            None => Ok(()),
        }
    }

    /// Whether a request may go to `ip` (that `host` resolved to, if it was a name).
    pub fn check(&self, host: Option<&str>, ip: IpAddr) -> Result<(), Refusal> {
        let ip = ip.to_canonical();
        let shown = match host {
            Some(h) => format!("{h} ({ip})"),
            None => ip.to_string(),
        };
        if let Some(rule) = self.deny.iter().find(|r| r.matches(host, Some(ip))) {
            return Err(refused_by(&shown, rule));
        }
        match &self.allow {
            Some(allow) if allow.iter().any(|r| r.matches(host, Some(ip))) => Ok(()),
            Some(_) => Err(Refusal(format!(
                "{shown} is not in [server] allow_destinations"
            ))),
            None if refused_by_default().iter().any(|n| n.contains(&ip)) =>
            {
                Err(Refusal(format!(
                    "{shown} is a link-local or cloud metadata address, refused unless [server] allow_destinations names it"
                )))
            }
            None => Ok(()),
        }
    }
}

fn refused_by(shown: &str, rule: &Rule) -> Refusal {
    Refusal(format!(
        "{shown} is in [server] deny_destinations ({:?})",
        rule.written
    ))
}

#[cfg(test)]
mod tests {
    use super::Destinations;

    fn policy(allow: Option<&[&str]>, deny: &[&str]) -> Destinations {
        let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Destinations::new(allow.map(owned).as_deref(), Some(&owned(deny))).expect("valid")
    }

    #[test]
    fn the_default_refuses_link_local_and_metadata_only() {
        let p = Destinations::default();
        for refused in [
            "169.254.169.254",
            "169.254.1.1",
            "fe80::1",
            "fd00:ec2::254",
            "100.100.100.200",
            "::ffff:169.254.169.254",
        ] {
            let e = p
                .check(None, refused.parse().unwrap())
                .unwrap_err()
                .to_string();
            assert!(e.contains("link-local or cloud metadata"), "{refused}: {e}");
        }
        for allowed in ["127.0.0.1", "10.1.2.3", "192.168.0.1", "8.8.8.8", "::1"] {
            assert_eq!(p.check(None, allowed.parse().unwrap()), Ok(()), "{allowed}");
        }
    }

    #[test]
    fn deny_wins_and_an_allow_list_is_all_that_is_allowed() {
        let p = policy(None, &["loopback", "*.internal.example.com", "10.0.0.0/8"]);
        let e = p.check(None, "127.0.0.2".parse().unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "destination refused: 127.0.0.2 is in [server] deny_destinations (\"loopback\")"
        );
        assert!(
            p.check(None, "0.0.0.0".parse().unwrap()).is_err(),
            "0.0.0.0 reaches loopback"
        );
        assert!(p.check_host("ci.Internal.example.com.").is_err());
        assert!(p.check_host("internal.example.com").is_ok());
        assert!(p
            .check(Some("ci.example.com"), "10.9.9.9".parse().unwrap())
            .is_err());
        let p = policy(
            Some(&["ci.example.com", "192.168.0.0/16", "169.254.10.10"]),
            &["192.168.7.0/24"],
        );
        assert_eq!(
            p.check(Some("ci.example.com"), "10.0.0.1".parse().unwrap()),
            Ok(())
        );
        assert_eq!(p.check(None, "192.168.1.1".parse().unwrap()), Ok(()));
        assert_eq!(
            p.check(None, "169.254.10.10".parse().unwrap()),
            Ok(()),
            "allowed by name"
        );
        assert!(
            p.check(None, "192.168.7.1".parse().unwrap()).is_err(),
            "deny wins"
        );
        let e = p
            .check(Some("other.example.com"), "8.8.8.8".parse().unwrap())
            .unwrap_err();
        assert_eq!(e.to_string(), "destination refused: other.example.com (8.8.8.8) is not in [server] allow_destinations");
    }

    #[test]
    fn entries_that_are_nothing_are_refused() {
        for bad in ["10.0.0.0/33", "*", "http://x", "a..b", "1.2.3.4.5"] {
            let (key, e) = Destinations::new(None, Some(&[bad.to_owned()])).unwrap_err();
            assert_eq!(key, "deny_destinations");
            assert!(e.contains("is not an address range"), "{bad}: {e}");
        }
    }
}
