//! Email and password accounts as the forms see them: the address type and the password's length rules. Shared by
//! the server and the browser.

use crate::model::error::AppError;

/// Characters a new password may have, at least and at most (counted as people count them; never truncated).
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// An email address someone typed: trimmed, at most 254 characters, one `@` with something on both sides and a dot
/// or `localhost` in the domain, no spaces or control characters. Compared without regard to case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub const MAX_CHARS: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let email = raw.trim();
        let invalid = || AppError::Invalid("Enter an email address such as ada@example.com.".into());
        if email.is_empty() {
            return Err(AppError::Invalid("Enter your email address.".into()));
        }
        if email.chars().count() > Self::MAX_CHARS {
            return Err(AppError::Invalid(format!("An email address has at most {} characters.", Self::MAX_CHARS)));
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.eq_ignore_ascii_case("localhost")
            || (domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains(".."));
        if local.is_empty()
            || local.chars().count() > 64
            || !domain_ok
            || email.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
            || local.contains('@')
        {
            return Err(invalid());
        }
        Ok(Self(email.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address in lower case: how it is compared and counted.
    pub fn lowercase(&self) -> String {
        self.0.to_lowercase()
    }
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_trimmed_and_checked_for_shape() {
        assert_eq!(EmailAddress::parse("  Ada@Example.com ").expect("valid").as_str(), "Ada@Example.com");
        assert_eq!(EmailAddress::parse("Ada@Example.com").expect("valid").lowercase(), "ada@example.com");
        assert!(EmailAddress::parse("dev@localhost").is_ok());
        assert!(EmailAddress::parse("o'brien+tag@mail.example.co.uk").is_ok());
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@.com",
            "ada@example..com",
            "a b@x.com",
            "ada@x\u{7}y.com",
            "Ada <ada@x.com>",
            "a@b@x.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(matches!(EmailAddress::parse(&long), Err(AppError::Invalid(m)) if m.contains("254")));
    }
}
