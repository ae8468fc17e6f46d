//! The account services behind the profile and dashboard pages and the JSON API: each takes the signed-in person's
//! id from a checked session or token, never from the caller, and writes its audit event in the same transaction as
//! the change it describes.

use std::sync::LazyLock;

use serde_json::{Value, json};

use crate::model::{
    account::{
        ACTIVITY_PAGE_SIZE, ActivityEvent, ActivityPage, DashboardSummary, DashboardView, DisplayName, LinkedIdentity,
        PasswordSummary, ProfileOverview, SessionInfo, SessionList, SignInRecord,
    },
    auth::provider_name,
    error::AppError,
    tokens::TokenList,
};
use crate::server::{
    people::{
        passkeys,
        session::{AuthSession, ClientInfo, SignedIn},
        step_up::Confirmed,
        tokens, useragent, users,
    },
    platform::{
        clock,
        db::{self, Column, Exec, Lists, on},
    },
    security::audit::{self, Event, chain},
    state::AppState,
};

/// A `user_sessions` row.
#[derive(sqlx::FromRow, serde::Deserialize)]
struct SessionRow {
    id: String,
    provider: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
}

/// An `identities` row, with its account's dates.
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(crate) struct IdentityRow {
    id: String,
    provider: String,
    email: Option<String>,
    linked_at: i64,
    /// The kept tokens' state (`connected`, `reconnect`), when the provider's tokens are kept.
    #[serde(default)]
    connection: Option<String>,
}

impl IdentityRow {
    /// Its columns, for `identities`.
    pub(crate) const SELECT: &str = "SELECT id, provider, email, created_at AS linked_at,
                                          (SELECT t.state FROM provider_tokens t
                                           WHERE t.user_id = identities.user_id AND t.provider = identities.provider)
                                              AS connection
                                      FROM identities WHERE user_id = $1 ORDER BY created_at, provider";

    /// As the pages show it: with the provider's name.
    pub(crate) fn linked(self, state: &AppState) -> LinkedIdentity {
        let IdentityRow { id, provider, email, linked_at, connection } = self;
        let provider_label = state.providers.label(&provider).unwrap_or(provider_name(&provider)).to_owned();
        let reconnect_needed = connection.as_deref().map(|c| c == crate::server::auth::connections::RECONNECT);
        LinkedIdentity { id, provider_label, provider, email, linked_at, tokens_kept: reconnect_needed.map(|r| !r) }
    }
}

/// The account's own row for the profile, with its password and two-step state.
#[derive(serde::Deserialize)]
struct AccountRow {
    created_at: i64,
    last_sign_in_at: Option<i64>,
    password_email: Option<String>,
    password_verified_at: Option<i64>,
    two_step_enabled_at: Option<i64>,
    recovery_codes_left: i64,
}

/// An `audit_events` row, as the export shows it.
#[derive(sqlx::FromRow)]
struct EventRow {
    at: i64,
    kind: String,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: String,
}

/// The profile page's data: the person as the session check read them, their sign-in methods (provider identities
/// and a password; every account has at least one, and the last cannot be removed) and the account's dates.
/// The profile's data in one statement (see [`db::Lists`]); `$1` the person.
static PROFILE: LazyLock<Lists> = LazyLock::new(|| {
    Lists::new(&[
        Column::List {
            values: "created_at, last_sign_in_at, password_email, password_verified_at, two_step_enabled_at, \
                     recovery_codes_left",
            from: "SELECT u.created_at, u.last_sign_in_at, p.email AS password_email,
                          p.verified_at AS password_verified_at, t.enabled_at AS two_step_enabled_at,
                          (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL)
                              AS recovery_codes_left
                   FROM users u LEFT JOIN passwords p ON p.user_id = u.id LEFT JOIN totp t ON t.user_id = u.id
                   WHERE u.id = $1",
        },
        Column::List { values: "id, provider, email, linked_at, connection", from: IdentityRow::SELECT },
        Column::List { values: passkeys::PROFILE_VALUES, from: passkeys::PROFILE_SELECT },
    ])
});

