//! Where Gatehouse is reached and served: `APP_URL`, and the Leptos options (`LEPTOS_SITE_ADDR`, `LEPTOS_ENV`, the
//! site folder, the reload port).

use std::{fmt, net::SocketAddr, sync::Arc};

use leptos::config::{Env, LeptosOptions};
use url::Url;

use crate::server::platform::config::vars::{ConfigError, Vars, invalid};

pub const DEFAULT_APP_URL: &str = "http://127.0.0.1:3000";

/// The name cargo-leptos gives the JS/WASM bundle (`output-name` in Cargo.toml).
const OUTPUT_NAME: &str = "gatehouse";

/// The public base URL: http or https, a host, no path, query or fragment. Kept without a trailing slash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppUrl(pub(super) Url);

impl AppUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw.trim()).map_err(|e| format!("not an absolute URL ({e}): {raw:?}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("must start with http:// or https://, got {raw:?}"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("has no host: {raw:?}"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain a user name or password".into());
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "must be a bare origin such as https://login.example.com (no path, query or fragment), got {raw:?}"
            ));
        }
        Ok(Self(url))
    }

    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }

    /// Whether the site is served on this machine's loopback interface (development).
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.0)
    }

    /// The origin as browsers send it in the `Origin` header, e.g. `http://127.0.0.1:3000`.
    pub fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }

    /// The origin and port when the host is `localhost` (development, as `make run` serves it).
    pub fn localhost(&self) -> Option<(String, u16)> {
        (self.0.host_str() == Some("localhost")).then(|| (self.origin(), self.0.port_or_known_default().unwrap_or(80)))
    }

    /// An absolute URL for a path on this site; `path` starts with `/`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }
}

impl fmt::Display for AppUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin())
    }
}

impl AppUrl {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Self::parse(vars.get("APP_URL")?.as_deref().unwrap_or(DEFAULT_APP_URL)).map_err(invalid("APP_URL"))
    }
}

/// The Leptos options, and the rule that keeps cookies, codes and tokens off an unencrypted network in production.
pub(super) fn leptos_options(vars: &Vars<'_>, app_url: &AppUrl) -> Result<LeptosOptions, ConfigError> {
    let site_addr = vars.get("LEPTOS_SITE_ADDR")?;
    let site_addr: SocketAddr = site_addr.as_deref().unwrap_or("127.0.0.1:3000").parse().map_err(|_| {
        invalid("LEPTOS_SITE_ADDR")(format!("must be an IP address and port such as 127.0.0.1:3000, got {site_addr:?}"))
    })?;
    // `cargo leptos watch` sets LEPTOS_WATCH but not LEPTOS_ENV; watching means developing (live reload).
    let watching = vars.get("LEPTOS_WATCH")?.as_deref() == Some("true");
    let env = match vars.get("LEPTOS_ENV")?.map(|v| v.to_ascii_lowercase()).as_deref() {
        None if watching => Env::DEV,
        None | Some("prod") | Some("production") => Env::PROD,
        Some("dev") | Some("development") => Env::DEV,
        Some(other) => return Err(invalid("LEPTOS_ENV")(format!("must be PROD or DEV, got {other:?}"))),
    };
    // Cookies, codes and tokens would cross the network in the clear: a deployment says so on purpose, or not at all.
    let insecure_allowed = vars.flag("ALLOW_INSECURE_APP_URL")?;
    if !app_url.is_https() && !is_loopback(&app_url.0) && env == Env::PROD && !insecure_allowed {
        return Err(invalid("APP_URL")(format!(
            "is http on a host other than this machine ({}): session cookies, codes and tokens would cross the \
             network unencrypted. Use https, or set ALLOW_INSECURE_APP_URL=true for a closed test network",
            app_url.origin()
        )));
    }
    let reload_port = match vars.get("LEPTOS_RELOAD_PORT")? {
        None => 3001,
        Some(port) => {
            port.parse().map_err(|_| invalid("LEPTOS_RELOAD_PORT")(format!("must be a port number, got {port:?}")))?
        }
    };
    Ok(LeptosOptions::builder()
        .output_name(Arc::<str>::from(OUTPUT_NAME))
        .site_root(vars.get("LEPTOS_SITE_ROOT")?.unwrap_or_else(|| "target/site".into()))
        .site_pkg_dir(vars.get("LEPTOS_SITE_PKG_DIR")?.unwrap_or_else(|| "pkg".into()))
        .env(env)
        .site_addr(site_addr)
        .reload_port(reload_port)
        .build())
}

/// Whether a URL's host is this machine (`localhost`, `127.0.0.1`, `[::1]`).
pub(super) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
