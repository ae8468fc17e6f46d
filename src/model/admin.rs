//! The admin area as its pages show it: people, one person in full, the security activity of everyone with its
//! filters, and the address blocks in force. Who may read them is decided in `server::admin`.

use serde::{Deserialize, Serialize};

use crate::model::{
    account::{ActivityEvent, LinkedIdentity, SessionInfo},
    apps::AuthorizedApp,
    tokens::TokenInfo,
};

/// People listed per page.
pub const PEOPLE_PAGE_SIZE: u32 = 50;
/// Events per page of the audit viewer.
pub const AUDIT_PAGE_SIZE: u32 = 100;

/// One person, as lists show them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonSummary {
    pub id: String,
    pub display_name: String,
    pub email: Option<String>,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
    /// When an administrator disabled the account, if it is disabled.
    pub disabled_at: Option<i64>,
    /// Why the account needs an administrator's attention (`google_hijacking`), and since when.
    pub attention: Option<(String, i64)>,
    pub sessions: i64,
}

/// A rate-limit block in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInForce {
    pub address: String,
    pub blocked_at: i64,
    pub ends_at: i64,
    pub failures: i64,
    /// How many times this address was blocked within a day (each block twice as long as the one before).
    pub times: i64,
}

/// Whether the security activity's hash chain verifies, as the newest full check found it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    /// When that check finished (Unix seconds); `None` while the first one is still running.
    pub checked_at: Option<i64>,
    /// How long it took, in milliseconds.
    pub took_ms: u64,
    pub verifies: bool,
    pub events: u64,
    pub anonymised: u64,
    /// The first event that was changed, removed or inserted, or why the chain could not be read, in words.
    pub problem: Option<String>,
}

/// `/admin`: people (searched), and the blocks in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminOverview {
    pub now: i64,
    pub query: String,
    pub people: Vec<PersonSummary>,
    /// More people match than are listed.
    pub more: bool,
    pub blocks: Vec<BlockInForce>,
    /// Requests come through a proxy on this machine that `TRUSTED_PROXIES` does not name.
    #[serde(default)]
    pub untrusted_local_proxy: bool,
}

/// `/admin/people/{id}`: everything about one person an administrator may need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminPerson {
    pub now: i64,
    pub person: PersonSummary,
    pub two_step: bool,
    pub password_email: Option<String>,
    pub identities: Vec<LinkedIdentity>,
    pub sessions: Vec<SessionInfo>,
    pub tokens: Vec<TokenInfo>,
    pub apps: Vec<AuthorizedApp>,
    /// The apps they registered: (client id, name).
    pub registered_apps: Vec<(String, String)>,
    pub activity: Vec<ActivityEvent>,
    /// This is the administrator's own account (they cannot disable it).
    pub is_self: bool,
}

/// The audit viewer's filters, as the URL carries them. Empty means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    #[serde(default)]
    pub kind: String,
    /// A person's id or email address.
    #[serde(default)]
    pub person: String,
    /// An address, or a CIDR block.
    #[serde(default)]
    pub address: String,
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (UTC), inclusive.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// The page: events before this one.
    #[serde(default)]
    pub before: Option<i64>,
}

/// One event in the audit viewer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub seq: Option<i64>,
    pub at: i64,
    pub kind: String,
    pub summary: String,
    pub user_id: Option<String>,
    /// The person's name, while the account exists.
    pub person: Option<String>,
    pub ip: Option<String>,
    pub browser: Option<String>,
    pub detail: serde_json::Value,
}

/// `/admin/audit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminAudit {
    pub now: i64,
    pub filter: AuditFilter,
    pub kinds: Vec<String>,
    pub events: Vec<AuditRow>,
    pub next: Option<i64>,
    /// `None` when the filters did not parse (the page shows the form again, and nothing else).
    pub chain: Option<ChainStatus>,
}
