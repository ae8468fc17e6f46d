//! People and the external identities they sign in with.

use serde::Serialize;

use crate::model::{account::DisplayName, auth::SignedInUser};
use crate::server::platform::{
    clock,
    db::{self, Db, Exec, on},
};

/// What a provider told us about the person who just signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub provider: String,
    pub issuer: String,
    /// The provider's stable id for the person (`sub`, or GitHub's numeric id) — never an email or login name.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub display_name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub avatar_url: Option<String>,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
}

/// What a person whose account an administrator disabled is told when they try to sign in.
pub const DISABLED: &str = "An administrator has disabled this Gatehouse account, so you cannot sign in with it. \
                            If you think this is a mistake, contact the people who run this site.";

/// In a write transaction that is about to sign the person in: locks their row (so an administrator disabling the
/// account at the same moment waits for this sign-in, and then ends its session too, or this waits and sees it),
/// then says whether the account is disabled.
pub async fn lock_if_disabled(mut tx: Exec<'_>, user_id: &str) -> Result<bool, sqlx::Error> {
    lock(tx.reborrow(), user_id).await?;
    is_disabled(tx, user_id).await
}

/// Whether an administrator has disabled the account.
pub async fn is_disabled(conn: Exec<'_>, user_id: &str) -> Result<bool, sqlx::Error> {
    let disabled: Option<Option<i64>> = on!(conn, conn => sqlx::query_scalar(
        "SELECT disabled_at FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await)?;
    Ok(disabled.flatten().is_some())
}

/// The columns of `users` that pages and `GET /api/v1/me` show, read in the same query as a session's or a token's
/// row (`#[sqlx(flatten)]`).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PersonColumns {
    pub user_id: String,
    pub display_name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub avatar_url: Option<String>,
}

impl PersonColumns {
    /// The select list, for `users` aliased `u`.
    pub const SELECT: &str = "u.id AS user_id, u.display_name, u.email, u.email_verified, u.avatar_url";

    /// The person, with the providers they sign in with (read from `db`).
    pub async fn into_person(self, db: &Db) -> Result<SignedInUser, sqlx::Error> {
        let providers = providers(db, &self.user_id).await?;
        Ok(SignedInUser {
            id: self.user_id,
            display_name: self.display_name,
            email: self.email,
            email_verified: self.email_verified,
            avatar_url: self.avatar_url,
            providers,
        })
    }
}

/// A returning person's row as the sign-in's update leaves it.
#[derive(sqlx::FromRow)]
struct Returning {
    #[sqlx(flatten)]
    user: User,
    disabled: bool,
    two_step: bool,
    /// The email the identity had until now, to be written only when the provider's changed.
    identity_email: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SignIn {
    /// A returning person: whether an administrator disabled the account and whether two-step verification is on
    /// are read with the row (which the transaction now holds, so neither can change before it commits).
    Existing { user: User, disabled: bool, two_step: bool },
    /// A first sign-in: the account was created.
    Created(User),
    /// The identity is new but its verified email belongs to an existing account. Nothing was created: accounts are
    /// never merged silently.
    EmailInUse { owner: String },
}

/// Finds the person by (provider, issuer, subject), or creates them, in the caller's write transaction (which also records
/// the session and the audit events, so a sign-in is written whole or not at all).
pub async fn sign_in(mut tx: Exec<'_>, identity: &Identity) -> Result<SignIn, sqlx::Error> {
    let now = clock::now();

    // Two first sign-ins of one person, or of two people with one verified email, finishing at once (two tabs, two
    // instances) would each find nothing and each create an account: the checks and the creation run one at a time.
    db::claim(tx.reborrow(), &identity_key(identity)).await?;
    // A returning person: their row, found through the identity and updated in one statement. Keep the picture
    // current when the person has not chosen otherwise; names and emails are theirs. The update locks the row (an
    // administrator disabling the account at this moment waits for this sign-in, which then ends with the rest of
    // the account's sessions, or this waits and reads the account disabled).
    let returning: Option<Returning> = on!(tx.reborrow(), conn => sqlx::query_as(
        "UPDATE users SET last_sign_in_at = $1, avatar_url = COALESCE($2, avatar_url)
         WHERE id = (SELECT user_id FROM identities WHERE provider = $3 AND issuer = $4 AND subject = $5)
         RETURNING id, display_name, email, email_verified, avatar_url, created_at, last_sign_in_at,
                   disabled_at IS NOT NULL AS disabled,
                   EXISTS (SELECT 1 FROM totp WHERE totp.user_id = users.id AND totp.enabled_at IS NOT NULL)
                       AS two_step,
                   (SELECT email FROM identities WHERE provider = $3 AND issuer = $4 AND subject = $5)
                       AS identity_email",
    )
    .bind(now)
    .bind(&identity.avatar_url)
    .bind(&identity.provider)
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .fetch_optional(conn)
    .await)?;
    if let Some(Returning { user, disabled, two_step, identity_email }) = returning {
        // Written only when it changed: an unchanged row is not a page to write.
        if identity_email != identity.email {
            on!(tx, conn => sqlx::query(
                "UPDATE identities SET email = $1 WHERE provider = $2 AND issuer = $3 AND subject = $4",
            )
            .bind(&identity.email)
            .bind(&identity.provider)
            .bind(&identity.issuer)
            .bind(&identity.subject)
            .execute(conn)
            .await
            .map(drop))?;
        }
        return Ok(SignIn::Existing { user, disabled, two_step });
    }

    if let Some(email) = identity.email.as_deref().filter(|_| identity.email_verified) {
        db::claim(tx.reborrow(), &format!("email {}", email.to_lowercase())).await?;
        let owner: Option<String> = on!(tx.reborrow(), conn => sqlx::query_scalar(
            "SELECT id FROM users WHERE lower(email) = lower($1) AND email_verified LIMIT 1",
        )
        .bind(email)
        .fetch_optional(conn)
        .await)?;
        if let Some(owner) = owner {
            return Ok(SignIn::EmailInUse { owner });
        }
        // A password account that never proved this address does not hold it: whoever made it chose its password,
        // and the address's owner has just proved it here. Left alone, it would wait for a careless click on its
        // verification mail to capture the address (account pre-hijacking), so it goes.
        let released = on!(tx.reborrow(), conn => sqlx::query(
            "DELETE FROM users WHERE id IN
                 (SELECT user_id FROM passwords WHERE lower(email) = lower($1) AND verified_at IS NULL)",
        )
        .bind(email)
        .execute(conn)
        .await
        .map(|done| done.rows_affected()))?;
        if released > 0 {
            tracing::warn!(released, "an unverified password account gave up an address its owner proved");
        }
    }

    let new = NewUser {
        display_name: &display_name_for(identity),
        email: identity.email.as_deref(),
        email_verified: identity.email_verified && identity.email.is_some(),
        avatar_url: identity.avatar_url.as_deref(),
        signed_in: true,
    };
    let user_id = insert(tx.reborrow(), new, now).await?;
    insert_identity(tx.reborrow(), &user_id, identity, now).await?;
    let user = find_in(tx, &user_id).await?;
    Ok(SignIn::Created(user))
}

/// A new person's row, as each way of creating an account fills it.
pub struct NewUser<'a> {
    pub display_name: &'a str,
    pub email: Option<&'a str>,
    pub email_verified: bool,
    pub avatar_url: Option<&'a str>,
    /// Whether they are signing in as the account is made (a provider's sign-in), or later (after a mail).
    pub signed_in: bool,
}

/// Inserts a new person made at `now`: their new id.
pub async fn insert(tx: Exec<'_>, new: NewUser<'_>, now: i64) -> Result<String, sqlx::Error> {
    let user_id = clock::new_id();
    on!(tx, conn => sqlx::query(
        "INSERT INTO users (id, display_name, email, email_verified, avatar_url, created_at, last_sign_in_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&user_id)
    .bind(new.display_name)
    .bind(new.email)
    .bind(new.email_verified)
    .bind(new.avatar_url)
    .bind(now)
    .bind(new.signed_in.then_some(now))
    .execute(conn)
    .await
    .map(drop))?;
    Ok(user_id)
}

/// What linking an identity to a signed-in person did.
#[derive(Debug, PartialEq, Eq)]
pub enum Link {
    Linked,
    /// It was already this person's: nothing to do.
    AlreadyLinked,
    /// It signs in to another account. Nothing was changed.
    BelongsToAnother,
}

/// Attaches `identity` to `user_id`, unless it already belongs to someone — in one transaction.
pub async fn link(db: &Db, user_id: &str, identity: &Identity) -> Result<Link, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    db::claim(tx.as_exec(), &identity_key(identity)).await?;
    let owner = owner_of(tx.as_exec(), identity).await?;
    let outcome = match owner {
        Some(owner) if owner == user_id => Link::AlreadyLinked,
        Some(_) => Link::BelongsToAnother,
        None => {
            insert_identity(tx.as_exec(), user_id, identity, clock::now()).await?;
            Link::Linked
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

pub async fn find(db: &Db, user_id: &str) -> Result<Option<User>, sqlx::Error> {
    on!(db, pool => sqlx::query_as(USER_COLUMNS).bind(user_id).fetch_optional(pool).await)
}

/// The ways a person can sign in (provider ids, and `password`), in the order they were added.
pub async fn providers(db: &Db, user_id: &str) -> Result<Vec<String>, sqlx::Error> {
    on!(db, pool => {
        sqlx::query_scalar(
            "SELECT provider FROM (
                 SELECT provider, created_at FROM identities WHERE user_id = $1
                 UNION ALL SELECT 'password', created_at FROM passwords WHERE user_id = $1
             ) methods ORDER BY created_at, provider",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await
    })
}

/// The person's row, locked for the rest of the write transaction `tx`: changes that check something about the
/// account before they write (its last sign-in method, its confirmation text) run one at a time per person, on every
/// instance. SQLite's write transaction already excludes every other writer; PostgreSQL locks the row.
pub async fn lock(tx: Exec<'_>, user_id: &str) -> Result<Option<User>, sqlx::Error> {
    match tx {
        Exec::Sqlite(conn) => sqlx::query_as(USER_COLUMNS).bind(user_id).fetch_optional(conn).await,
        Exec::Postgres(conn) => {
            sqlx::query_as(&format!("{USER_COLUMNS} FOR UPDATE")).bind(user_id).fetch_optional(conn).await
        }
    }
}

/// How many ways the person has to sign in: linked providers, a password, passkeys. Read in the transaction that
/// locked their row ([`lock`]), so that removing one of them never leaves none.
pub async fn ways_in(tx: Exec<'_>, user_id: &str) -> Result<i64, sqlx::Error> {
    on!(tx, conn => sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM identities WHERE user_id = $1)
                + (SELECT COUNT(*) FROM passwords WHERE user_id = $1)
                + (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await)
}

const USER_COLUMNS: &str = "SELECT id, display_name, email, email_verified, avatar_url, created_at, last_sign_in_at
                            FROM users WHERE id = $1";

/// Whose account `identity` signs in to, if anyone's.
pub async fn owner(db: &Db, identity: &Identity) -> Result<Option<String>, sqlx::Error> {
    let mut conn = db.begin_read().await?;
    owner_of(conn.as_exec(), identity).await
}

async fn owner_of(tx: Exec<'_>, identity: &Identity) -> Result<Option<String>, sqlx::Error> {
    Ok(identity_row(tx, identity).await?.map(|(user_id, _)| user_id))
}

/// The identity's owner and the email last recorded for it, if it is known here.
async fn identity_row(tx: Exec<'_>, identity: &Identity) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    on!(tx, conn => {
        // A subject means something only together with its issuer: keyed on both (and on the sign-in method), a
        // provider pointed at another issuer can never map that issuer's subjects onto these accounts.
        sqlx::query_as("SELECT user_id, email FROM identities WHERE provider = $1 AND issuer = $2 AND subject = $3")
            .bind(&identity.provider)
            .bind(&identity.issuer)
            .bind(&identity.subject)
            .fetch_optional(conn)
            .await
    })
}

/// What [`db::claim`] serialises the sign-ins and links of one identity on.
fn identity_key(identity: &Identity) -> String {
    format!("identity {} {} {}", identity.provider, identity.issuer, identity.subject)
}

async fn find_in(tx: Exec<'_>, user_id: &str) -> Result<User, sqlx::Error> {
    on!(tx, conn => sqlx::query_as(USER_COLUMNS).bind(user_id).fetch_one(conn).await)
}

async fn insert_identity(tx: Exec<'_>, user_id: &str, identity: &Identity, now: i64) -> Result<(), sqlx::Error> {
    on!(tx, conn => sqlx::query(
        "INSERT INTO identities (id, user_id, provider, issuer, subject, email, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(clock::new_id())
    .bind(user_id)
    .bind(&identity.provider)
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .bind(&identity.email)
    .bind(now)
    .execute(conn)
    .await
    .map(drop))?;
    Ok(())
}

/// A display name from what the provider sent: its name, else the email's local part, cleaned to at most 64
/// printable characters.
fn display_name_for(identity: &Identity) -> String {
    let candidate = identity
        .name
        .as_deref()
        .or_else(|| identity.email.as_deref().and_then(|e| e.split('@').next()))
        .unwrap_or_default();
    let cleaned: String = candidate
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(DisplayName::MAX_CHARS)
        .collect();
    if cleaned.is_empty() { "Gatehouse user".to_owned() } else { cleaned }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(name: Option<&str>, email: Option<&str>) -> Identity {
        Identity {
            provider: "dev".into(),
            issuer: "http://127.0.0.1".into(),
            subject: "s".into(),
            email: email.map(Into::into),
            email_verified: true,
            name: name.map(Into::into),
            avatar_url: None,
        }
    }

    #[test]
    fn display_name_prefers_the_name_then_the_email_then_a_placeholder() {
        assert_eq!(display_name_for(&identity(Some("  Ada Lovelace "), Some("ada@x.test"))), "Ada Lovelace");
        assert_eq!(display_name_for(&identity(None, Some("ada@x.test"))), "ada");
        assert_eq!(display_name_for(&identity(Some("\u{7}\n"), None)), "Gatehouse user");
        assert_eq!(display_name_for(&identity(Some(&"x".repeat(100)), None)).chars().count(), 64);
    }
}
