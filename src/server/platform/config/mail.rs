//! Outgoing mail (`SMTP_URL`, `MAIL_FROM`), and the email and password accounts that need it (`PASSWORD_LOGIN`).

use std::{fmt, str::FromStr};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::server::platform::config::{
    site::AppUrl,
    vars::{ConfigError, Vars, invalid},
};

/// Where mail goes out, and whom it is from. The URL is a secret: it may carry the SMTP password.
#[derive(Clone)]
pub struct MailSettings {
    smtp_url: SecretString,
    /// `MAIL_FROM`, a mailbox such as `Gatehouse <no-reply@login.example.com>`, already checked to parse.
    pub from: String,
}

impl MailSettings {
    /// Checks `SMTP_URL` as lettre reads it: `smtps://host` (TLS from the first byte), `smtp://host?tls=required`
    /// (STARTTLS), `smtp://host` (plain: a local relay or mail catcher only), with `user:password@` when the server
    /// wants them. Only the scheme is ever echoed: the rest may hold credentials.
    pub fn new(smtp_url: &str, from: &str) -> Result<Self, ConfigError> {
        let scheme = smtp_url.split_once("://").map_or("(none)", |(scheme, _)| scheme);
        let url = Url::parse(smtp_url).map_err(|_| {
            ConfigError::new(
                "SMTP_URL",
                "is not a URL such as smtp://mail.example.com:587 or smtps://user:password@mail.example.com",
            )
        })?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(ConfigError::new(
                "SMTP_URL",
                format!("must start with smtp:// or smtps:// (got a URL with scheme {scheme:?})"),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError::new("SMTP_URL", "has no host"));
        }
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(smtp_url)
            .map_err(|_| ConfigError::new("SMTP_URL", "is not a valid SMTP URL (see .env.example)"))?;
        lettre::message::Mailbox::from_str(from).map_err(|e| {
            ConfigError::new(
                "MAIL_FROM",
                format!("must be an address such as Gatehouse <no-reply@example.com> ({e}), got {from:?}"),
            )
        })?;
        Ok(Self { smtp_url: SecretString::from(smtp_url.to_owned()), from: from.to_owned() })
    }

    pub fn smtp_url(&self) -> &str {
        self.smtp_url.expose_secret()
    }
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings").field("smtp_url", &"[redacted]").field("from", &self.from).finish()
    }
}

impl MailSettings {
    /// `None` when no SMTP server is configured. Mail comes from the site's own name unless `MAIL_FROM` says.
    pub(super) fn read(vars: &Vars<'_>, app_url: &AppUrl) -> Result<Option<Self>, ConfigError> {
        let Some(url) = vars.get("SMTP_URL")? else { return Ok(None) };
        // An IP address is not a mail domain, so a local site sends as localhost.
        let domain = match app_url.0.host() {
            Some(url::Host::Domain(domain)) => domain.to_owned(),
            _ => "localhost".to_owned(),
        };
        let from = vars.get("MAIL_FROM")?.unwrap_or_else(|| format!("Gatehouse <no-reply@{domain}>"));
        Self::new(&url, &from).map(Some)
    }
}

/// `PASSWORD_LOGIN`: on by default when mail can be sent, and never without it.
pub(super) fn password_login(vars: &Vars<'_>, mail: bool) -> Result<bool, ConfigError> {
    match vars.get("PASSWORD_LOGIN")?.as_deref() {
        None => Ok(mail),
        Some("false") => Ok(false),
        Some("true") if mail => Ok(true),
        Some("true") => Err(invalid("PASSWORD_LOGIN")(
            "is true, but password accounts need to send email (address verification, password resets): set \
             SMTP_URL too"
                .into(),
        )),
        Some(other) => Err(invalid("PASSWORD_LOGIN")(format!("must be \"true\" or \"false\", got {other:?}"))),
    }
}
