//! Keeping strangers out and recording what happened.
//!
//! - [`rate_limit`]: requests per client address, and blocks for addresses that keep failing.
//! - [`lockout`]: failed guesses (passwords, codes) per sign-in address and per client, in the database.
//! - [`client_addr`]: who is on the other end, behind trusted proxies; [`networks`]: CIDR lists.
//! - [`csrf`]: the cross-site check; [`headers`]: security headers and the page's Content Security Policy.
//! - [`audit`]: the tamper-evident security activity.

pub mod audit;
pub mod client_addr;
pub mod csrf;
pub mod headers;
pub mod lockout;
pub mod networks;
pub mod rate_limit;
