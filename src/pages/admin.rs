//! The admin area: `/admin` (people, searched; the address blocks in force, each with "Lift"), `/admin/people/{id}`
//! (one person in full, with "Disable account" / "Enable account") and `/admin/audit` (everyone's security activity,
//! filtered, with its export and whether the hash chain verifies). Server-rendered, plain GET forms and posts: no
//! island, and nothing here reaches the WebAssembly.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::{
    components::{
        account::LoadError,
        time::{Ago, MaybeAgo},
    },
    model::{
        admin::{
            AdminAudit, AdminOverview, AdminPerson, AuditFilter, AuditRow, BlockInForce, ChainStatus, PersonSummary,
        },
        error::AppError,
    },
    pages::not_found::NotFound,
    rpc::admin::{get_admin_audit, get_admin_overview, get_admin_person},
};

/// The error an action sent back in the URL (text only, capped): shown, never interpreted.
fn returned_error() -> Option<String> {
    use_query_map().with_untracked(|q| q.get("error").map(|e| e.chars().take(300).collect()))
}

/// Someone who is not an administrator sees the site's 404, as for any address with nothing at it.
fn refused(error: AppError) -> AnyView {
    match error {
        AppError::NotFound => view! { <NotFound/> }.into_any(),
        // The session did not pass a second factor (it signed in with one, or before two-step was on).
        AppError::ConfirmIdentity => view! {
            <section class="notice" data-testid="admin-confirm">
                <h1>"Please confirm it's you"</h1>
                <p>
                    "The admin area needs a session that passed two-step verification. This one has not yet: "
                    "confirm it with a code from your authenticator app."
                </p>
                <a class="button" href="/confirm?next=%2Fadmin">"Confirm with a code"</a>
            </section>
        }
        .into_any(),
        error => view! { <LoadError error/> }.into_any(),
    }
}

/// An admin page: its data from `load`, shown by `show` with the error an action sent back in the URL; a refusal as
/// the site's 404 (or why not, for an administrator without two-step verification).
fn admin_page<T, Fut, V>(
    title: &'static str,
    load: impl Fn() -> Fut + Send + Sync + 'static,
    show: impl Fn(T, Option<String>) -> V + Send + Sync + Clone + 'static,
) -> impl IntoView
where
    T: Send + 'static,
    Fut: std::future::Future<Output = Result<T, AppError>> + Send + 'static,
    V: IntoView + 'static,
{
    let error = returned_error();
    view! {
        <Title text=title/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {
                let (data, error, show) = (load(), error.clone(), show.clone());
                Suspend::new(async move {
                    match data.await {
                        Ok(data) => Either::Left(show(data, error)),
                        Err(error) => Either::Right(refused(error)),
                    }
                })
            }
        </Suspense>
    }
}

fn admin_nav(current: &'static str) -> impl IntoView {
    let link = move |href: &'static str, text: &'static str| {
        view! { <a href=href aria-current=(current == href).then_some("page")>{text}</a> }
    };
    view! {
        <nav class="admin-nav" aria-label="Admin">
            {link("/admin", "People and blocks")} " · " {link("/admin/audit", "Security activity")}
        </nav>
    }
}

#[component]
pub fn AdminPage() -> impl IntoView {
    let query = use_query_map().with_untracked(|q| q.get("q").unwrap_or_default());
    admin_page("Admin", move || get_admin_overview(Some(query.clone())), |view, error| view! { <Overview view error/> })
}

