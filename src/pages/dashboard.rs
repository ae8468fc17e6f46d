//! `/dashboard`: where a person lands after signing in — a summary, their sessions, their API tokens and their
//! security activity. The server redirects signed-out requests to `/login`.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    account::{
        ActivityEvent, ActivityPage, DashboardSummary, DashboardView, RevokeOtherSessions, RevokeSession, SessionInfo,
        SessionList, get_dashboard, list_sessions,
    },
    auth::provider_name,
    components::{
        account::{Avatar, LoadError},
        refreshed,
        time::Ago,
        tokens::TokensPanel,
    },
    error::AppError,
    tokens::{CreateToken, RevokeToken, TokenList, list_tokens},
};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let before = query.with_untracked(|q| q.get("before").and_then(|b| b.parse::<i64>().ok()));
    view! {
        <Title text="Dashboard"/>
        <Suspense fallback=|| view! { <p class="muted">"Loading your dashboard…"</p> }>
            // The whole page in one request, read while rendering on the server: the interactive part gets its share
            // as props, the rest is plain HTML.
            {Suspend::new(async move {
                match get_dashboard(before).await {
                    Ok(view) => Either::Left(view! { <Dashboard view first=before.is_none()/> }),
                    Err(error) => Either::Right(view! { <LoadError error/> }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Dashboard(view: DashboardView, first: bool) -> impl IntoView {
    let DashboardView { user, summary, sessions, tokens, activity } = view;
    view! {
        <section class="welcome" aria-labelledby="welcome-title">
            <Avatar user=user.clone()/>
            <div>
                <h1 id="welcome-title" data-testid="welcome">"Welcome, " {user.display_name.clone()}</h1>
                <p class="muted">{user.email.clone().unwrap_or_else(|| "No email address on file".into())}</p>
            </div>
        </section>
        <AccountActivity summary sessions tokens/>
        <section class="card" aria-labelledby="activity-title" id="activity">
            <h2 id="activity-title">"Security activity"</h2>
            <p class="muted">"Sign-ins, changes and token events on your account, newest first."</p>
            <ActivityList page=activity first/>
        </section>
    }
}

/// The dashboard's interactive part, one island: the summary, the sessions and the tokens, which change together.
/// After an action, each fetches only what that action changed.
#[island]
fn AccountActivity(summary: DashboardSummary, sessions: SessionList, tokens: TokenList) -> impl IntoView {
    let revoke = ServerAction::<RevokeSession>::new();
    let revoke_others = ServerAction::<RevokeOtherSessions>::new();
    let create_token = ServerAction::<CreateToken>::new();
    let revoke_token = ServerAction::<RevokeToken>::new();
    let sessions = refreshed(sessions, move || (revoke.version().get(), revoke_others.version().get()), list_sessions);
    let tokens = refreshed(tokens, move || (create_token.version().get(), revoke_token.version().get()), list_tokens);
    // The counts follow the lists they count (the same filters on the server); the rest does not change here.
    let summary = move || -> Result<DashboardSummary, AppError> {
        let sessions = sessions.get()?;
        let tokens = tokens.get()?;
        Ok(DashboardSummary {
            active_sessions: u32::try_from(sessions.sessions.len()).unwrap_or(u32::MAX),
            api_tokens: u32::try_from(tokens.tokens.len()).unwrap_or(u32::MAX),
            ..summary.clone()
        })
    };

    view! {
        {move || match summary() {
            Ok(summary) => Either::Left(view! { <Summary summary/> }),
            Err(error) => Either::Right(view! { <LoadError error/> }),
        }}
        <section class="card" aria-labelledby="sessions-title" id="sessions">
            <div class="card-head">
                <h2 id="sessions-title">"Active sessions"</h2>
                <SignOutOthers action=revoke_others/>
            </div>
            <p class="muted">"Everywhere you are signed in. Revoking a session signs that browser out on its next request."</p>
            {move || match sessions.get() {
                Ok(list) => Either::Left(view! {
                    <ul class="rows" data-testid="sessions">
                        {list.sessions
                            .into_iter()
                            .map(|session| view! { <SessionRow session now=list.now revoke/> })
                            .collect_view()}
                    </ul>
                }),
                Err(error) => Either::Right(view! { <LoadError error/> }),
            }}
            <ActionError message=Signal::derive(move || match revoke.value().get() {
                Some(Err(error)) => Some(error.to_string()),
                _ => None,
            })/>
        </section>
        <TokensPanel tokens create=create_token revoke=revoke_token/>
    }
}

#[component]
fn Summary(summary: DashboardSummary) -> impl IntoView {
    let DashboardSummary { now, active_sessions, linked_providers, api_tokens, last_sign_in } = summary;
    view! {
        <section class="summary" aria-label="Summary">
            <a class="stat" href="#sessions" data-testid="stat-sessions">
                <span class="stat-value">{active_sessions}</span>
                <span class="stat-label">{if active_sessions == 1 { "active session" } else { "active sessions" }}</span>
            </a>
            <a class="stat" href="/profile" data-testid="stat-providers">
                <span class="stat-value">{linked_providers}</span>
                <span class="stat-label">{if linked_providers == 1 { "sign-in method" } else { "sign-in methods" }}</span>
            </a>
            <a class="stat" href="#tokens" data-testid="stat-tokens">
                <span class="stat-value">{api_tokens}</span>
                <span class="stat-label">{if api_tokens == 1 { "API token" } else { "API tokens" }}</span>
            </a>
            <div class="stat" data-testid="stat-last-sign-in">
                {match last_sign_in {
                    Some(previous) => Either::Left(view! {
                        <span class="stat-value small"><Ago at=previous.at now/></span>
                        <span class="stat-label">
                            "previous sign-in"
                            {previous.ip.map(|ip| format!(" from {ip}"))}
                            {previous.provider.map(|p| format!(" with {}", provider_name(&p)))}
                        </span>
                    }),
                    None => Either::Right(view! {
                        <span class="stat-value small">"First visit"</span>
                        <span class="stat-label">"no earlier sign-in"</span>
                    }),
                }}
            </div>
        </section>
    }
}

#[component]
fn SignOutOthers(action: ServerAction<RevokeOtherSessions>) -> impl IntoView {
    let pending = action.pending();
    view! {
        <div class="card-actions">
        <ActionForm action attr:class="inline-form" attr:data-testid="revoke-others">
            <button type="submit" class="button secondary small" disabled=pending>
                {move || if pending.get() { "Signing out…" } else { "Sign out all other sessions" }}
            </button>
        </ActionForm>
        <span class="saved" role="status">
            {move || match action.value().get() {
                Some(Ok(0)) => Some("No other sessions.".to_owned()),
                Some(Ok(1)) => Some("1 session signed out.".to_owned()),
                Some(Ok(n)) => Some(format!("{n} sessions signed out.")),
                _ => None,
            }}
        </span>
        </div>
    }
}

#[component]
fn SessionRow(session: SessionInfo, now: i64, revoke: ServerAction<RevokeSession>) -> impl IntoView {
    let pending = revoke.pending();
    let label = format!("{} on {}", session.browser, session.os);
    view! {
        <li class="row" data-testid="session" data-current=session.current.to_string()>
            <div class="row-main">
                <strong>{label.clone()}</strong>
                {session.current.then(|| view! { <span class="badge ok">"this device"</span> })}
                <span class="muted">{session.ip.clone().unwrap_or_else(|| "unknown address".into())}</span>
                <span class="muted small">
                    "Signed in " <Ago at=session.created_at now/> " with " {provider_name(&session.provider).to_owned()}
                    " · active " <Ago at=session.last_seen_at now/>
                </span>
            </div>
            {(!session.current).then(|| view! {
                <ActionForm action=revoke attr:class="inline-form">
                    <input type="hidden" name="id" value=session.id.clone()/>
                    <button type="submit" class="button secondary small" disabled=move || pending.get()
                        aria-label=format!("Revoke {label}")>
                        {move || if pending.get() { "Revoking…" } else { "Revoke" }}
                    </button>
                </ActionForm>
            })}
        </li>
    }
}

/// An action's error, next to the list it acted on.
#[component]
pub fn ActionError(message: Signal<Option<String>>) -> impl IntoView {
    view! { <p class="field-error" role="alert">{move || message.get()}</p> }
}

/// Security activity, a page at a time. The page is in the URL (`?before=`), so the links work without JavaScript.
#[component]
fn ActivityList(page: ActivityPage, first: bool) -> impl IntoView {
    let ActivityPage { now, events, next } = page;
    let empty = events.is_empty();
    view! {
        {empty.then(|| view! { <p class="muted">"Nothing yet."</p> })}
        <ol class="rows activity" data-testid="activity">
            {events.into_iter().map(|event| view! { <ActivityRow event now/> }).collect_view()}
        </ol>
        <nav class="pager" aria-label="Activity pages">
            {(!first).then(|| view! { <a href="/dashboard#activity" class="button secondary small">"Newest"</a> })}
            {next.map(|next| view! {
                <a href=format!("/dashboard?before={next}#activity") class="button secondary small" data-testid="older">
                    "Older →"
                </a>
            })}
        </nav>
    }
}

#[component]
fn ActivityRow(event: ActivityEvent, now: i64) -> impl IntoView {
    let failed = event.kind.ends_with("_failed");
    view! {
        <li class="row" data-kind=event.kind.clone()>
            <div class="row-main">
                <strong class:problem=failed>{event.summary}</strong>
                <span class="muted small">
                    <Ago at=event.at now/>
                    {event.ip.map(|ip| format!(" · {ip}"))}
                    {event.browser.map(|b| format!(" · {b}"))}
                </span>
            </div>
        </li>
    }
}
