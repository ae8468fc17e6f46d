//! `/dashboard`: where a person lands after signing in — a summary, their sessions, their API tokens and their
//! security activity. The server redirects signed-out requests to `/login`.

use leptos::{either::Either, prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    components::{
        account::{Avatar, LoadError},
        counts::{Count, Counted, Counts, Revoke},
        form::{Post, ReturnedError},
        time::Ago,
        tokens::TokensPanel,
    },
    model::{
        account::{ActivityEvent, ActivityPage, DashboardSummary, DashboardView, SessionInfo, SessionList},
        auth::provider_name,
        page::Preloaded,
    },
    rpc::account::{RevokeOtherSessions, RevokeSession},
};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let before = query.with_untracked(|q| q.get("before").and_then(|b| b.parse::<i64>().ok()));
    // The whole page's data, read by the server before rendering (`server::web::preload`) and sent as HTML; the
    // islands get only what they need as props.
    let loaded = use_context::<Preloaded<DashboardView>>().and_then(|preloaded| preloaded.take());
    view! {
        <Title text="Dashboard"/>
        // Type-erased here, so that the router's own erasure of the page's view stays a shallow type.
        {loaded.map(|loaded| match loaded {
            Ok(view) => Either::Left(view! { <Dashboard view first=before.is_none()/> }),
            Err(error) => Either::Right(view! { <LoadError error/> }),
        }.into_any())}
    }
}

#[component]
fn Dashboard(view: DashboardView, first: bool) -> impl IntoView {
    let DashboardView { user, summary, sessions, tokens, activity } = view;
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    view! {
        <section class="welcome" aria-labelledby="welcome-title">
            <Avatar user=user.clone()/>
            <div>
                <h1 id="welcome-title" data-testid="welcome">"Welcome, " {user.display_name.clone()}</h1>
                <p class="muted">{user.email.clone().unwrap_or_else(|| "No email address on file".into())}</p>
            </div>
        </section>
        <AccountActivity sessions=count(sessions.sessions.len()) tokens=count(tokens.tokens.len())>
            <Summary summary/>
            <Sessions list=sessions/>
            <TokensPanel tokens/>
        </AccountActivity>
        <section class="card" aria-labelledby="activity-title" id="activity">
            <h2 id="activity-title">"Security activity"</h2>
            <p class="muted">"Sign-ins, changes and token events on your account, newest first."</p>
            <ActivityList page=activity first/>
        </section>
    }
}

/// The summary, sessions and tokens, server-rendered as `children`; the islands inside them (the counts, the
/// revoke buttons, the token form) share `Counts` through this island's context.
#[island]
fn AccountActivity(sessions: u32, tokens: u32, children: Children) -> impl IntoView {
    provide_context(Counts {
        sessions: RwSignal::new(sessions),
        tokens: RwSignal::new(tokens),
        others_ended: RwSignal::new(false),
    });
    children()
}

#[component]
fn Summary(summary: DashboardSummary) -> impl IntoView {
    let DashboardSummary { now, linked_providers, last_sign_in, .. } = summary;
    view! {
        <section class="summary" aria-label="Summary">
            <a class="stat" href="#sessions" data-testid="stat-sessions"><Count of=Counted::Sessions/></a>
            <a class="stat" href="/profile" data-testid="stat-providers">
                <span class="stat-value">{linked_providers}</span>
                <span class="stat-label">{if linked_providers == 1 { "sign-in method" } else { "sign-in methods" }}</span>
            </a>
            <a class="stat" href="#tokens" data-testid="stat-tokens"><Count of=Counted::Tokens/></a>
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
    .into_any()
}

#[component]
fn Sessions(list: SessionList) -> impl IntoView {
    let SessionList { now, sessions } = list;
    view! {
        <section class="card" aria-labelledby="sessions-title" id="sessions">
            <div class="card-head">
                <h2 id="sessions-title">"Active sessions"</h2>
                <SignOutOthers/>
            </div>
            <p class="muted">"Everywhere you are signed in. Revoking a session signs that browser out on its next request."</p>
            <ul class="rows" data-testid="sessions">
                {sessions.into_iter().map(|session| view! { <SessionRow session now/> }).collect_view()}
            </ul>
            <ReturnedError path=RevokeSession::PATH/>
            <ReturnedError path=RevokeOtherSessions::PATH/>
        </section>
    }
    .into_any()
}

#[island]
fn SignOutOthers() -> impl IntoView {
    let counts = expect_context::<Counts>();
    let post = Post::new(None);
    let ended = move |_: &str| {
        counts.others_ended.set(true);
        counts.sessions.set(1);
    };
    view! {
        <div class="card-actions">
            <form method="post" action=RevokeOtherSessions::PATH class="inline-form" data-testid="revoke-others"
                on:submit=post.on_submit(ended)>
                <button type="submit" class="button secondary small" disabled=move || post.pending()>
                    {move || if post.pending() { "Signing out…" } else { "Sign out all other sessions" }}
                </button>
            </form>
            <span class="saved" role="status">
                {move || post.answer::<u32>().map(|n| match n {
                    0 => "No other sessions.".to_owned(),
                    1 => "1 session signed out.".to_owned(),
                    n => format!("{n} sessions signed out."),
                })}
            </span>
            <span class="field-error" role="alert">{move || post.error()}</span>
        </div>
    }
}

#[component]
fn SessionRow(session: SessionInfo, now: i64) -> impl IntoView {
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
            {(!session.current).then(|| view! { <Revoke what=Counted::Sessions id=session.id label/> })}
        </li>
    }
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
    let (mark, explanation) = if event.verified {
        (
            "✓ verified",
            "Unchanged since it was recorded: its place in the hash chain of the security activity checks out.",
        )
    } else {
        ("⚠ not verified", "This entry was changed, or something around it removed, after it was recorded.")
    };
    view! {
        <li class="row" data-kind=event.kind.clone() data-verified=event.verified.to_string()>
            <div class="row-main">
                <strong class:problem=failed>{event.summary}</strong>
                <span class="muted small">
                    <Ago at=event.at now/>
                    {event.ip.map(|ip| format!(" · {ip}"))}
                    {event.browser.map(|b| format!(" · {b}"))}
                    " · "
                    <span class="verified" class:problem=!event.verified title=explanation>{mark}</span>
                    {event.not_me.map(|href| view! {
                        " · " <a href=href rel="external" data-testid="not-me-link">"This wasn't me"</a>
                    })}
                </span>
            </div>
        </li>
    }
}
