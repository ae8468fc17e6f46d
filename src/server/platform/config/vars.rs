//! Reading the environment: each variable trimmed (blank counts as unset), and a problem reported with the
//! variable's name and never its value when it may be a secret.

use std::time::Duration;

/// A configuration problem: which variable, and what is wrong with it. Never contains a secret's value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(var: &'static str, problem: impl Into<String>) -> Self {
        Self { var, problem: problem.into() }
    }
}

/// Where settings come from: the process environment, or a map in tests.
pub struct Vars<'a> {
    lookup: Box<dyn Fn(&'static str) -> Result<Option<String>, ConfigError> + 'a>,
}

impl<'a> Vars<'a> {
    pub fn new(lookup: impl Fn(&'static str) -> Result<Option<String>, ConfigError> + 'a) -> Self {
        Self { lookup: Box::new(lookup) }
    }

    /// The variable's value, trimmed; `None` when unset or blank.
    pub fn get(&self, key: &'static str) -> Result<Option<String>, ConfigError> {
        Ok((self.lookup)(key)?.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
    }

    /// A `true`/`false` setting that defaults to false.
    pub fn flag(&self, key: &'static str) -> Result<bool, ConfigError> {
        self.flag_or(key, false)
    }

    /// A `true`/`false` setting, `default` when unset.
    pub fn flag_or(&self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key)?.as_deref() {
            None => Ok(default),
            Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ConfigError::new(key, format!("must be \"true\" or \"false\", got {other:?}"))),
        }
    }

    /// A duration setting (`90s`, `15m`, `24h`, `30d`), `default` when unset.
    pub fn duration(&self, key: &'static str, default: &str) -> Result<Duration, ConfigError> {
        parse_duration(self.get(key)?.as_deref().unwrap_or(default)).map_err(invalid(key))
    }
}

/// Turns a problem with `key` into its error: `.map_err(invalid("APP_URL"))`.
pub fn invalid(key: &'static str) -> impl Fn(String) -> ConfigError {
    move |problem| ConfigError::new(key, problem)
}

/// Parses a duration such as `90s`, `15m`, `24h` or `30d`; a bare number is seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: u64 =
        number.parse().map_err(|_| format!("must be a duration such as 90s, 15m, 24h or 30d, got {raw:?}"))?;
    let seconds = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("must be a duration such as 90s, 15m, 24h or 30d, got {raw:?}")),
    };
    if number == 0 {
        return Err("must be longer than zero".into());
    }
    number.checked_mul(seconds).map(Duration::from_secs).ok_or_else(|| format!("is too long: {raw:?}"))
}