pub async fn profile(state: &AppState, signed_in: &SignedIn) -> Result<ProfileOverview, AppError> {
    let user_id = &signed_in.session.user_id;
    // One statement: the account with its password and two-step state (one row, or none), its identities and its
    // passkeys.
    let mut conn = state.db.acquire().await?;
    let exec = conn.as_exec();
    let sql = PROFILE.sql(&exec);
    let (account, identities, passkey_rows): (String, String, String) =
        on!(exec, conn => sqlx::query_as(sql).bind(user_id).fetch_one(conn).await)?;
    drop(conn);
    let account = db::rows::<AccountRow>(&account)?.pop();
    let mut rows: Vec<IdentityRow> = db::rows(&identities)?;
    rows.sort_unstable_by(|a, b| (a.linked_at, &a.provider).cmp(&(b.linked_at, &b.provider)));
    let account = account.ok_or(AppError::Unauthorized)?;
    let (member_since, last_sign_in_at) = (account.created_at, account.last_sign_in_at);
    let identities: Vec<LinkedIdentity> = rows.into_iter().map(|row| row.linked(state)).collect();
    let providers = state.providers.summaries();
    let linkable = providers.iter().filter(|p| !identities.iter().any(|i| i.provider == p.id)).cloned().collect();
    let verified = account.password_verified_at.is_some();
    let password = account.password_email.map(|email| PasswordSummary { email, verified });
    let passkey_rows: Vec<passkeys::PasskeyRow> = db::rows(&passkey_rows)?;
    let passkeys = passkeys::section(state, passkey_rows.into_iter().map(Into::into).collect());
    Ok(ProfileOverview {
        now: clock::now(),
        user: signed_in.user.as_ref().clone(),
        member_since,
        last_sign_in_at,
        identities,
        linkable,
        providers,
        password,
        password_login: state.config.password_login,
        two_step: crate::model::mfa::TwoStep {
            enabled: account.two_step_enabled_at.is_some(),
            recovery_codes_left: u32::try_from(account.recovery_codes_left).unwrap_or(0),
        },
        passkeys,
    })
}

pub async fn rename(state: &AppState, user_id: &str, name: &DisplayName, client: &ClientInfo) -> Result<(), AppError> {
    let mut tx = state.db.begin_write().await?;
    let previous = users::lock(tx.as_exec(), user_id).await?.ok_or(AppError::Unauthorized)?;
    if previous.display_name != name.as_str() {
        on!(tx.as_exec(), conn => sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2")
            .bind(name.as_str())
            .bind(user_id)
            .execute(conn)
            .await
            .map(drop))?;
        audit::record(tx.as_exec(), Event::ProfileUpdated, Some(user_id), client, json!({ "field": "display_name" }))
            .await?;
    }
    tx.commit().await?;
    state.cache.forget_user(user_id);
    Ok(())
}

/// What removing a sign-in method left to do: the provider, and the tokens kept for it (sealed), to revoke there.
pub struct Unlinked {
    pub provider: String,
    pub kept_tokens: Option<(Vec<u8>, Option<Vec<u8>>)>,
}

