//! Requests to addresses someone else chose: an app's back-channel logout URI (and, later, its key set). Such an
//! address could point Gatehouse at its own network — a database's admin port, a cloud's metadata service at
//! 169.254.169.254 — so every request here goes only to public addresses: the host's every address is checked
//! when it is resolved (a name that resolves to one private address is refused outright, and the connection is made
//! to the addresses checked, so a second lookup cannot answer differently), and an IP address in the URL is checked
//! before anything is sent. Redirects are never followed; connecting and answering each have a short deadline.
//!
//! Private addresses are allowed by `OUTBOUND_PRIVATE_ADDRESSES=allow` (apps on the same private network), and
//! loopback ones while `APP_URL` is itself on loopback: a developer's apps run on their own machine.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a whole request may take, answer included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Which addresses requests may go to, besides public ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    /// Private, link-local and other non-public addresses (`OUTBOUND_PRIVATE_ADDRESSES=allow`).
    pub private: bool,
    /// This machine's loopback addresses (development: `APP_URL` on loopback).
    pub loopback: bool,
}

impl Reach {
    /// Whether a request may go to `ip`.
    pub fn allows(self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if ip.is_loopback() {
            return self.loopback || self.private;
        }
        is_public(ip) || self.private
    }
}

/// The HTTP client for requests to addresses someone else chose.
#[derive(Clone)]
pub struct Outbound {
    http: reqwest::Client,
    reach: Reach,
}

/// Why a request was not made or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("{0} is not a public address")]
    NotPublic(String),
    #[error("not an http(s) URL")]
    BadUrl,
    #[error("{0}")]
    Network(String),
}

impl Outbound {
    pub fn new(reach: Reach) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .dns_resolver(Arc::new(Checked { reach }))
            .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a client with a resolver builds");
        Self { http, reach }
    }

    /// A POST of `form` to `url`, once its address is allowed.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<reqwest::Response, OutboundError> {
        let parsed = url::Url::parse(url).map_err(|_| OutboundError::BadUrl)?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(OutboundError::BadUrl);
        }
        // An address in the URL is not resolved, so the resolver cannot check it: checked here.
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(OutboundError::BadUrl),
        };
        if let Some(ip) = literal.filter(|ip| !self.reach.allows(*ip)) {
            return Err(OutboundError::NotPublic(ip.to_string()));
        }
        self.http.post(url).form(form).send().await.map_err(|error| describe(&error))
    }
}

fn describe(error: &reqwest::Error) -> OutboundError {
    // The resolver's refusal comes back wrapped; its words are the useful ones.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(inner) = source {
        if let Some(refused) = inner.downcast_ref::<Refused>() {
            return OutboundError::NotPublic(refused.0.clone());
        }
        source = inner.source();
    }
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    OutboundError::Network(what.to_owned())
}

/// A host name every address of which was not allowed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

/// The system's resolver, keeping a name only if all its addresses are allowed.
struct Checked {
    reach: Reach,
}

impl Resolve for Checked {
    fn resolve(&self, name: Name) -> Resolving {
        let reach = self.reach;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addresses.iter().find(|a| !reach.allows(a.ip())) {
                let refused = Refused(format!("{host} ({})", bad.ip()));
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Whether `ip` is on the public internet: not private, shared (CGNAT), loopback, link-local, multicast,
/// broadcast, reserved, documentation, benchmarking or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking (RFC 2544)
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local (fc00::/7)
        || (first & 0xffc0) == 0xfe80 // link-local (fe80::/10)
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b)) // NAT64 (could reach private IPv4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn loopback_is_reached_only_in_development_or_when_private_is_allowed() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let private: IpAddr = "10.0.0.1".parse().unwrap();
        let production = Reach { private: false, loopback: false };
        let development = Reach { private: false, loopback: true };
        let inside = Reach { private: true, loopback: false };
        assert!(!production.allows(loopback) && !production.allows(private));
        assert!(development.allows(loopback) && !development.allows(private));
        assert!(inside.allows(loopback) && inside.allows(private));
    }
}
