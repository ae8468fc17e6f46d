//! New-sign-in notices: when a person signs in from a browser and network never seen for them, they are told — by
//! email when mail is configured, and in their security activity — with a "this wasn't me" link that ends that
//! session, revokes the tokens made in it, and shows them how to secure the account.
//!
//! A browser is its family and system without versions ("Firefox on Linux": an update is not a new browser); a
//! network is the address's IPv4 /24 or IPv6 /64 (a phone moving between addresses of one provider is not new).
//! The first sign-in Gatehouse knows of for a person (a new account, or the first after this release) only records
//! the pair: there is nothing to compare it with.
//!
//! The link carries the notice's id and expiry, sealed with `SECRET_KEY` (so it cannot be made or altered), and
//! works once, for [`NOTICE_LIFETIME_SECS`]. Opening it (`GET`) only asks; the change is a `POST` from that page, so a
//! mail scanner that follows links ends nothing.

use axum::{
    Form, Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::json;

use crate::model::error::AppError;
use crate::server::{
    people::{
        revocation::{self, Which},
        session::ClientInfo,
        useragent,
    },
    platform::{clock, db::on, mail::Mail, secret_key::Purpose},
    security::{
        audit::{self, Event},
        networks::canonical,
    },
    state::AppState,
    web::error_page::{self, escape},
};

/// How long a notice's link works.
pub const NOTICE_LIFETIME_SECS: i64 = 7 * 86_400;
/// What the sealed link is bound to.
const SEALED_FOR: &str = "sign-in notice";

pub fn router() -> Router<AppState> {
    Router::new().route("/account/not-me", get(ask).post(disown))
}

/// "Firefox on Linux": the browser's family and system, without versions.
pub fn browser_family(user_agent: Option<&str>) -> String {
    let device = useragent::parse(user_agent);
    let unversioned = |text: &str| -> String {
        text.split_whitespace()
            .take_while(|w| !w.starts_with(|c: char| c.is_ascii_digit()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!("{} on {}", unversioned(&device.browser), unversioned(&device.os))
}

/// The address's IPv4 /24 or IPv6 /64, as text; "unknown" without one.
pub fn network(ip: Option<&str>) -> String {
    let Some(ip) = ip.and_then(|ip| ip.parse::<std::net::IpAddr>().ok()) else { return "unknown".into() };
    let prefix = if canonical(ip).is_ipv4() { 24 } else { 64 };
    ipnet::IpNet::new(canonical(ip), prefix).map(|net| net.trunc().to_string()).unwrap_or_else(|_| ip.to_string())
}

/// After a sign-in has committed: notes the browser and network, and tells the person when the pair is new. A
/// failure here is logged, never the sign-in's.
pub async fn after_sign_in(state: &AppState, user_id: &str, session_id: &str, client: &ClientInfo) {
    if let Err(error) = note(state, user_id, session_id, client).await {
        tracing::error!(%error, %user_id, "could not record the sign-in's browser and network");
    }
}

async fn note(state: &AppState, user_id: &str, session_id: &str, client: &ClientInfo) -> Result<(), AppError> {
    let browser = browser_family(client.user_agent.as_deref());
    let network = network(client.ip.as_deref());
    let now = clock::now();
    // A browser and network seen before (most sign-ins): one statement, no transaction around it.
    let known = on!(&state.db, pool => sqlx::query(
        "UPDATE known_devices SET last_seen_at = $1 WHERE user_id = $2 AND browser = $3 AND network = $4",
    )
    .bind(now)
    .bind(user_id)
    .bind(&browser)
    .bind(&network)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))?;
    if known > 0 {
        return Ok(());
    }
    // A new pair: counted and recorded together, and a sign-in at the same moment recording it too finds it there.
    let mut tx = state.db.begin_write().await?;
    let (seen_before, inserted) = on!(tx.as_exec(), conn => {
        let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM known_devices WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO known_devices (user_id, browser, network, first_seen_at, last_seen_at)
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(&browser)
        .bind(&network)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        Ok::<_, sqlx::Error>((seen, inserted))
    })?;
    // The first pair Gatehouse knows of for this person, or one a sign-in at the same moment just recorded.
    if seen_before == 0 || inserted == 0 {
        tx.commit().await?;
        return Ok(());
    }
    let id = clock::new_id();
    let expires_at = now + NOTICE_LIFETIME_SECS;
    on!(tx.as_exec(), conn => sqlx::query(
        "INSERT INTO sign_in_notices (id, user_id, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(session_id)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await
    .map(drop))?;
    let detail = json!({ "notice": id, "browser": browser, "network": network });
    audit::record(tx.as_exec(), Event::NewSignIn, Some(user_id), client, detail).await?;
    tx.commit().await?;
    tracing::info!(%user_id, %browser, %network, "sign-in from a new browser and network");
    mail_notice(state, user_id, &link(state, &id, expires_at), &browser, client).await
}

async fn mail_notice(
    state: &AppState,
    user_id: &str,
    link: &str,
    browser: &str,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let Some(mailer) = &state.mailer else { return Ok(()) };
    let Some(user) = crate::server::people::users::find(&state.db, user_id).await? else { return Ok(()) };
    let (Some(email), true) = (user.email, user.email_verified) else { return Ok(()) };
    let when = chrono::DateTime::from_timestamp(clock::now(), 0).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string());
    mailer.send_later("new_sign_in", Mail {
        to: email,
        subject: "New sign-in to your Gatehouse account".into(),
        paragraphs: vec![
            format!(
                "Your Gatehouse account was signed in to from a browser and network it has not been used from before: \
                 {browser}, from {}, at {}.",
                client.ip.as_deref().unwrap_or("an unknown address"),
                when.unwrap_or_default()
            ),
            "If that was you, there is nothing to do.".into(),
            format!(
                "If it was not you, use the link below (it works once, for {} days): it signs that browser out, \
                 revokes the API tokens created in it, and shows you how to secure your account.",
                NOTICE_LIFETIME_SECS / 86_400
            ),
        ],
        link: Some((link.to_owned(), "This wasn't me".into())),
    });
    Ok(())
}

/// The notice's "this wasn't me" link.
pub fn link(state: &AppState, notice_id: &str, expires_at: i64) -> String {
    let sealed = state.sealer.seal(Purpose::SignInNotice, SEALED_FOR, format!("{notice_id} {expires_at}").as_bytes());
    format!("{}/account/not-me?n={}", state.config.app_url.origin(), URL_SAFE_NO_PAD.encode(sealed))
}

/// The notice a link names, if it was made here and has not expired.
fn open(state: &AppState, token: &str) -> Option<String> {
    let sealed = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    let plain = state.sealer.open(Purpose::SignInNotice, SEALED_FOR, &sealed).ok()?;
    let plain = String::from_utf8(plain).ok()?;
    let (id, expires_at) = plain.split_once(' ')?;
    (expires_at.parse::<i64>().ok()? > clock::now()).then(|| id.to_owned())
}

#[derive(Deserialize)]
struct Link {
    #[serde(default)]
    n: String,
}

fn unusable() -> Response {
    (
        StatusCode::BAD_REQUEST,
        error_page::render(
            "This link does not work",
            "It has expired, was already used, or was not made by Gatehouse. If someone else signed in to your \
             account, sign in and sign out your other sessions from the dashboard, and change your password.",
            ("Sign in", "/login?next=/dashboard"),
        ),
    )
        .into_response()
}

/// `GET /account/not-me?n=…`: asks before anything is ended.
async fn ask(State(state): State<AppState>, Query(link): Query<Link>) -> Response {
    if open(&state, &link.n).is_none() {
        return unusable();
    }
    let body = format!(
        r#"<section class="notice" aria-labelledby="not-me-title">
<h1 id="not-me-title">Someone else signed in?</h1>
<p>Gatehouse will sign out the browser that signed in, and revoke the API tokens created in it. Then you can secure
your account.</p>
<form method="post" action="/account/not-me">
<input type="hidden" name="n" value="{token}">
<button type="submit" class="button danger" data-testid="not-me">It wasn't me: sign it out</button>
</form>
</section>"#,
        token = escape(&link.n)
    );
    error_page::page("Someone else signed in?", &body, None)
}

/// `POST /account/not-me`: ends the session, revokes its tokens, and says what to do next.
async fn disown(State(state): State<AppState>, who: ClientInfo, Form(link): Form<Link>) -> Response {
    let Some(notice_id) = open(&state, &link.n) else { return unusable() };
    match end(&state, &notice_id, &who).await {
        Ok(Some(Disowned { sessions, tokens, apps })) => {
            let signed_out =
                if sessions == 0 { "That browser had already signed out" } else { "That browser is signed out" };
            let ended = format!(
                "{signed_out}. Ended with it: {tokens} API token(s) it created, and {apps} app authorization(s) \
                 granted in it."
            );
            let body = format!(
                r#"<section class="notice" aria-labelledby="secured-title" data-testid="not-me-done">
<h1 id="secured-title">Done</h1>
<p>{ended}</p>
<p>Now secure your account: sign in, then on your profile change your password (if you have one) and turn on
two-step verification, and on your dashboard sign out every session you do not recognise. If you sign in with a
provider such as Google or GitHub, secure that account too.</p>
<a class="button" href="/login?next=/profile">Secure my account</a>
</section>"#,
                ended = escape(&ended)
            );
            error_page::page("Signed out", &body, None)
        }
        Ok(None) => unusable(),
        Err(error) => {
            tracing::error!(%error, "could not act on a sign-in notice");
            (error.status(), error_page::render("Nothing was changed", &error.to_string(), ("Try again", "/dashboard")))
                .into_response()
        }
    }
}

/// What "this wasn't me" ended.
struct Disowned {
    /// 0 or 1.
    sessions: u64,
    tokens: u64,
    apps: u64,
}

/// Uses the notice: ends its session and everything made in it (see [`Which::Session`]). `None` when it was already
/// used (or is gone).
async fn end(state: &AppState, notice_id: &str, who: &ClientInfo) -> Result<Option<Disowned>, AppError> {
    let now = clock::now();
    let mut tx = state.db.begin_write().await?;
    let claimed: Option<(String, String)> = on!(tx.as_exec(), conn => sqlx::query_as(
        "UPDATE sign_in_notices SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND expires_at > $1
         RETURNING user_id, session_id",
    )
    .bind(now)
    .bind(notice_id)
    .fetch_optional(conn)
    .await)?;
    let Some((user_id, session_id)) = claimed else { return Ok(None) };
    let ended = revocation::end(tx.as_exec(), &user_id, Which::Session(&session_id)).await?;
    let detail = json!({
        "notice": notice_id, "session_ended": ended.sessions > 0, "tokens_revoked": ended.tokens.len(),
        "app_authorizations_ended": ended.app_authorizations,
    });
    audit::record(tx.as_exec(), Event::SignInDisowned, Some(&user_id), who, detail).await?;
    tx.commit().await?;
    state.cache.forget_session(&session_id);
    ended.forget(&state.cache, &user_id);
    let (sessions, tokens) = (ended.sessions, ended.tokens);
    tracing::warn!(%user_id, sessions, tokens = tokens.len(), apps = ended.app_authorizations, "a sign-in was disowned");
    Ok(Some(Disowned { sessions, tokens: tokens.len() as u64, apps: ended.app_authorizations }))
}

/// Removes notices whose links have expired.
pub async fn purge_expired(db: &crate::server::platform::db::Db) -> Result<u64, sqlx::Error> {
    crate::server::platform::db::delete_expired(db, "sign_in_notices").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_lose_their_versions_and_addresses_their_hosts() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(browser_family(Some(firefox)), "Firefox on Linux");
        assert_eq!(browser_family(None), "Unknown browser on Unknown system");
        assert_eq!(network(Some("203.0.113.77")), "203.0.113.0/24");
        assert_eq!(network(Some("::ffff:203.0.113.77")), "203.0.113.0/24");
        assert_eq!(network(Some("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
        assert_eq!(network(None), "unknown");
    }
}
