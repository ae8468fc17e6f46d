//! What the admin area reads and changes, and who may use it: an administrator is a signed-in person whose verified
//! email address is in `ADMIN_EMAILS`, calling from `ADMIN_ALLOWED_IPS` (when set), in a session that passed a
//! second factor when local (password) accounts exist or may be made. Anyone else gets 404, as if there were nothing
//! here. Every change made here, and every export, is an audit event.

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::model::{
    admin::{
        AUDIT_PAGE_SIZE, AdminAudit, AdminOverview, AdminPerson, AuditFilter, AuditRow, BlockInForce, ChainStatus,
        PEOPLE_PAGE_SIZE, PersonSummary,
    },
    error::AppError,
};
use crate::server::{
    oauth::clients,
    people::{
        accounts::{self, IdentityRow},
        session::{ClientInfo, SignedIn},
        step_up::Confirmed,
        tokens, useragent,
    },
    platform::{
        clock,
        db::{Exec, on},
    },
    security::{
        audit::{self, Event, chain, watch::Checked},
        rate_limit,
    },
    state::AppState,
};

/// The most events one export holds (the newest that match).
pub const EXPORT_LIMIT: u32 = 10_000;

/// A checked administrator.
#[derive(Clone, Debug)]
pub struct Admin {
    pub user_id: String,
    pub email: String,
}

/// The administrator behind this server function call, or `NotFound`.
pub async fn require_from_context() -> Result<(AppState, Admin), AppError> {
    let (state, signed_in) = crate::server::web::context::signed_in_person()?;
    let ip = crate::server::web::context::client_addr();
    let admin = require(&state, &signed_in, ip).await?;
    Ok((state, admin))
}

/// The operator's email address, if `signed_in`, calling from `ip`, is one of `ADMIN_EMAILS` (verified) from
/// an address of `ADMIN_ALLOWED_IPS`: who is shown the admin area at all. [`require`] adds the second-factor rule.
pub fn operator(state: &AppState, signed_in: &SignedIn, ip: Option<IpAddr>) -> Option<String> {
    let operators = &state.config.operators;
    let user = &signed_in.user;
    let email = user.email.as_deref().filter(|_| user.email_verified).map(str::to_lowercase)?;
    let reachable = ip.is_some_and(|ip| operators.admin_reachable_from(ip));
    (reachable && operators.admin_emails.contains(&email)).then_some(email)
}

/// Checks that `signed_in`, calling from `ip`, may use the admin area.
pub async fn require(state: &AppState, signed_in: &SignedIn, ip: Option<IpAddr>) -> Result<Admin, AppError> {
    let user = &signed_in.user;
    let Some(email) = operator(state, signed_in, ip) else { return Err(AppError::NotFound) };
    if two_step_required(state).await? {
        if !two_step_on(state, &user.id).await? {
            return Err(AppError::Forbidden(
                "The admin area needs two-step verification: turn it on from your profile, then come back.".into(),
            ));
        }
        // What counts is what this session did, not what the account has: a session that signed in with one
        // factor (or before two-step was turned on) confirms with a code first.
        let assurance = crate::server::people::session::Assurance::of(&state.db, &signed_in.session.session_id).await?;
        if !assurance.is_some_and(|a| a.passed_second_factor()) {
            return Err(AppError::ConfirmIdentity);
        }
    }
    Ok(Admin { user_id: user.id.clone(), email })
}

/// Local accounts exist, or may be made: then an administrator needs a second factor.
async fn two_step_required(state: &AppState) -> Result<bool, sqlx::Error> {
    if state.config.password_login {
        return Ok(true);
    }
    on!(&state.db, pool => sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM passwords)").fetch_one(pool).await)
}

async fn two_step_on(state: &AppState, user_id: &str) -> Result<bool, sqlx::Error> {
    let mut conn = state.db.acquire().await?;
    crate::server::people::mfa::is_enabled(conn.as_exec(), user_id).await
}

#[derive(sqlx::FromRow)]
struct PersonRow {
    id: String,
    display_name: String,
    email: Option<String>,
    created_at: i64,
    last_sign_in_at: Option<i64>,
    disabled_at: Option<i64>,
    attention: Option<String>,
    attention_at: Option<i64>,
    sessions: i64,
}

