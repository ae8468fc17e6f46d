//! Who is on the other end: the client's address, worked out once per request and used by everything that records or
//! limits by address (sessions, the audit trail, throttles, token use).
//!
//! The TCP peer is the client, unless it is one of `TRUSTED_PROXIES`. Only then are `Forwarded` (RFC 7239) or else
//! `X-Forwarded-For` believed, read from the right: each trusted hop is skipped, and the first address that is not a
//! trusted proxy is the client (the left-most entries are whatever the client chose to send). Without the setting,
//! forwarded headers are ignored, so nobody can choose the address they are recorded under.
//!
//! The same rule decides `X-Request-Id`: kept when a trusted proxy set it (so a request can be followed through the
//! proxy's logs), replaced otherwise.

use std::{
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use axum::http::{HeaderMap, header};

use crate::server::{platform::config::TrustedProxies, security::networks::canonical};

/// The client's address, as this request's one reading of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client behind `peer`: `peer` itself unless it is a trusted proxy; then the right-most forwarded hop that is not.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let hops = forwarded_for(headers);
    // From the right: the proxy nearest us appended the last entry.
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(hop) = hop.map(canonical) else {
            // A hop we cannot read (`unknown`, an obfuscated name): nothing to its left can be trusted either.
            break;
        };
        client = hop;
        if !trusted.contains(hop) {
            break;
        }
    }
    client
}

/// The hops of `Forwarded: for=…` (all such headers, in order), or else of `X-Forwarded-For`; `None` for an entry
/// that is not an address.
pub fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<Option<IpAddr>> = headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').map(str::trim).find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| parse_node(value.trim().trim_matches('"')))
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|hop| parse_node(hop.trim()))
        .collect()
}

/// `192.0.2.60`, `192.0.2.60:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711` or `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = IpAddr::from_str(node) {
        return Some(ip);
    }
    if let Ok(socket) = SocketAddr::from_str(node) {
        return Some(socket.ip());
    }
    node.strip_prefix('[').and_then(|rest| rest.split_once(']')).and_then(|(ip, _)| IpAddr::from_str(ip).ok())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn forwarded_headers_count_only_from_a_trusted_proxy_and_from_the_right() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7").expect("valid");
        let forged = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(client_addr(ip("198.51.100.1"), &forged, &trusted), ip("198.51.100.1"), "untrusted peer");
        assert_eq!(client_addr(ip("198.51.100.1"), &forged, &TrustedProxies::default()), ip("198.51.100.1"));
        // The client wrote the left-most entry itself; our proxies appended the rest.
        let chain = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(client_addr(ip("10.0.0.2"), &chain, &trusted), ip("203.0.113.9"));
        let split = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(client_addr(ip("192.168.1.7"), &split, &trusted), ip("203.0.113.9"), "repeated headers join");
        let forwarded = headers(&[("forwarded", r#"for=1.2.3.4, for="[2001:db8::1]:4711";proto=https"#)]);
        assert_eq!(client_addr(ip("10.0.0.2"), &forwarded, &trusted), ip("2001:db8::1"), "Forwarded first");
        let unknown = headers(&[("x-forwarded-for", "203.0.113.9, unknown")]);
        assert_eq!(client_addr(ip("10.0.0.2"), &unknown, &trusted), ip("10.0.0.2"), "stop at an unreadable hop");
        let all_trusted = headers(&[("x-forwarded-for", "10.9.9.9")]);
        assert_eq!(client_addr(ip("10.0.0.2"), &all_trusted, &trusted), ip("10.9.9.9"));
        assert_eq!(client_addr(ip("::ffff:10.0.0.2"), &chain, &trusted), ip("203.0.113.9"), "IPv4-mapped peer");
    }

    #[test]
    fn the_setting_takes_blocks_and_single_addresses_and_names_a_bad_one() {
        assert!(TrustedProxies::parse("").expect("empty").is_empty());
        let parsed = TrustedProxies::parse(" 10.0.0.0/8 ,::1, 172.16.0.5/12").expect("valid");
        assert!(parsed.contains(ip("10.200.0.1")) && parsed.contains(ip("::1")) && parsed.contains(ip("172.20.0.1")));
        assert!(TrustedProxies::parse("10.0.0.0/8, proxy.local").unwrap_err().contains("proxy.local"));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }
}
