//! Where a request may go, enforced where it connects: the URL's host is checked before anything is
//! sent, and a name is resolved here and only the addresses the policy allows are handed to the
//! connection, so nothing can change between the check and the connect (no DNS rebinding).

use std::net::ToSocketAddrs as _;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::{Destinations, Refusal};

/// Checks the host of `url` before a request is made: an address as it is, a name by the
/// `deny_destinations` hosts (its addresses are checked when it is resolved).
pub fn check_url(policy: &Destinations, url: &url::Url) -> Result<(), Refusal> {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => policy.check(None, ip.into()),
        Some(url::Host::Ipv6(ip)) => policy.check(None, ip.into()),
        Some(url::Host::Domain(name)) => policy.check_host(name),
        None => Ok(()),
    }
}

/// The resolver of every HTTP client: the system's (`getaddrinfo`, off the client's thread), with
/// the addresses the policy refuses taken out; when none is left, the refusal is the error.
pub struct Resolver(pub Arc<Destinations>);

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.0);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let lookup = host.clone();
            let found: Vec<std::net::SocketAddr> =
                tokio::task::spawn_blocking(move || (lookup.as_str(), 0).to_socket_addrs())
                    .await??
                    .collect();
            let mut refusal = None;
            let allowed: Vec<_> = found
                .into_iter()
                .filter(|a| match policy.check(Some(&host), a.ip()) {
                    Ok(()) => true,
                    Err(r) => {
                        refusal.get_or_insert(r);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refusal) {
                (true, Some(r)) => Err(Box::new(r) as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// The refusal somewhere in an error's causes, if the resolver refused the destination.
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(r) = e.downcast_ref::<Refusal>() {
            return Some(r.clone());
        }
        cause = e.source();
    }
    None
}