impl From<PersonRow> for PersonSummary {
    fn from(row: PersonRow) -> Self {
        let PersonRow {
            id,
            display_name,
            email,
            created_at,
            last_sign_in_at,
            disabled_at,
            attention,
            attention_at,
            sessions,
        } = row;
        let attention = attention.zip(attention_at);
        Self { id, display_name, email, created_at, last_sign_in_at, disabled_at, attention, sessions }
    }
}

const PERSON_COLUMNS: &str = "u.id, u.display_name, u.email, u.created_at, u.last_sign_in_at, u.disabled_at,
    u.attention, u.attention_at,
    (SELECT COUNT(*) FROM user_sessions s WHERE s.user_id = u.id AND s.expires_at > $1) AS sessions";

/// `text` as a `LIKE` pattern that matches it anywhere, in lower case, its own `%` and `_` taken literally.
fn contains_pattern(text: &str) -> String {
    let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// People whose name, email (or a provider identity's email) contains `query`, or whose id it is; newest first.
pub async fn overview(state: &AppState, query: &str) -> Result<AdminOverview, AppError> {
    let query: String = query.trim().chars().take(200).collect();
    let now = clock::now();
    let sql = format!(
        "SELECT {PERSON_COLUMNS} FROM users u
         WHERE $2 = '' OR u.id = $2 OR LOWER(u.display_name) LIKE $3 ESCAPE '\\'
            OR LOWER(COALESCE(u.email, '')) LIKE $3 ESCAPE '\\'
            OR EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id
                       AND LOWER(COALESCE(i.email, '')) LIKE $3 ESCAPE '\\')
         ORDER BY u.created_at DESC, u.id LIMIT $4"
    );
    let rows: Vec<PersonRow> = on!(&state.db, pool => sqlx::query_as(&sql)
        .bind(now)
        .bind(&query)
        .bind(contains_pattern(&query))
        .bind(i64::from(PEOPLE_PAGE_SIZE) + 1)
        .fetch_all(pool)
        .await)?;
    let more = rows.len() > PEOPLE_PAGE_SIZE as usize;
    let people = rows.into_iter().take(PEOPLE_PAGE_SIZE as usize).map(PersonSummary::from).collect();
    let blocks = rate_limit::blocks_in_force(&state.db)
        .await?
        .into_iter()
        .map(|b| BlockInForce {
            address: b.address,
            blocked_at: b.blocked_at,
            ends_at: b.ends_at,
            failures: b.failures,
            times: b.times,
        })
        .collect();
    let untrusted_local_proxy = state.untrusted_local_proxy.load(std::sync::atomic::Ordering::Relaxed);
    Ok(AdminOverview { now, query, people, more, blocks, untrusted_local_proxy })
}

async fn summary(conn: Exec<'_>, user_id: &str) -> Result<Option<PersonSummary>, sqlx::Error> {
    let sql = format!("SELECT {PERSON_COLUMNS} FROM users u WHERE u.id = $2");
    let row: Option<PersonRow> =
        on!(conn, conn => sqlx::query_as(&sql).bind(clock::now()).bind(user_id).fetch_optional(conn).await)?;
    Ok(row.map(PersonSummary::from))
}

