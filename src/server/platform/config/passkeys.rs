//! Passkeys (`PASSKEYS`): on by default wherever browsers allow them, which is on a domain name. A passkey belongs to
//! a relying party id, the host of `APP_URL` (`localhost` in development, `login.example.com` in production), and
//! browsers refuse an IP address as one: with `APP_URL=http://127.0.0.1:3000` passkeys are off, and the pages say why.

use crate::server::platform::config::{
    site::AppUrl,
    vars::{ConfigError, Vars, invalid},
};

/// Whether passkeys are offered, and for which relying party.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasskeySettings {
    /// Offered, for `rp_id` (the host of `APP_URL`).
    On { rp_id: String },
    /// Not offered; the reason is shown where passkeys would be.
    Off(&'static str),
}

/// Shown when `PASSKEYS=false`.
pub const TURNED_OFF: &str = "Passkeys are turned off on this site.";
/// Shown when `APP_URL`'s host is an IP address.
pub const ON_AN_IP_ADDRESS: &str = "Passkeys need this site to be reached by a name such as localhost, not an IP \
                                    address: browsers refuse passkeys for an address.";

impl PasskeySettings {
    pub(super) fn read(vars: &Vars<'_>, app_url: &AppUrl) -> Result<Self, ConfigError> {
        let host = app_url.0.host();
        let is_ip = matches!(host, Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)));
        let rp_id = app_url.0.host_str().unwrap_or_default().to_owned();
        match vars.get("PASSKEYS")?.as_deref() {
            None | Some("true") if !is_ip => Ok(Self::On { rp_id }),
            None => Ok(Self::Off(ON_AN_IP_ADDRESS)),
            Some("true") => Err(invalid("PASSKEYS")(format!(
                "is true, but APP_URL's host {rp_id} is an IP address, and browsers allow passkeys only on a domain \
                 name: set APP_URL to a name (http://localhost:3000 in development), or PASSKEYS=false"
            ))),
            Some("false") => Ok(Self::Off(TURNED_OFF)),
            Some(other) => Err(invalid("PASSKEYS")(format!("must be \"true\" or \"false\", got {other:?}"))),
        }
    }

    /// The relying party id, when passkeys are on.
    pub fn rp_id(&self) -> Option<&str> {
        match self {
            Self::On { rp_id } => Some(rp_id),
            Self::Off(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(app_url: &str, passkeys: Option<&str>) -> Result<PasskeySettings, ConfigError> {
        let vars = Vars::new(move |key| Ok((key == "PASSKEYS").then(|| passkeys.map(str::to_owned)).flatten()));
        PasskeySettings::read(&vars, &AppUrl::parse(app_url).expect("a valid APP_URL"))
    }

    #[test]
    fn passkeys_are_on_by_default_for_a_host_name_and_off_for_an_ip_address() {
        assert_eq!(read("http://localhost:3000", None).unwrap(), PasskeySettings::On { rp_id: "localhost".into() });
        assert_eq!(
            read("https://login.example.com", None).unwrap().rp_id(),
            Some("login.example.com"),
            "the relying party id is APP_URL's host, without the port"
        );
        assert_eq!(read("http://127.0.0.1:3000", None).unwrap(), PasskeySettings::Off(ON_AN_IP_ADDRESS));
        assert_eq!(read("http://[::1]:3000", None).unwrap(), PasskeySettings::Off(ON_AN_IP_ADDRESS));
        assert_eq!(read("https://login.example.com", Some("false")).unwrap(), PasskeySettings::Off(TURNED_OFF));
    }

    #[test]
    fn asking_for_passkeys_on_an_ip_address_or_with_a_bad_value_names_the_variable() {
        let error = read("http://127.0.0.1:3000", Some("true")).unwrap_err().to_string();
        assert!(error.contains("PASSKEYS") && error.contains("IP address") && error.contains("localhost"), "{error}");
        let error = read("http://localhost:3000", Some("yes")).unwrap_err().to_string();
        assert!(error.contains("PASSKEYS") && error.contains("\"yes\""), "{error}");
    }
}
