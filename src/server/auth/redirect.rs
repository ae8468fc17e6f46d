//! `RedirectTarget`: where to send a person after sign-in — only ever a path on this site.

use std::fmt;

/// Where a person lands when nothing (valid) was asked for.
pub const DEFAULT_AFTER_LOGIN: &str = "/dashboard";
/// The longest target: room for an authorization request carried through sign-in, sealed.
pub const MAX_LEN: usize = 8192;

/// A same-site relative path such as `/profile?tab=security`. Absolute URLs, scheme-relative `//host` and
/// `/\host` (which browsers treat as `//host`), and anything with control characters cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RedirectTarget(String);

impl RedirectTarget {
    pub fn parse(raw: &str) -> Option<Self> {
        let valid = raw.starts_with('/')
            && !raw.starts_with("//")
            && !raw.contains('\\')
            // Room for an authorization request carried through sign-in, sealed (see `oauth::authorize`).
            && raw.len() <= MAX_LEN
            && !raw.chars().any(char::is_control)
            // A path, not a scheme: `/x:y` is fine, but browsers must never see it as anything but a path.
            && !raw.starts_with("/%2f")
            && !raw.starts_with("/%2F")
            && !raw.starts_with("/%5c")
            && !raw.starts_with("/%5C");
        valid.then(|| Self(raw.to_owned()))
    }

    /// `raw` if it is a valid target, else the dashboard.
    pub fn parse_or_default(raw: Option<&str>) -> Self {
        raw.and_then(Self::parse).unwrap_or_else(|| Self(DEFAULT_AFTER_LOGIN.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedirectTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_site_paths_are_accepted() {
        for ok in ["/", "/dashboard", "/profile?tab=security#top", "/a/b:c", "/%20space"] {
            assert_eq!(RedirectTarget::parse(ok).map(|t| t.0), Some(ok.to_owned()), "{ok}");
        }
    }

    #[test]
    fn anything_that_could_leave_the_site_is_refused() {
        for bad in [
            "",
            "dashboard",
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2F%2Fevil.example",
            "/%5cevil.example",
            "javascript:alert(1)",
            "/ok\r\nSet-Cookie: x=1",
            "/tab\there",
        ] {
            assert_eq!(RedirectTarget::parse(bad), None, "{bad:?} must be refused");
        }
        assert!(RedirectTarget::parse(&format!("/{}", "a".repeat(MAX_LEN - 1))).is_some(), "room for a sealed request");
        assert_eq!(RedirectTarget::parse(&format!("/{}", "a".repeat(MAX_LEN))), None, "overlong");
    }

    #[test]
    fn invalid_or_missing_targets_fall_back_to_the_dashboard() {
        assert_eq!(RedirectTarget::parse_or_default(Some("https://evil.example")).as_str(), DEFAULT_AFTER_LOGIN);
        assert_eq!(RedirectTarget::parse_or_default(None).as_str(), DEFAULT_AFTER_LOGIN);
        assert_eq!(RedirectTarget::parse_or_default(Some("/profile")).as_str(), "/profile");
    }
}