/// Removes one of the person's sign-in methods, unless it is their last. The person's row is locked first, so two
/// removals at once (on two instances, say) cannot each see the other's method and leave none.
pub async fn unlink(
    state: &AppState,
    confirmed: &Confirmed,
    identity_id: &str,
    client: &ClientInfo,
) -> Result<Unlinked, AppError> {
    let user_id = confirmed.user_id();
    let mut tx = state.db.begin_write().await?;
    users::lock(tx.as_exec(), user_id).await?.ok_or(AppError::Unauthorized)?;
    let provider: Option<String> = on!(tx.as_exec(), conn => {
        sqlx::query_scalar("SELECT provider FROM identities WHERE id = $1 AND user_id = $2")
            .bind(identity_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await
    })?;
    let provider = provider.ok_or(AppError::NotFound)?;
    if users::ways_in(tx.as_exec(), user_id).await? <= 1 {
        return Err(AppError::Conflict(
            "This is your only way to sign in. Link another provider, add a password or a passkey before removing it."
                .into(),
        ));
    }
    on!(tx.as_exec(), conn => sqlx::query("DELETE FROM identities WHERE id = $1").bind(identity_id).execute(conn).await.map(drop))?;
    // Its kept tokens go with it (the caller revokes them at the provider).
    let kept_tokens: Option<(Vec<u8>, Option<Vec<u8>>)> = on!(tx.as_exec(), conn => sqlx::query_as(
        "DELETE FROM provider_tokens WHERE user_id = $1 AND provider = $2 RETURNING access_token, refresh_token",
    )
    .bind(user_id)
    .bind(&provider)
    .fetch_optional(conn)
    .await)?;
    audit::record(tx.as_exec(), Event::IdentityUnlinked, Some(user_id), client, json!({ "provider": provider }))
        .await?;
    tx.commit().await?;
    state.cache.forget_user(user_id);
    Ok(Unlinked { provider, kept_tokens })
}

/// Deletes the account and everything attached to it, in one transaction, once `confirm` matches the email on file
/// (or the display name, for an account without one). The person's earlier audit events lose their link, address
/// and browser; one anonymous `account_deleted` event remains.
pub async fn delete(state: &AppState, confirmed: &Confirmed, confirm: &str) -> Result<(), AppError> {
    let user_id = confirmed.user_id();
    let mut tx = state.db.begin_write().await?;
    let user = users::lock(tx.as_exec(), user_id).await?.ok_or(AppError::Unauthorized)?;
    let confirmed = match &user.email {
        Some(email) => confirm.trim().eq_ignore_ascii_case(email),
        None => confirm.trim() == user.display_name,
    };
    if !confirmed {
        return Err(AppError::Invalid(match user.email {
            Some(_) => "Type your email address exactly as shown to confirm.".into(),
            None => "Type your display name exactly as shown to confirm.".into(),
        }));
    }
    erase(tx.as_exec(), user_id, "deleted by its owner").await?;
    tx.commit().await?;
    state.cache.forget_user(user_id);
    tracing::info!("account deleted");
    Ok(())
}

/// Removes a person and everything of theirs, in the caller's transaction: their earlier audit events lose their
/// link, address and browser (anonymised), and one anonymous `account_deleted` event records it — with the token
/// the anonymised events carry, so the chain shows that a recorded deletion did it.
pub async fn erase(mut tx: Exec<'_>, user_id: &str, why: &str) -> Result<(), sqlx::Error> {
    let erased = clock::random_token(16);
    // Before the person's row goes (its foreign key would clear `user_id` without keeping the chain verifiable).
    let anonymised = audit::chain::anonymise(tx.reborrow(), user_id, &erased).await?;
    let mut removed = on!(tx.reborrow(), conn => {
        let mut removed = serde_json::Map::new();
        for table in ["identities", "passkeys", "user_sessions", "api_tokens"] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE user_id = $1"))
                .bind(user_id)
                .fetch_one(&mut *conn)
                .await?;
            removed.insert(table.into(), n.into());
        }
        // Identities, passkeys, sessions and tokens go with the user (ON DELETE CASCADE); deleted explicitly all the same, so
        // the transaction does not depend on the connection's foreign-key setting.
        for table in ["api_tokens", "user_sessions", "identities", "passkeys", "users"] {
            let key = if table == "users" { "id" } else { "user_id" };
            sqlx::query(&format!("DELETE FROM {table} WHERE {key} = $1")).bind(user_id).execute(&mut *conn).await?;
        }
        Ok::<_, sqlx::Error>(removed)
    })?;
    removed.insert("anonymised".into(), anonymised.into());
    removed.insert("erased".into(), erased.into());
    removed.insert("reason".into(), why.into());
    audit::record(tx, Event::AccountDeleted, None, &ClientInfo::default(), Value::Object(removed)).await
}

/// The dashboard's data, read in one read transaction: one consistent snapshot, one connection. The summary's
/// counts come from the lists themselves (same filters as [`summary`]), and the sign-in methods from the person the
/// session check already read.
/// Everything the dashboard shows, in one statement (see [`db::Lists`]): the live sessions, the tokens that still
/// work, the last two sign-ins, a page of activity with the chain's start to verify it by, and the open "not me"
/// notices. `$1` the person, `$2` now, `$3` the activity page's `before`, `$4` its size plus one.
static DASHBOARD: LazyLock<Lists> = LazyLock::new(|| {
    let activity = format!(
        "SELECT {} FROM audit_events e WHERE e.user_id = $1 AND e.id < $3 ORDER BY e.id DESC LIMIT $4",
        chain::LINKED_COLUMNS
    );
    Lists::new(&[
        Column::List { values: SESSION_VALUES, from: SESSIONS },
        Column::List { values: tokens::TOKEN_VALUES, from: tokens::LIVE_TOKENS },
        Column::List { values: "id, at, ip, detail", from: SIGN_INS },
        Column::List { values: chain::LINKED_VALUES, from: &activity },
        Column::Scalar(chain::CHECKPOINT_SEQ),
        Column::Scalar(chain::CHECKPOINT_HASH),
        Column::List { values: "id, expires_at", from: OPEN_NOTICES },
    ])
});

/// The open "not me" notices of the sign-ins in the activity.
const OPEN_NOTICES: &str =
    "SELECT id, expires_at FROM sign_in_notices WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2";

type DashboardRow = (String, String, String, String, Option<i64>, Option<String>, String);