#[component]
fn Overview(view: AdminOverview, error: Option<String>) -> impl IntoView {
    let AdminOverview { now, query, people, more, blocks, untrusted_local_proxy } = view;
    let no_blocks = blocks.is_empty();
    view! {
        {admin_nav("/admin")}
        {error.map(|e| view! { <p class="problem" role="alert" data-testid="admin-error">{e}</p> })}
        {untrusted_local_proxy.then(|| view! {
            <p class="problem" role="alert" data-testid="untrusted-proxy">
                "Requests arrive through a proxy on this machine that TRUSTED_PROXIES does not name, so every visitor "
                "looks like 127.0.0.1: the admin area's and /metrics' address rules trust everyone, and the rate "
                "limits count everyone as one. Set TRUSTED_PROXIES to the proxy's address (e.g. 127.0.0.1/32)."
            </p>
        })}
        <section class="card" aria-labelledby="people-title">
            <h1 id="people-title">"People"</h1>
            <form method="get" action="/admin" class="inline-form search-form" role="search">
                <label for="people-query" class="visually-hidden">"Search people"</label>
                <input id="people-query" name="q" type="search" value=query.clone() maxlength="200"
                    placeholder="Name, email address or id"/>
                <button type="submit" class="button small">"Search"</button>
            </form>
            {people.is_empty().then(|| view! { <p class="muted">"Nobody matches."</p> })}
            <ul class="rows" data-testid="admin-people">
                {people.into_iter().map(|person| view! { <PersonRow person now/> }).collect_view()}
            </ul>
            {more.then(|| view! { <p class="muted small">"More people match: narrow the search."</p> })}
        </section>
        <section class="card" aria-labelledby="blocks-title" id="blocks">
            <h2 id="blocks-title">"Blocked addresses"</h2>
            <p class="muted">
                "Addresses blocked after repeated failures (refused credentials, forged sign-in callbacks). "
                "Lifting a block lets the address in again at once and forgets its recent failures."
            </p>
            {no_blocks.then(|| view! { <p class="muted">"No address is blocked."</p> })}
            <ul class="rows" data-testid="admin-blocks">
                {blocks.into_iter().map(|block| view! { <BlockRow block now/> }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn PersonRow(person: PersonSummary, now: i64) -> impl IntoView {
    let PersonSummary { id, display_name, email, created_at, last_sign_in_at, disabled_at, attention, sessions } =
        person;
    let href = format!("/admin/people/{id}");
    view! {
        <li class="row" data-testid="admin-person">
            <div class="row-main">
                <a href=href><strong>{display_name}</strong></a>
                {disabled_at.map(|_| view! { <span class="badge danger-badge">"disabled"</span> })}
                {attention.map(|_| view! { <span class="badge danger-badge" data-testid="needs-attention">"needs attention"</span> })}
                <span class="muted small">{email.unwrap_or_else(|| "no email address".into())}</span>
                <span class="muted small">
                    "Joined " <Ago at=created_at now/> " · last sign-in "
                    <MaybeAgo at=last_sign_in_at now fallback="never"/> " · " {sessions} " active sessions"
                </span>
            </div>
        </li>
    }
}

#[component]
fn BlockRow(block: BlockInForce, now: i64) -> impl IntoView {
    let BlockInForce { address, blocked_at, ends_at, failures, times } = block;
    view! {
        <li class="row" data-testid="admin-block">
            <div class="row-main">
                <code>{address.clone()}</code>
                <span class="muted small">
                    "Blocked " <Ago at=blocked_at now/> " after " {failures} " failures · ends " <Ago at=ends_at now/>
                    {(times > 1).then(|| format!(" · block {times} within a day"))}
                </span>
            </div>
            <form method="post" action="/admin/blocks/lift" class="row-action">
                <input type="hidden" name="address" value=address.clone()/>
                <button type="submit" class="button secondary small" aria-label=format!("Lift the block on {address}")
                    data-testid="lift-block">"Lift"</button>
            </form>
        </li>
    }
}

#[component]
pub fn AdminPersonPage() -> impl IntoView {
    let id = use_params_map().with_untracked(|p| p.get("id").unwrap_or_default());
    admin_page("Admin: person", move || get_admin_person(id.clone()), |view, error| view! { <Person view error/> })
}

#[component]
fn Person(view: AdminPerson, error: Option<String>) -> impl IntoView {
    let AdminPerson {
        now,
        person,
        two_step,
        password_email,
        identities,
        sessions,
        tokens,
        apps,
        registered_apps,
        activity,
        is_self,
    } = view;
    let audit_href = format!("/admin/audit?person={}", person.id);
    let disabled = person.disabled_at;
    let id = person.id.clone();
    view! {
        {admin_nav("")}
        {error.map(|e| view! { <p class="problem" role="alert" data-testid="admin-error">{e}</p> })}
        <section class="card" aria-labelledby="person-title">
            <h1 id="person-title">{person.display_name.clone()}</h1>
            {disabled.map(|at| view! {
                <p class="problem" data-testid="person-disabled">"Disabled " <Ago at now/> ": this person cannot sign in."</p>
            })}
            {person.attention.clone().map(|(why, at)| view! {
                <p class="problem" data-testid="person-attention">
                    {attention_text(&why)} " (" <Ago at now/> "). Every session, token and app authorization was "
                    "ended then; check with the person before anything else."
                </p>
            })}
            <dl class="facts">
                <dt>"Id"</dt><dd><code>{person.id.clone()}</code></dd>
                <dt>"Email"</dt><dd>{person.email.clone().unwrap_or_else(|| "none".into())}</dd>
                <dt>"Joined"</dt><dd><Ago at=person.created_at now/></dd>
                <dt>"Last sign-in"</dt><dd><MaybeAgo at=person.last_sign_in_at now fallback="never"/></dd>
                <dt>"Password"</dt><dd>{password_email.map_or_else(|| "none".to_owned(), |e| format!("yes ({e})"))}</dd>
                <dt>"Two-step verification"</dt><dd>{if two_step { "on" } else { "off" }}</dd>
                <dt>"Sign-in methods"</dt>
                <dd>
                    {identities.is_empty().then_some("none")}
                    {identities.into_iter().map(|i| view! {
                        <span class="badge">{i.provider_label}</span>
                        " " {i.email.unwrap_or_default()} " "
                    }).collect_view()}
                </dd>
            </dl>
            <div class="admin-actions">{(!is_self).then(|| match disabled {
                None => Either::Left(view! {
                    <form method="post" action="/admin/people/disable">
                        <input type="hidden" name="user_id" value=id.clone()/>
                        <p class="muted small">
                            "Disabling ends every session, revokes every token and ends every app's access at once; "
                            "the person cannot sign in until the account is enabled again."
                        </p>
                        <button type="submit" class="button danger small" data-testid="disable-account">"Disable account"</button>
                    </form>
                }),
                Some(_) => Either::Right(view! {
                    <form method="post" action="/admin/people/enable">
                        <input type="hidden" name="user_id" value=id.clone()/>
                        <button type="submit" class="button small" data-testid="enable-account">"Enable account"</button>
                    </form>
                }),
            })}</div>
        </section>
        <section class="card" aria-labelledby="person-sessions">
            <h2 id="person-sessions">"Sessions"</h2>
            {sessions.is_empty().then(|| view! { <p class="muted">"No active sessions."</p> })}
            <ul class="rows" data-testid="person-sessions">
                {sessions.into_iter().map(|s| view! {
                    <Row>
                        <strong>{format!("{} on {}", s.browser, s.os)}</strong>
                        <span class="muted small">
                            {s.ip.unwrap_or_default()} " · via " {s.provider} " · signed in " <Ago at=s.created_at now/>
                            " · last seen " <Ago at=s.last_seen_at now/>
                        </span>
                    </Row>
                }).collect_view()}
            </ul>
        </section>
        <section class="card" aria-labelledby="person-tokens">
            <h2 id="person-tokens">"API tokens"</h2>
            {tokens.is_empty().then(|| view! { <p class="muted">"No tokens."</p> })}
            <ul class="rows" data-testid="person-tokens">
                {tokens.into_iter().map(|t| view! {
                    <Row>
                        <strong>{t.name}</strong>
                        <span class="scopes">{t.scopes.iter().map(|s| view! { <code class="badge">{s.as_str()}</code> }).collect_view()}</span>
                        <span class="muted small">
                            "Created " <Ago at=t.created_at now/> " · last used "
                            <MaybeAgo at=t.last_used_at now fallback="never"/>
                            {(!t.allowed_ips.is_empty()).then(|| format!(" · only from {}", t.allowed_ips.join(", ")))}
                        </span>
                    </Row>
                }).collect_view()}
            </ul>
        </section>
        <section class="card" aria-labelledby="person-apps">
            <h2 id="person-apps">"Apps"</h2>
            {(apps.is_empty() && registered_apps.is_empty()).then(|| view! { <p class="muted">"No apps."</p> })}
            <ul class="rows" data-testid="person-apps">
                {apps.into_iter().map(|a| view! {
                    <Row>
                        <strong>{a.name}</strong>
                        <span class="muted small">"Allowed " <Ago at=a.authorized_at now/> " · " {a.scopes.join(" ")}</span>
                    </Row>
                }).collect_view()}
                {registered_apps.into_iter().map(|(client_id, name)| view! {
                    <Row>
                        <strong>{name}</strong>
                        <span class="muted small">"Registered by this person · " <code>{client_id}</code></span>
                    </Row>
                }).collect_view()}
            </ul>
        </section>
        <section class="card" aria-labelledby="person-activity">
            <h2 id="person-activity">"Recent security activity"</h2>
            <p><a href=audit_href>"All of it, in the audit viewer"</a></p>
            <ul class="rows" data-testid="person-activity">
                {activity.into_iter().map(|e| view! {
                    <Row>
                        <span>{e.summary}</span>
                        <span class="muted small"><Ago at=e.at now/> " · " {e.ip.unwrap_or_default()}</span>
                    </Row>
                }).collect_view()}
            </ul>
        </section>
    }
}

/// One entry of a list on the person's page.
#[component]
fn Row(children: Children) -> impl IntoView {
    view! {
        <li class="row">
            <div class="row-main">{children()}</div>
        </li>
    }
}

#[component]
pub fn AdminAuditPage() -> impl IntoView {
    let filter = use_query_map().with_untracked(|q| AuditFilter {
        kind: q.get("kind").unwrap_or_default(),
        person: q.get("person").unwrap_or_default(),
        address: q.get("address").unwrap_or_default(),
        from: q.get("from").unwrap_or_default(),
        to: q.get("to").unwrap_or_default(),
        before: q.get("before").and_then(|b| b.parse().ok()),
    });
    // Filters that do not parse leave the form as it was typed, with the reason.
    let load = move || {
        let filter = filter.clone();
        async move {
            match get_admin_audit(filter.clone()).await {
                Err(AppError::Invalid(problem)) => Ok((AdminAudit::empty(filter), Some(problem))),
                other => other.map(|view| (view, None)),
            }
        }
    };
    admin_page("Admin: security activity", load, |(view, problem), error| {
        view! { <Audit view error=problem.or(error)/> }
    })
}

impl AdminAudit {
    /// A viewer with nothing in it, for filters that did not parse (the form keeps what was typed).
    fn empty(filter: AuditFilter) -> Self {
        Self { now: 0, filter, kinds: Vec::new(), events: Vec::new(), next: None, chain: None }
    }
}

/// The current filters as a query string (without `before`), for the export links and the next page.
fn filter_query(filter: &AuditFilter) -> String {
    let pairs = [
        ("kind", &filter.kind),
        ("person", &filter.person),
        ("address", &filter.address),
        ("from", &filter.from),
        ("to", &filter.to),
    ];
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Whether the hash chain verified at its newest full check, when that was, and a button to check again now.
#[component]
fn ChainBadge(chain: ChainStatus, now: i64) -> impl IntoView {
    let outcome = match (chain.checked_at, chain.problem) {
        (None, _) => view! {
            <p class="muted" data-testid="chain-status">"The hash chain is being checked. Reload in a moment."</p>
        }
        .into_any(),
        (Some(_), Some(problem)) => view! {
            <p class="problem" role="alert" data-testid="chain-status">"The hash chain does not verify: " {problem}</p>
        }
        .into_any(),
        (Some(_), None) => view! {
            <p class="badge ok" data-testid="chain-status">
                {format!("The hash chain verifies: {} events, {} anonymised.", chain.events, chain.anonymised)}
            </p>
        }
        .into_any(),
    };
    view! {
        <div class="chain" id="chain">
            {outcome}
            <form method="post" action="/admin/audit/verify" class="inline-form">
                {chain.checked_at.map(|at| view! {
                    <span class="muted" data-testid="chain-checked">
                        "Checked in full " <Ago at now/> {match chain.took_ms {
                            0 => " (in under a millisecond). ".to_owned(),
                            ms => format!(" (in {ms} ms). "),
                        }}
                    </span>
                })}
                <button type="submit" class="button secondary small">"Check now"</button>
            </form>
        </div>
    }
}

#[component]
fn Audit(view: AdminAudit, error: Option<String>) -> impl IntoView {
    let AdminAudit { now, filter, kinds, events, next, chain } = view;
    let query = filter_query(&filter);
    let glue = if query.is_empty() { "" } else { "&" };
    let next = next.map(|before| format!("/admin/audit?{query}{glue}before={before}"));
    let selected = filter.kind.clone();
    view! {
        {admin_nav("/admin/audit")}
        {error.map(|e| view! { <p class="problem" role="alert" data-testid="admin-error">{e}</p> })}
        <section class="card" aria-labelledby="audit-title">
            <h1 id="audit-title">"Security activity"</h1>
            {chain.map(|chain| view! { <ChainBadge chain now/> })}
            <form method="get" action="/admin/audit" class="filters" data-testid="audit-filters">
                <label>"Kind "
                    <select name="kind">
                        <option value="">"any"</option>
                        {kinds.into_iter().map(|k| {
                            let is = k == selected;
                            view! { <option value=k.clone() selected=is>{k.replace('_', " ")}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <label>"Person " <input name="person" type="text" value=filter.person.clone() placeholder="id or email"/></label>
                <label>"Address " <input name="address" type="text" value=filter.address.clone() placeholder="203.0.113.9"/></label>
                <label>"From " <input name="from" type="text" value=filter.from.clone() placeholder="YYYY-MM-DD"/></label>
                <label>"To " <input name="to" type="text" value=filter.to.clone() placeholder="YYYY-MM-DD"/></label>
                <button type="submit" class="button small">"Filter"</button>
                <a href="/admin/audit" class="small">"Clear"</a>
            </form>
            // A download is recorded (`audit_exported`): a POST, so no link, prefetch or crawler makes one.
            <form method="post" action="/admin/audit/export" class="button-row small" data-testid="audit-export">
                "Export what matches: "
                <input type="hidden" name="kind" value=filter.kind.clone()/>
                <input type="hidden" name="person" value=filter.person.clone()/>
                <input type="hidden" name="address" value=filter.address.clone()/>
                <input type="hidden" name="from" value=filter.from.clone()/>
                <input type="hidden" name="to" value=filter.to.clone()/>
                <button type="submit" name="format" value="csv" class="button secondary small" data-testid="export-csv">
                    "CSV"
                </button>
                <button type="submit" name="format" value="json" class="button secondary small" data-testid="export-json">
                    "JSON"
                </button>
            </form>
            {events.is_empty().then(|| view! { <p class="muted">"No events match."</p> })}
            <div class="table-scroll">
                <table class="routes" data-testid="audit-events">
                    <thead><tr><th>"When"</th><th>"What"</th><th>"Who"</th><th>"Address"</th></tr></thead>
                    <tbody>
                        {events.into_iter().map(|e| view! { <AuditLine event=e now/> }).collect_view()}
                    </tbody>
                </table>
            </div>
            {next.map(|href| view! { <p><a href=href>"Older events"</a></p> })}
        </section>
    }
}

#[component]
fn AuditLine(event: AuditRow, now: i64) -> impl IntoView {
    let AuditRow { at, kind, summary, user_id, person, ip, browser, .. } = event;
    let who = match (user_id, person) {
        (Some(id), Some(name)) => Either::Left(view! { <a href=format!("/admin/people/{id}")>{name}</a> }),
        (Some(id), None) => Either::Right(format!("{} (deleted)", id.chars().take(8).collect::<String>())),
        (None, _) => Either::Right("—".to_owned()),
    };
    view! {
        <tr data-kind=kind>
            <td><Ago at now/></td>
            <td>{summary}</td>
            <td>{who}</td>
            <td>{ip.unwrap_or_default()} <span class="muted small">" " {browser.unwrap_or_default()}</span></td>
        </tr>
    }
}

/// Why an account needs an administrator's attention, in words.
fn attention_text(why: &str) -> String {
    match why {
        "google_hijacking" => "Google reported the person's Google account taken over".into(),
        other => format!("Needs attention: {other}"),
    }
}
