//! Browser and operating system from a `User-Agent`, for the sessions list and the activity log. Parsing is done by
//! `woothee` (a maintained, cross-language classifier); the result is only shown, never trusted.

/// What a person recognises a device by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// "Chrome 131", or "Unknown browser".
    pub browser: String,
    /// "Linux", "Mac OSX 10.15.7", or "Unknown system".
    pub os: String,
}

pub fn parse(user_agent: Option<&str>) -> Device {
    let parsed = user_agent.and_then(|ua| woothee::parser::Parser::new().parse(ua));
    let known = |value: &str| !value.is_empty() && value != woothee::woothee::VALUE_UNKNOWN;
    let Some(result) = parsed else {
        return Device { browser: "Unknown browser".into(), os: "Unknown system".into() };
    };
    let browser = match (known(result.name), known(result.version)) {
        (true, true) => format!("{} {}", result.name, major(result.version)),
        (true, false) => result.name.to_owned(),
        _ => "Unknown browser".into(),
    };
    let os = match (known(result.os), known(&result.os_version)) {
        (true, true) => format!("{} {}", result.os, result.os_version),
        (true, false) => result.os.to_owned(),
        _ => "Unknown system".into(),
    };
    Device { browser, os }
}

/// "131.0.6778.85" → "131": the rest is noise in a list.
fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_browsers_are_named_with_their_major_version() {
        let chrome = parse(Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.85 Safari/537.36",
        ));
        assert_eq!(chrome.browser, "Chrome 131");
        assert_eq!(chrome.os, "Linux");

        let firefox = parse(Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"));
        assert_eq!(firefox.browser, "Firefox 133");
        assert!(firefox.os.starts_with("Windows"), "{}", firefox.os);
    }

    #[test]
    fn missing_or_unreadable_agents_say_unknown() {
        assert_eq!(parse(None), Device { browser: "Unknown browser".into(), os: "Unknown system".into() });
        assert_eq!(parse(Some("curl/8.5.0")).os, "Unknown system");
    }
}