pub async fn dashboard(state: &AppState, signed_in: &SignedIn, before: Option<i64>) -> Result<DashboardView, AppError> {
    let auth = &signed_in.session;
    let now = clock::now();
    let mut conn = state.db.acquire().await?;
    let exec = conn.as_exec();
    let sql = DASHBOARD.sql(&exec);
    let (sessions, tokens, sign_ins, activity, checkpoint_seq, checkpoint_hash, notices): DashboardRow = on!(exec, conn => sqlx::query_as(sql)
            .bind(&auth.user_id)
            .bind(now)
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(ACTIVITY_PAGE_SIZE) + 1)
            .fetch_one(conn)
            .await)?;
    drop(conn);

    let sessions = session_list(now, db::rows(&sessions)?, Some(&auth.session_id));
    let tokens = tokens::live(db::rows(&tokens)?);
    let mut sign_ins: Vec<(i64, i64, Option<String>, String)> = db::rows(&sign_ins)?;
    sign_ins.sort_unstable_by_key(|&(id, ..)| std::cmp::Reverse(id));
    let last_sign_in = sign_ins.into_iter().nth(1).map(|(_, at, ip, detail)| sign_in_record(at, ip, &detail));
    let linked = db::rows::<chain::LinkedRow>(&activity)?.into_iter().map(chain::Linked::from).collect();
    let start = chain::start_from(checkpoint_seq, checkpoint_hash);
    let mut activity = activity_page(state, linked, &start, ACTIVITY_PAGE_SIZE);
    let open_notices: Vec<(String, i64)> = db::rows(&notices)?;
    for event in activity.events.iter_mut().filter(|e| e.kind == "new_sign_in") {
        let notice = event.detail["notice"].as_str();
        if let Some((id, expires_at)) = open_notices.iter().find(|(id, _)| Some(id.as_str()) == notice) {
            event.not_me = Some(crate::server::people::notices::link(state, id, *expires_at));
        }
    }
    let summary = DashboardSummary {
        now,
        active_sessions: count(sessions.sessions.len()),
        linked_providers: count(signed_in.user.providers.len()),
        api_tokens: count(tokens.len()),
        last_sign_in,
    };
    let tokens = TokenList { now, tokens, allow_non_expiring: state.config.tokens.allow_non_expiring };
    Ok(DashboardView { user: signed_in.user.as_ref().clone(), summary, sessions, tokens, activity })
}

fn count(n: impl TryInto<u32>) -> u32 {
    n.try_into().unwrap_or(u32::MAX)
}

pub async fn summary(mut conn: Exec<'_>, auth: &AuthSession) -> Result<DashboardSummary, AppError> {
    let now = clock::now();
    let (active_sessions, linked_providers, api_tokens): (i64, i64, i64) = on!(conn.reborrow(), conn => sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM user_sessions WHERE user_id = $1 AND expires_at > $2),
                (SELECT COUNT(*) FROM identities WHERE user_id = $1),
                (SELECT COUNT(*) FROM api_tokens WHERE user_id = $1 AND (expires_at IS NULL OR expires_at > $2))",
    )
    .bind(&auth.user_id)
    .bind(now)
    .fetch_one(conn)
    .await)?;
    Ok(DashboardSummary {
        now,
        active_sessions: count(active_sessions),
        linked_providers: count(linked_providers),
        api_tokens: count(api_tokens),
        last_sign_in: previous_sign_in(conn, auth).await?,
    })
}

/// The sign-in before the one that started this session: what a person checks to spot someone else's.
async fn previous_sign_in(conn: Exec<'_>, auth: &AuthSession) -> Result<Option<SignInRecord>, sqlx::Error> {
    let rows: Vec<(i64, Option<String>, String)> = on!(conn, conn => sqlx::query_as(
        "SELECT at, ip, detail FROM audit_events WHERE user_id = $1 AND kind = 'sign_in' ORDER BY id DESC LIMIT 2",
    )
    .bind(&auth.user_id)
    .fetch_all(conn)
    .await)?;
    Ok(rows.into_iter().nth(1).map(|(at, ip, detail)| sign_in_record(at, ip, &detail)))
}

/// The person's last two sign-ins, newest first (`$1` the person).
const SIGN_INS: &str =
    "SELECT id, at, ip, detail FROM audit_events WHERE user_id = $1 AND kind = 'sign_in' ORDER BY id DESC LIMIT 2";

fn sign_in_record(at: i64, ip: Option<String>, detail: &str) -> SignInRecord {
    SignInRecord {
        at,
        ip,
        provider: serde_json::from_str::<Value>(detail).ok().and_then(|d| d["provider"].as_str().map(Into::into)),
    }
}

