//! Lists of networks (CIDR blocks): the trusted proxies, `ADMIN_ALLOWED_IPS`, and the allow-lists a personal access
//! token or an app may carry. Written as `10.0.0.0/8, 2001:db8::/32, 192.0.2.7` (commas, spaces or line breaks
//! between entries; a single address is a block of one), kept in canonical form (`10.1.2.3/8` is `10.0.0.0/8`).

use std::{fmt, net::IpAddr, str::FromStr};

use ipnet::IpNet;

/// How many blocks one token's or app's allow-list may hold.
pub const MAX_ALLOW_LIST: usize = 32;

/// A list of networks; empty means none (for an allow-list: no restriction).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Networks(Vec<IpNet>);

impl Networks {
    /// Parses a list of CIDR blocks or single addresses; the error names the entry that is neither.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in raw.split(|c: char| c == ',' || c.is_whitespace()).filter(|i| !i.is_empty()) {
            let net = IpNet::from_str(item)
                .or_else(|_| IpAddr::from_str(item).map(IpNet::from))
                .map_err(|_| format!("{item:?} is not an address or CIDR block such as 10.0.0.0/8"))?;
            let net = match net {
                // `::ffff:10.0.0.0/104` is 10.0.0.0/8, so a mapped client address (always compared as IPv4) matches.
                IpNet::V6(v6) if v6.prefix_len() >= 96 && v6.addr().to_ipv4_mapped().is_some() => {
                    let v4 = v6.addr().to_ipv4_mapped().expect("checked");
                    IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).expect("a prefix of at most 32")
                }
                other => other,
            };
            let net = net.trunc();
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        Ok(Self(nets))
    }

    /// An allow-list as a person or an operator writes it: at most [`MAX_ALLOW_LIST`] blocks.
    pub fn parse_allow_list(raw: &str) -> Result<Self, String> {
        let list = Self::parse(raw)?;
        if list.0.len() > MAX_ALLOW_LIST {
            return Err(format!("List at most {MAX_ALLOW_LIST} addresses or blocks."));
        }
        Ok(list)
    }

    /// As stored: `None` for an empty list.
    pub fn from_stored(stored: Option<&str>) -> Self {
        // Written by `to_stored`, so every entry parses; an entry that somehow does not is dropped, and an
        // allow-list that loses every entry must still refuse: hence `unreadable`.
        match stored {
            None => Self::default(),
            Some(text) => Self::parse(text).unwrap_or_else(|_| Self::unreadable()),
        }
    }

    pub fn to_stored(&self) -> Option<String> {
        (!self.is_empty()).then(|| self.to_string())
    }

    /// A list nobody's address is on (the unspecified address): what a stored list that no longer parses means.
    fn unreadable() -> Self {
        Self(vec![IpNet::from(IpAddr::from([0, 0, 0, 0]))])
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a call from `ip` passes this allow-list: any address when the list is empty; otherwise only a known
    /// address on it.
    pub fn permits(&self, ip: Option<&str>) -> bool {
        self.is_empty() || ip.and_then(|ip| IpAddr::from_str(ip).ok()).is_some_and(|ip| self.contains(ip))
    }

    /// Whether every address this allow-list permits, `outer` permits too.
    pub fn is_within(&self, outer: &Networks) -> bool {
        outer.is_empty() || (!self.is_empty() && self.0.iter().all(|net| outer.0.iter().any(|o| o.contains(net))))
    }

    /// Each block as text, for the dashboard and the API.
    pub fn entries(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for Networks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.entries().join(" "))
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:10.0.0.1`) is that IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn blocks_and_single_addresses_are_kept_in_canonical_form() {
        let list = Networks::parse("10.1.2.3/8, 192.0.2.7\n2001:db8::1/32 ::ffff:172.16.0.0/108 10.0.0.0/8").unwrap();
        assert_eq!(list.entries(), ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "172.16.0.0/12"]);
        assert_eq!(Networks::parse(&list.to_string()).unwrap(), list, "what is stored reads back the same");
        assert!(list.contains(ip("10.200.0.1")) && list.contains(ip("::ffff:10.0.0.9")));
        assert!(list.contains(ip("172.20.0.1")) && list.contains(ip("2001:db8:ffff::1")));
        assert!(!list.contains(ip("192.0.2.8")) && !list.contains(ip("2001:db9::1")));
    }

    #[test]
    fn a_bad_entry_is_named_and_an_allow_list_is_bounded() {
        assert!(Networks::parse("10.0.0.0/8, proxy.local").unwrap_err().contains("proxy.local"));
        assert!(Networks::parse("10.0.0.0/33").is_err());
        let many = (0..=MAX_ALLOW_LIST).map(|i| format!("10.0.{i}.0/24")).collect::<Vec<_>>().join(",");
        assert!(Networks::parse_allow_list(&many).is_err());
        assert!(Networks::parse(&many).is_ok());
    }

    #[test]
    fn an_allow_list_permits_everyone_only_when_empty() {
        let anywhere = Networks::parse(" ").unwrap();
        assert!(anywhere.permits(Some("203.0.113.9")) && anywhere.permits(None));
        assert_eq!(anywhere.to_stored(), None);
        let office = Networks::parse("203.0.113.0/24").unwrap();
        assert!(office.permits(Some("203.0.113.9")));
        assert!(!office.permits(Some("198.51.100.1")) && !office.permits(None) && !office.permits(Some("garbage")));
        assert!(!Networks::from_stored(Some("not a network")).permits(Some("203.0.113.9")));
        assert_eq!(Networks::from_stored(office.to_stored().as_deref()), office);
    }

    #[test]
    fn a_narrower_list_is_within_a_wider_one() {
        let office = Networks::parse("203.0.113.0/24, 2001:db8::/32").unwrap();
        assert!(Networks::parse("203.0.113.8/29").unwrap().is_within(&office));
        assert!(Networks::parse("203.0.113.9, 2001:db8:1::/48").unwrap().is_within(&office));
        assert!(!Networks::parse("203.0.113.0/23").unwrap().is_within(&office));
        assert!(!Networks::parse("203.0.113.9, 198.51.100.1").unwrap().is_within(&office));
        assert!(!Networks::default().is_within(&office), "anywhere is not within a list");
        assert!(office.is_within(&Networks::default()), "everything is within anywhere");
    }
}
