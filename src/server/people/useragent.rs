//! Browser and operating system from a `User-Agent`, for the sessions list and the activity log. Parsing is done by
//! `woothee` (a maintained, cross-language classifier); the result is only shown, never trusted.
//!
//! A page lists a few sessions and a page of activity, mostly from the same few browsers, and parsing one agent costs
//! more than the rest of its row: each distinct agent is parsed once per process and remembered ([`MEMO`], at most
//! 1,024 agents; when full it starts over, so a stranger sending many agents costs a parse each, never memory).

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

/// What a person recognises a device by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// "Chrome 131", or "Unknown browser".
    pub browser: String,
    /// "Linux", "Mac OSX 10.15.7", or "Unknown system".
    pub os: String,
}

/// The agents parsed so far, and what they were parsed to.
static MEMO: LazyLock<Mutex<HashMap<Box<str>, Device>>> = LazyLock::new(Mutex::default);
const MEMO_SIZE: usize = 1024;

pub fn parse(user_agent: Option<&str>) -> Device {
    let Some(agent) = user_agent else { return classify(None) };
    if let Some(device) = MEMO.lock().unwrap_or_else(|e| e.into_inner()).get(agent) {
        return device.clone();
    }
    let device = classify(Some(agent));
    let mut memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    if memo.len() >= MEMO_SIZE {
        memo.clear();
    }
    memo.insert(agent.into(), device.clone());
    device
}

fn classify(user_agent: Option<&str>) -> Device {
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

    #[test]
    fn remembered_agents_read_the_same_and_the_memo_stays_bounded() {
        let agent = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(parse(Some(agent)), parse(Some(agent)));
        assert_eq!(parse(Some(agent)), classify(Some(agent)));
        for n in 0..MEMO_SIZE * 2 {
            parse(Some(&format!("agent/{n}")));
        }
        assert!(MEMO.lock().expect("memo").len() <= MEMO_SIZE);
    }
}