/// One person in full: sign-in methods, sessions, tokens, apps and recent activity.
pub async fn person(state: &AppState, admin: &Admin, user_id: &str) -> Result<AdminPerson, AppError> {
    let mut conn = state.db.begin_read().await?;
    let person = summary(conn.as_exec(), user_id).await?.ok_or(AppError::NotFound)?;
    let (identities, password_email): (Vec<IdentityRow>, Option<String>) = on!(conn.as_exec(), conn => {
        let identities = sqlx::query_as(IdentityRow::SELECT)
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?;
        let password = sqlx::query_scalar("SELECT email FROM passwords WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
        Ok::<_, sqlx::Error>((identities, password))
    })?;
    let two_step = crate::server::people::mfa::is_enabled(conn.as_exec(), user_id).await?;
    let sessions = accounts::sessions(conn.as_exec(), user_id, None).await?.sessions;
    let tokens = tokens::list(conn.as_exec(), user_id).await?;
    let activity = accounts::activity(state, conn.as_exec(), user_id, None, 50).await?.events;
    drop(conn);
    let identities = identities.into_iter().map(|row| row.linked(state)).collect();
    let apps = crate::server::oauth::apps::authorized(state, user_id).await?;
    let registered_apps = clients::list(&state.db, Some(user_id)).await?.into_iter().map(|c| (c.id, c.name)).collect();
    Ok(AdminPerson {
        now: clock::now(),
        is_self: person.id == admin.user_id,
        person,
        two_step,
        password_email,
        identities,
        sessions,
        tokens,
        apps,
        registered_apps,
        activity,
    })
}

/// Disables an account: at once, in one transaction, its sessions end, its tokens are revoked and its apps'
/// authorizations end (with their refresh tokens and unused codes); from then on it cannot sign in, and is told so.
pub async fn disable(
    state: &AppState,
    admin: &Admin,
    _confirmed: &Confirmed,
    user_id: &str,
    who: &ClientInfo,
) -> Result<(), AppError> {
    if user_id == admin.user_id {
        return Err(AppError::Conflict("You cannot disable your own account here.".into()));
    }
    let mut tx = state.db.begin_write().await?;
    let user = crate::server::people::users::lock(tx.as_exec(), user_id).await?.ok_or(AppError::NotFound)?;
    if crate::server::people::users::is_disabled(tx.as_exec(), user_id).await? {
        return Ok(());
    }
    let now = clock::now();
    on!(tx.as_exec(), conn => sqlx::query("UPDATE users SET disabled_at = $1, disabled_by = $2 WHERE id = $3")
        .bind(now)
        .bind(&admin.user_id)
        .bind(user_id)
        .execute(conn)
        .await
        .map(drop))?;
    let ended = crate::server::people::revocation::end(
        tx.as_exec(),
        user_id,
        crate::server::people::revocation::Which::Everything,
    )
    .await?;
    let (sessions, tokens, apps) = (ended.sessions, ended.tokens.len(), ended.app_authorizations);
    // The apps they registered are suspended too, for everyone: whoever is behind the account should not keep an
    // app that others sign in to. What those apps held ends now; enabling the person lifts the suspension.
    let (suspended, others_grants) = on!(tx.as_exec(), conn => {
        let suspended = sqlx::query("UPDATE oauth_clients SET suspended_at = $1 WHERE owner_id = $2 AND suspended_at IS NULL")
            .bind(now)
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        let mine = "SELECT id FROM oauth_clients WHERE owner_id = $1";
        let grants: Vec<String> =
            sqlx::query_scalar(&format!("DELETE FROM oauth_authorizations WHERE client_id IN ({mine}) RETURNING id"))
                .bind(user_id)
                .fetch_all(&mut *conn)
                .await?;
        for table in ["oauth_codes", "oauth_device_codes"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE client_id IN ({mine})"))
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
        }
        Ok::<_, sqlx::Error>((suspended, grants))
    })?;
    let detail = json!({
        "admin": admin.user_id, "admin_email": admin.email, "name": user.display_name,
        "sessions_ended": sessions, "tokens_revoked": tokens, "app_authorizations_ended": apps,
        "apps_suspended": suspended, "their_apps_authorizations_ended": others_grants.len(),
    });
    audit::record(tx.as_exec(), Event::AccountDisabled, Some(user_id), who, detail).await?;
    tx.commit().await?;
    ended.forget(&state.cache, user_id);
    for grant in &others_grants {
        state.cache.forget_grant(grant);
    }
    tracing::warn!(%user_id, admin = %admin.user_id, "account disabled");
    Ok(())
}

/// Lets a disabled account sign in again (what disabling ended stays ended).
pub async fn enable(
    state: &AppState,
    admin: &Admin,
    _confirmed: &Confirmed,
    user_id: &str,
    who: &ClientInfo,
) -> Result<(), AppError> {
    let mut tx = state.db.begin_write().await?;
    let user = crate::server::people::users::lock(tx.as_exec(), user_id).await?.ok_or(AppError::NotFound)?;
    let changed = on!(tx.as_exec(), conn => sqlx::query(
        "UPDATE users SET disabled_at = NULL, disabled_by = NULL WHERE id = $1 AND disabled_at IS NOT NULL",
    )
    .bind(user_id)
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    on!(tx.as_exec(), conn => sqlx::query("UPDATE oauth_clients SET suspended_at = NULL WHERE owner_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(drop))?;
    if changed > 0 {
        let detail = json!({ "admin": admin.user_id, "admin_email": admin.email, "name": user.display_name });
        audit::record(tx.as_exec(), Event::AccountEnabled, Some(user_id), who, detail).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Lifts a block in force on `address` (as the blocks list names it).
pub async fn lift(
    state: &AppState,
    admin: &Admin,
    _confirmed: &Confirmed,
    address: &str,
    who: &ClientInfo,
) -> Result<(), AppError> {
    let subject = rate_limit::Subject::from_listed(address).ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin_write().await?;
    let now = clock::now();
    let ended = on!(tx.as_exec(), conn => sqlx::query(
        "UPDATE address_blocks SET ends_at = $1 WHERE address = $2 AND ends_at > $1",
    )
    .bind(now)
    .bind(subject.as_str())
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    if ended == 0 {
        return Err(AppError::NotFound);
    }
    let detail = json!({ "address": subject.as_str(), "admin_email": admin.email });
    audit::record(tx.as_exec(), Event::BlockLifted, Some(&admin.user_id), who, detail).await?;
    tx.commit().await?;
    state.limiter.lift(&subject).await.map_err(AppError::internal)?;
    Ok(())
}

/// The filters, parsed: what the SQL binds.
struct Parsed {
    kind: String,
    user_id: String,
    address: String,
    from: i64,
    to: i64,
    before: i64,
}

async fn parse_filter(state: &AppState, filter: &AuditFilter) -> Result<Parsed, AppError> {
    let kind = filter.kind.trim();
    if !kind.is_empty() && !Event::ALL.iter().any(|e| e.as_str() == kind) {
        return Err(AppError::Invalid(format!("\u{201c}{kind}\u{201d} is not a kind of event.")));
    }
    let person = filter.person.trim();
    let user_id = if person.is_empty() {
        String::new()
    } else {
        let found: Option<String> = on!(&state.db, pool => sqlx::query_scalar(
            "SELECT id FROM users WHERE id = $1 OR LOWER(email) = $2
             UNION SELECT user_id FROM identities WHERE LOWER(email) = $2 LIMIT 1",
        )
        .bind(person)
        .bind(person.to_lowercase())
        .fetch_optional(pool)
        .await)?;
        // Nobody by that name: nothing matches (an id no row has).
        found.unwrap_or_else(|| "-".into())
    };
    let address = filter.address.trim();
    if !address.is_empty() && address.parse::<IpAddr>().is_err() {
        return Err(AppError::Invalid(format!("\u{201c}{address}\u{201d} is not an IP address.")));
    }
    let time = |raw: &str, end: bool| -> Result<Option<i64>, AppError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        parse_time(raw, end)
            .map(Some)
            .ok_or_else(|| AppError::Invalid(format!("\u{201c}{raw}\u{201d} is not a date (YYYY-MM-DD) or a time.")))
    };
    Ok(Parsed {
        kind: kind.to_owned(),
        user_id,
        address: address.to_owned(),
        from: time(&filter.from, false)?.unwrap_or(0),
        to: time(&filter.to, true)?.unwrap_or(i64::MAX),
        before: filter.before.unwrap_or(i64::MAX),
    })
}

/// `YYYY-MM-DD` (the whole day: its start, or with `end` its last second) or `YYYY-MM-DDTHH:MM[:SS]`, in UTC.
fn parse_time(raw: &str, end: bool) -> Option<i64> {
    use chrono::{NaiveDate, NaiveDateTime};
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let time = if end { date.and_hms_opt(23, 59, 59)? } else { date.and_hms_opt(0, 0, 0)? };
        return Some(time.and_utc().timestamp());
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
        .map(|time| time.and_utc().timestamp())
}

#[derive(sqlx::FromRow)]
struct AuditEventRow {
    #[sqlx(flatten)]
    linked: chain::Linked,
    person: Option<String>,
}

/// The events that match, newest first, at most `limit`.
async fn events(state: &AppState, parsed: &Parsed, limit: u32) -> Result<Vec<AuditRow>, AppError> {
    let sql = format!(
        "SELECT {}, u.display_name AS person FROM audit_events e LEFT JOIN users u ON u.id = e.user_id
         WHERE ($1 = '' OR e.kind = $1) AND ($2 = '' OR e.user_id = $2) AND ($3 = '' OR e.ip = $3)
           AND e.at >= $4 AND e.at <= $5 AND e.id < $6
         ORDER BY e.id DESC LIMIT $7",
        chain::LINKED_COLUMNS
    );
    let rows: Vec<AuditEventRow> = on!(&state.db, pool => sqlx::query_as(&sql)
        .bind(&parsed.kind)
        .bind(&parsed.user_id)
        .bind(&parsed.address)
        .bind(parsed.from)
        .bind(parsed.to)
        .bind(parsed.before)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|AuditEventRow { linked, person }| {
            let chain::Stored { id, seq, at, kind, detail, user_id, ip, user_agent, .. } = linked.event;
            let detail: Value = serde_json::from_str(&detail).unwrap_or_else(|_| json!({}));
            AuditRow {
                id,
                seq,
                at,
                summary: accounts::describe(state, &kind, &detail),
                kind,
                user_id,
                person,
                ip,
                browser: user_agent.as_deref().map(|ua| {
                    let device = useragent::parse(Some(ua));
                    format!("{} on {}", device.browser, device.os)
                }),
                detail,
            }
        })
        .collect())
}

/// The audit viewer: a page of events that match, and whether the whole chain verified when last checked.
pub async fn audit_page(state: &AppState, filter: AuditFilter) -> Result<AdminAudit, AppError> {
    let parsed = parse_filter(state, &filter).await?;
    let mut events = events(state, &parsed, AUDIT_PAGE_SIZE + 1).await?;
    let next = if events.len() > AUDIT_PAGE_SIZE as usize {
        events.truncate(AUDIT_PAGE_SIZE as usize);
        events.last().map(|e| e.id)
    } else {
        None
    };
    let chain = chain_status(state.chain.status(&state.db).await);
    let kinds = Event::ALL.iter().map(|e| e.as_str().to_owned()).collect();
    Ok(AdminAudit { now: clock::now(), filter, kinds, events, next, chain: Some(chain) })
}

/// What the page shows of a full check of the chain (`None`: the first is still running).
fn chain_status(checked: Option<Checked>) -> ChainStatus {
    let Some(checked) = checked else {
        return ChainStatus { checked_at: None, took_ms: 0, verifies: false, events: 0, anonymised: 0, problem: None };
    };
    let (checked_at, took_ms) = (Some(checked.at), checked.took.as_millis() as u64);
    match checked.outcome {
        Ok(report) => ChainStatus {
            checked_at,
            took_ms,
            verifies: report.problem.is_none(),
            events: report.events,
            anonymised: report.anonymised,
            problem: report.problem.map(|p| p.to_string()),
        },
        Err(error) => ChainStatus {
            checked_at,
            took_ms,
            verifies: false,
            events: 0,
            anonymised: 0,
            problem: Some(format!("the security activity could not be read ({error})")),
        },
    }
}

/// The newest [`EXPORT_LIMIT`] events that match `filter`, for a download as `format` (`csv`, the default, or
/// `json`), recorded as an export by `admin`.
pub async fn export_events(
    state: &AppState,
    admin: &Admin,
    who: &ClientInfo,
    format: &str,
    filter: &AuditFilter,
) -> Result<(&'static str, Vec<AuditRow>), AppError> {
    let format = match format {
        "csv" | "" => "csv",
        "json" => "json",
        other => return Err(AppError::Invalid(format!("\u{201c}{other}\u{201d}: choose csv or json."))),
    };
    let parsed = parse_filter(state, filter).await?;
    let events = events(state, &parsed, EXPORT_LIMIT).await?;
    let detail = json!({
        "format": format, "events": events.len(), "kind": parsed.kind, "person": parsed.user_id,
        "address": parsed.address, "admin_email": admin.email,
    });
    audit::record_on(&state.db, Event::AuditExported, Some(&admin.user_id), who, detail).await?;
    Ok((format, events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_days_or_minutes_in_utc() {
        assert_eq!(parse_time("2026-12-03", false), Some(1_796_256_000));
        assert_eq!(parse_time("2026-12-03", true), Some(1_796_256_000 + 86_399));
        assert_eq!(parse_time("2026-12-03T10:30", false), Some(1_796_256_000 + 37_800));
        assert_eq!(parse_time("yesterday", false), None);
    }

    #[test]
    fn search_text_is_taken_literally() {
        assert_eq!(contains_pattern("A_b%"), "%a\\_b\\%%");
    }
}