/// The person's live sessions (`$1` the person, `$2` now), in the order of [`SessionRow`]'s fields.
const SESSIONS: &str = "SELECT id, provider, created_at, last_seen_at, expires_at, ip, user_agent FROM user_sessions
     WHERE user_id = $1 AND expires_at > $2";
const SESSION_VALUES: &str = "id, provider, created_at, last_seen_at, expires_at, ip, user_agent";

/// The person's live sessions, most recently active first; `current` is the session asking, if it is one.
pub async fn sessions(conn: Exec<'_>, user_id: &str, current: Option<&str>) -> Result<SessionList, AppError> {
    let now = clock::now();
    let rows: Vec<SessionRow> = on!(conn, conn => sqlx::query_as(SESSIONS)
    .bind(user_id)
    .bind(now)
    .fetch_all(conn)
    .await)?;
    Ok(session_list(now, rows, current))
}

fn session_list(now: i64, mut rows: Vec<SessionRow>, current: Option<&str>) -> SessionList {
    rows.sort_unstable_by_key(|row| std::cmp::Reverse((row.last_seen_at, row.created_at)));
    let sessions = rows
        .into_iter()
        .map(|row| {
            let device = useragent::parse(row.user_agent.as_deref());
            SessionInfo {
                current: current == Some(row.id.as_str()),
                id: row.id,
                browser: device.browser,
                os: device.os,
                ip: row.ip,
                provider: row.provider,
                created_at: row.created_at,
                last_seen_at: row.last_seen_at,
                expires_at: row.expires_at,
            }
        })
        .collect();
    SessionList { now, sessions }
}

/// Revokes one of `user_id`'s sessions; another person's session id is "not found".
pub async fn revoke_session(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let mut tx = state.db.begin_write().await?;
    let deleted = on!(tx.as_exec(), conn => sqlx::query("DELETE FROM user_sessions WHERE id = $1 AND user_id = $2")
        .bind(session_id)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|done| done.rows_affected()))?;
    if deleted == 0 {
        return Err(AppError::NotFound);
    }
    audit::record(tx.as_exec(), Event::SessionRevoked, Some(user_id), client, json!({ "session": short(session_id) }))
        .await?;
    tx.commit().await?;
    state.cache.forget_session(session_id);
    Ok(())
}

/// Revokes every session of the person except `auth`'s own. API tokens are not touched (the page says so).
pub async fn revoke_other_sessions(state: &AppState, auth: &AuthSession, client: &ClientInfo) -> Result<u32, AppError> {
    let mut tx = state.db.begin_write().await?;
    let deleted = on!(tx.as_exec(), conn => sqlx::query("DELETE FROM user_sessions WHERE user_id = $1 AND id != $2")
        .bind(&auth.user_id)
        .bind(&auth.session_id)
        .execute(conn)
        .await
        .map(|done| done.rows_affected()))?;
    let count = u32::try_from(deleted).unwrap_or(u32::MAX);
    audit::record(tx.as_exec(), Event::OtherSessionsRevoked, Some(&auth.user_id), client, json!({ "count": count }))
        .await?;
    tx.commit().await?;
    // This session's entry goes too; it is simply read again on its next request.
    state.cache.forget_user(&auth.user_id);
    Ok(count)
}

/// A page of the person's security activity, newest first. `before` is an event id from a previous page's `next`.
pub async fn activity(
    state: &AppState,
    mut conn: Exec<'_>,
    user_id: &str,
    before: Option<i64>,
    limit: u32,
) -> Result<ActivityPage, AppError> {
    let rows: Vec<chain::Linked> = on!(conn.reborrow(), conn => sqlx::query_as(&format!(
        "SELECT {} FROM audit_events e WHERE e.user_id = $1 AND e.id < $2 ORDER BY e.id DESC LIMIT $3",
        chain::LINKED_COLUMNS
    ))
    .bind(user_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(i64::from(limit) + 1)
    .fetch_all(conn)
    .await)?;
    let start = chain::start(conn).await?;
    Ok(activity_page(state, rows, &start, limit))
}

/// A page of activity from up to `limit + 1` events (the extra one says there is a next page), in any order.
fn activity_page(state: &AppState, mut rows: Vec<chain::Linked>, start: &(i64, String), limit: u32) -> ActivityPage {
    rows.sort_unstable_by_key(|linked| std::cmp::Reverse(linked.event.id));
    let more = rows.len() > limit as usize;
    let events: Vec<ActivityEvent> = rows
        .into_iter()
        .take(limit as usize)
        .map(|linked| {
            let verified = linked.verified(start);
            let chain::Stored { id, at, kind, ip, user_agent, detail, .. } = linked.event;
            let detail: Value = serde_json::from_str(&detail).unwrap_or_else(|_| json!({}));
            ActivityEvent {
                id,
                at,
                summary: describe(state, &kind, &detail),
                kind,
                ip,
                browser: user_agent.as_deref().map(|ua| {
                    let device = useragent::parse(Some(ua));
                    format!("{} on {}", device.browser, device.os)
                }),
                detail,
                verified,
                not_me: None,
            }
        })
        .collect();
    let next = if more { events.last().map(|e| e.id) } else { None };
    ActivityPage { now: clock::now(), events, next }
}

/// A sentence for an audit event.
pub(crate) fn describe(state: &AppState, kind: &str, detail: &Value) -> String {
    let text = |key: &str| detail[key].as_str().unwrap_or("?").to_owned();
    let provider = || {
        let id = text("provider");
        state.providers.label(&id).map(str::to_owned).unwrap_or_else(|| provider_name(&id).to_owned())
    };
    match kind {
        "sign_in" => match detail["second_factor"].as_str() {
            _ if text("provider") == crate::server::people::session::PASSKEY => "Signed in with a passkey".into(),
            Some("recovery_code") => format!("Signed in with {} and a recovery code", provider()),
            Some("passkey") => format!("Signed in with {} and a passkey", provider()),
            Some(_) => format!("Signed in with {} and an authenticator code", provider()),
            None => format!("Signed in with {}", provider()),
        },
        "sign_in_failed" => format!("Failed sign-in with {} ({})", provider(), text("reason").replace('_', " ")),
        "sign_out" => "Signed out".into(),
        "connection_token_issued" => format!("Gave a program an access token for {}", provider()),
        "provider_security_event" => match (text("event").as_str(), text("reason").as_str()) {
            ("sessions-revoked" | "tokens-revoked", _) => {
                format!("{} signed you out everywhere: your sessions from it here ended", provider())
            }
            ("account-disabled", "hijacking") => format!(
                "{} found your account there taken over: every session, token and app here was ended",
                provider()
            ),
            ("account-disabled", _) => format!("{} disabled your account there", provider()),
            ("account-enabled", _) => format!("{} enabled your account there again", provider()),
            ("account-credential-change-required", _) => {
                format!(
                    "{} asks you to change your password there; sign in with it again to confirm changes",
                    provider()
                )
            }
            ("token-revoked", _) => format!("{} revoked a token it had given Gatehouse", provider()),
            (other, _) => format!("{} reported \u{201c}{other}\u{201d}", provider()),
        },
        "signed_out_at_provider" => match detail["sessions"].as_u64() {
            Some(1) | None => format!("Signed out at {}: its session here ended", provider()),
            Some(n) => format!("Signed out at {}: {n} sessions here ended", provider()),
        },
        "account_created" => format!("Account created with {}", provider()),
        "identity_linked" => format!("Linked {}", provider()),
        "identity_unlinked" => format!("Removed {}", provider()),
        "link_failed" => format!("Could not link {} ({})", provider(), text("reason").replace('_', " ")),
        "profile_updated" => "Changed display name".into(),
        "session_revoked" => "Revoked a session".into(),
        "other_sessions_revoked" => match detail["count"].as_u64() {
            Some(1) => "Signed out 1 other session".into(),
            Some(n) => format!("Signed out {n} other sessions"),
            None => "Signed out other sessions".into(),
        },
        "token_created" => format!("Created API token \u{201c}{}\u{201d}", text("name")),
        "address_not_allowed" => match detail["token"].as_str() {
            Some(_) => format!(
                "API token \u{201c}{}\u{201d} refused: used from an address it is not allowed from",
                text("name")
            ),
            None => format!("\u{201c}{}\u{201d} refused: called from an address it is not allowed from", text("name")),
        },
        "new_sign_in" => format!("Signed in from a new browser or network: {} ({})", text("browser"), text("network")),
        "sign_in_disowned" => "Signed out a sign-in you did not recognise, and revoked its tokens".into(),
        "account_disabled" => "Account disabled by an administrator".into(),
        "account_enabled" => "Account enabled again by an administrator".into(),
        "block_lifted" => format!("Lifted the block on {}", text("address")),
        "audit_exported" => format!("Exported {} events of security activity", detail["events"].as_u64().unwrap_or(0)),
        "token_used" => format!("API token \u{201c}{}\u{201d} used from a new address", text("name")),
        "token_revoked" => match detail["minted_tokens_revoked"].as_u64() {
            Some(n) if n > 0 => format!("Revoked API token \u{201c}{}\u{201d} and {n} it created", text("name")),
            _ => format!("Revoked API token \u{201c}{}\u{201d}", text("name")),
        },
        "all_tokens_revoked" => match detail["count"].as_u64() {
            Some(1) => "Revoked your API token".into(),
            Some(n) => format!("Revoked all {n} API tokens"),
            None => "Revoked all API tokens".into(),
        },
        "password_set" => "Added a password".into(),
        "password_changed" => "Changed password".into(),
        "password_reset" => "Reset password by email".into(),
        "account_recovered" => "Recovered the account by email with a new passkey".into(),
        "email_verified" => "Confirmed email address".into(),
        "account_locked" => match text("reason").as_str() {
            "wrong_code" => "Sign-in paused after repeated wrong codes".into(),
            _ => "Password sign-in paused after repeated wrong passwords".into(),
        },
        "mfa_enabled" => "Turned on two-step verification".into(),
        "mfa_disabled" => "Turned off two-step verification".into(),
        "mfa_failed" => "Wrong two-step verification code".into(),
        "recovery_codes_regenerated" => "Made new recovery codes".into(),
        "step_up" => match detail["method"].as_str() {
            Some("passkey") => "Confirmed it was you with a passkey".into(),
            _ => "Confirmed it was you".into(),
        },
        "passkey_added" => format!("Added the passkey \u{201c}{}\u{201d}", text("name")),
        "passkey_renamed" => format!("Renamed a passkey to \u{201c}{}\u{201d}", text("name")),
        "passkey_removed" => format!("Removed the passkey \u{201c}{}\u{201d}", text("name")),
        "passkey_refused" => match text("reason").as_str() {
            "counter_went_back" => format!(
                "The passkey \u{201c}{}\u{201d} was refused: its device's counter went back, so it may have been copied",
                text("name")
            ),
            reason => {
                format!("The passkey \u{201c}{}\u{201d} was refused ({})", text("name"), reason.replace('_', " "))
            }
        },
        "app_registered" => format!("Registered the app \u{201c}{}\u{201d}", text("name")),
        "app_removed" => format!("Removed the app \u{201c}{}\u{201d}", text("name")),
        "app_authorized" => format!("Allowed \u{201c}{}\u{201d} access ({})", text("name"), text("scope")),
        "app_revoked" => format!("Revoked access for \u{201c}{}\u{201d}", text("name")),
        "app_token_reused" => format!(
            "An old {} for \u{201c}{}\u{201d} was used again: its access was ended",
            text("what").replace('_', " "),
            text("name")
        ),
        other => other.replace('_', " "),
    }
}

/// Enough of an id to tell rows apart in the audit trail.
fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

/// Everything stored about the person, as one JSON document: profile, sign-in methods, sessions, security activity
/// and token metadata (never token secrets or hashes, never anyone else's rows).
pub async fn export(state: &AppState, user_id: &str) -> Result<Value, AppError> {
    let user = crate::server::people::users::find(&state.db, user_id).await?.ok_or(AppError::Unauthorized)?;
    let mut conn = state.db.begin_read().await?;
    let (identities, sessions, events) = on!(conn.as_exec(), conn => {
        let identities: Vec<(String, String, String, Option<String>, i64)> = sqlx::query_as(
            "SELECT provider, issuer, subject, email, created_at FROM identities WHERE user_id = $1 ORDER BY created_at",
        )
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?;
        let sessions: Vec<SessionRow> = sqlx::query_as(
            "SELECT id, provider, created_at, last_seen_at, expires_at, ip, user_agent FROM user_sessions
             WHERE user_id = $1 ORDER BY created_at",
        )
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?;
        let events: Vec<EventRow> = sqlx::query_as(
            "SELECT at, kind, ip, user_agent, detail FROM audit_events WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?;
        Ok::<_, sqlx::Error>((identities, sessions, events))
    })?;
    let tokens = tokens::list(conn.as_exec(), user_id).await?;
    // The password and two-step verification: dates and counts only, never a hash, a seed or a code.
    let (password, two_step) = on!(conn.as_exec(), conn => {
        let password: Option<(String, Option<i64>, i64, i64)> = sqlx::query_as(
            "SELECT email, verified_at, created_at, updated_at FROM passwords WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?;
        let two_step: Option<(Option<i64>, i64)> = sqlx::query_as(
            "SELECT t.enabled_at,
                    (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = t.user_id AND r.used_at IS NULL)
             FROM totp t WHERE t.user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
        Ok::<_, sqlx::Error>((password, two_step))
    })?;
    conn.commit().await?;
    // Passkeys: names, dates and flags, never the public key or the credential's id.
    let passkeys = crate::server::people::passkeys::list(&state.db, user_id).await?;
    let time = |at: i64| crate::model::time::iso(at);
    Ok(json!({
        "exported_at": time(clock::now()),
        "profile": {
            "id": user.id,
            "display_name": user.display_name,
            "email": user.email,
            "email_verified": user.email_verified,
            "avatar_url": user.avatar_url,
            "created_at": time(user.created_at),
            "last_sign_in_at": user.last_sign_in_at.map(time),
        },
        "identities": identities.into_iter().map(|(provider, issuer, subject, email, at)| json!({
            "provider": provider, "issuer": issuer, "subject": subject, "email": email, "linked_at": time(at),
        })).collect::<Vec<_>>(),
        "sessions": sessions.into_iter().map(|s| json!({
            "id": s.id, "provider": s.provider, "created_at": time(s.created_at),
            "last_seen_at": time(s.last_seen_at), "expires_at": time(s.expires_at), "ip": s.ip,
            "user_agent": s.user_agent,
        })).collect::<Vec<_>>(),
        "security_activity": events.into_iter().map(|e| json!({
            "at": time(e.at), "kind": e.kind, "ip": e.ip, "user_agent": e.user_agent,
            "detail": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null),
        })).collect::<Vec<_>>(),
        "password": password.map(|(email, verified_at, created_at, updated_at)| json!({
            "email": email, "verified_at": verified_at.map(time), "created_at": time(created_at),
            "changed_at": time(updated_at),
        })),
        "passkeys": passkeys.into_iter().map(|p| json!({
            "name": p.name, "created_at": time(p.created_at), "last_used_at": p.last_used_at.map(time),
            "synced": p.synced, "backed_up": p.backed_up,
        })).collect::<Vec<_>>(),
        "two_step_verification": two_step.map(|(enabled_at, left)| json!({
            "enabled_at": enabled_at.map(time), "recovery_codes_left": left,
        })),
        "api_tokens": tokens.into_iter().map(|t| json!({
            "id": t.id, "name": t.name, "scopes": t.scopes, "created_at": time(t.created_at),
            "expires_at": t.expires_at.map(time), "last_used_at": t.last_used_at.map(time),
            "last_used_ip": t.last_used_ip,
        })).collect::<Vec<_>>(),
    }))
}

/// `GET /account/export`: the export as a file download, for the signed-in person.
pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/account/export", axum::routing::get(download_export))
}

async fn download_export(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: crate::server::people::session::Caller,
) -> axum::response::Response {
    use axum::{
        http::{StatusCode, header},
        response::{IntoResponse, Redirect},
    };
    let failed = || {
        let page = crate::server::web::error_page::render(
            "Your export could not be prepared",
            "Something went wrong on our side. Please try again in a minute.",
            ("Back to your profile", "/profile"),
        );
        (StatusCode::INTERNAL_SERVER_ERROR, page).into_response()
    };
    let Some(signed_in) = caller.signed_in() else {
        return Redirect::to("/login?next=%2Fprofile").into_response();
    };
    match export(&state, &signed_in.session.user_id)
        .await
        .and_then(|doc| serde_json::to_string_pretty(&doc).map_err(AppError::internal))
    {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/json; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"gatehouse-export.json\""),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(AppError::Unauthorized) => Redirect::to("/login?next=%2Fprofile").into_response(),
        Err(_) => failed(),
    }
}

/// The dashboard's summary, read on its own (after an action changed it).
pub async fn read_summary(state: &AppState, auth: &AuthSession) -> Result<DashboardSummary, AppError> {
    summary(state.db.acquire().await?.as_exec(), auth).await
}

/// The person's live sessions, this one marked, read on their own.
pub async fn read_sessions(state: &AppState, auth: &AuthSession) -> Result<SessionList, AppError> {
    sessions(state.db.acquire().await?.as_exec(), &auth.user_id, Some(&auth.session_id)).await
}

/// A page of the person's security activity, newest first; `before` is the previous page's `next`.
pub async fn read_activity(state: &AppState, user_id: &str, before: Option<i64>) -> Result<ActivityPage, AppError> {
    activity(state, state.db.acquire().await?.as_exec(), user_id, before, ACTIVITY_PAGE_SIZE).await
}
