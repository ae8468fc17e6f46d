//! `/apps`: the apps a person has let in, each revocable, and the apps they develop — registering one (name,
//! redirect URIs, public or confidential, scopes), its client secret shown once, a new secret, deleting it. Every
//! form is a plain post (no island): the page works, and stays, without JavaScript.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    components::{
        account::LoadError,
        time::{Ago, MaybeAgo},
    },
    model::apps::{AppBackchannelLogout, AppsView, AuthorizedApp, FreshSecret, RegisteredApp},
    rpc::apps::get_apps,
};

#[component]
pub fn AppsPage() -> impl IntoView {
    let query = use_query_map();
    // An action's error comes back in the URL, as text only (capped): it is shown, never interpreted.
    let error = query.with_untracked(|q| q.get("error").map(|e| e.chars().take(300).collect::<String>()));
    view! {
        <Title text="Apps"/>
        <Suspense fallback=|| view! { <p class="muted">"Loading your apps…"</p> }>
            {
                let error = error.clone();
                Suspend::new(async move {
                    match get_apps().await {
                        Ok(view) => Either::Left(view! { <Apps view error/> }),
                        Err(error) => Either::Right(view! { <LoadError error/> }),
                    }
                })
            }
        </Suspense>
    }
}

#[component]
fn Apps(view: AppsView, error: Option<String>) -> impl IntoView {
    let AppsView { now, authorized, registered, fresh, scopes } = view;
    let no_authorized = authorized.is_empty();
    let no_registered = registered.is_empty();
    view! {
        {error.map(|e| view! { <p class="problem" role="alert" data-testid="apps-error">{e}</p> })}
        <section class="card" aria-labelledby="authorized-title" id="authorized-apps">
            <h1 id="authorized-title">"Apps you allowed"</h1>
            <p class="muted">
                "Apps that sign you in with Gatehouse, and what you let them do. Revoking one ends its access at once: "
                "it has to ask you again."
            </p>
            {no_authorized.then(|| view! { <p class="muted">"No apps yet."</p> })}
            <ul class="rows" data-testid="authorized-apps">
                {authorized.into_iter().map(|app| view! { <AuthorizedRow app now/> }).collect_view()}
            </ul>
        </section>
        <section class="card" aria-labelledby="developer-title" id="developer-apps">
            <h2 id="developer-title">"Your developer apps"</h2>
            <p class="muted">
                "Register an app to let people sign in to it with Gatehouse (OAuth 2.1 and OpenID Connect). "
                <a href="/.well-known/openid-configuration" rel="external">"Discovery document"</a>
                " · "
                <a href="/developers">"API"</a>
            </p>
            {fresh.map(|fresh| view! { <NewSecret fresh/> })}
            {no_registered.then(|| view! { <p class="muted">"You have not registered an app."</p> })}
            <ul class="rows" data-testid="developer-apps">
                {registered.into_iter().map(|app| view! { <RegisteredRow app now/> }).collect_view()}
            </ul>
            <RegisterForm scopes/>
        </section>
    }
}

#[component]
fn AuthorizedRow(app: AuthorizedApp, now: i64) -> impl IntoView {
    let AuthorizedApp { client_id, name, scopes, authorized_at, last_used_at } = app;
    view! {
        <li class="row" data-testid="authorized-app">
            <div class="row-main">
                <strong>{name.clone()}</strong>
                <span class="scopes">{scopes.into_iter().map(|s| view! { <code class="badge">{s}</code> }).collect_view()}</span>
                <span class="muted small">
                    "Allowed " <Ago at=authorized_at now/> " · last used " <MaybeAgo at=last_used_at now fallback="never"/>
                </span>
            </div>
            <form method="post" action="/apps/revoke" class="row-action">
                <input type="hidden" name="client_id" value=client_id/>
                <button type="submit" class="button secondary small" aria-label=format!("Revoke {name}")
                    data-testid="revoke-app">"Revoke"</button>
            </form>
        </li>
    }
}

#[component]
fn RegisteredRow(app: RegisteredApp, now: i64) -> impl IntoView {
    let RegisteredApp {
        client_id,
        name,
        confidential,
        redirect_uris,
        post_logout_redirect_uris,
        scopes,
        allowed_ips,
        backchannel_logout,
        created_at,
    } = app;
    view! {
        <li class="row" data-testid="developer-app">
            <div class="row-main">
                <strong>{name.clone()}</strong>
                <span class="badge">{if confidential { "confidential" } else { "public (PKCE)" }}</span>
                <span class="muted small">"Client ID " <code data-testid="client-id">{client_id.clone()}</code></span>
                <span class="muted small">
                    "Redirect URIs: " {redirect_uris.join(", ")}
                    {(!post_logout_redirect_uris.is_empty())
                        .then(|| format!(" · after sign-out: {}", post_logout_redirect_uris.join(", ")))}
                </span>
                <span class="scopes">{scopes.into_iter().map(|s| view! { <code class="badge">{s}</code> }).collect_view()}</span>
                {(!allowed_ips.is_empty()).then(|| view! {
                    <span class="muted small" data-testid="app-allowed-ips">"Calls only from " {allowed_ips.join(", ")}</span>
                })}
                {backchannel_logout.map(|logout| view! { <BackchannelLogoutState logout now/> })}
                <span class="muted small">"Registered " <Ago at=created_at now/></span>
            </div>
            <div class="row-action">
                {confidential.then(|| view! {
                    <form method="post" action="/apps/secret" class="inline-form">
                        <input type="hidden" name="client_id" value=client_id.clone()/>
                        <button type="submit" class="button secondary small" data-testid="new-secret">"New secret"</button>
                    </form>
                })}
                <form method="post" action="/apps/delete" class="inline-form">
                    <input type="hidden" name="client_id" value=client_id/>
                    <button type="submit" class="button danger small" aria-label=format!("Delete {name}")
                        data-testid="delete-app">"Delete"</button>
                </form>
            </div>
        </li>
    }
}

/// Where the app hears of ended sign-ins, and how the newest delivery went.
#[component]
fn BackchannelLogoutState(logout: AppBackchannelLogout, now: i64) -> impl IntoView {
    let AppBackchannelLogout { uri, last_delivery } = logout;
    view! {
        <span class="muted small" data-testid="app-backchannel-logout">
            "Back-channel logout: " <code>{uri}</code>
            {match last_delivery {
                None => view! { " · nothing sent yet" }.into_any(),
                Some((at, outcome)) => view! {
                    " · last " <span data-testid="app-backchannel-outcome">{outcome}</span> " " <Ago at now/>
                }
                .into_any(),
            }}
        </span>
    }
}

/// A client secret just made: on the page until dismissed (ten minutes at most), never again.
#[component]
fn NewSecret(fresh: FreshSecret) -> impl IntoView {
    let FreshSecret { client_id, name, secret } = fresh;
    view! {
        <div class="secret" role="status" data-testid="new-client-secret">
            <p>
                <strong>"The secret of \u{201c}" {name} "\u{201d}."</strong>
                " Copy it now into your app's configuration: it is shown only here, and Gatehouse keeps only a hash."
            </p>
            <dl class="facts">
                <dt>"Client ID"</dt><dd><code>{client_id}</code></dd>
                <dt>"Client secret"</dt><dd><code data-testid="client-secret">{secret}</code></dd>
            </dl>
            <form method="post" action="/apps/dismiss">
                <button type="submit" class="button small" data-testid="dismiss-secret">"I have copied it"</button>
            </form>
        </div>
    }
}

#[component]
fn RegisterForm(scopes: Vec<(String, String)>) -> impl IntoView {
    view! {
        <form method="post" action="/apps/register" class="stacked-form" data-testid="register-app">
            <h3>"Register an app"</h3>
            <label for="app-name">"Name"</label>
            <input id="app-name" name="name" type="text" required maxlength="64" placeholder="e.g. My web app"/>
            <label for="app-redirects">"Redirect URIs, one per line"</label>
            <textarea id="app-redirects" name="redirect_uris" rows="2" required
                placeholder="https://app.example.com/callback"></textarea>
            <p class="hint">"Compared exactly. https, or http to 127.0.0.1, [::1] or localhost for apps on your own machine."</p>
            <label for="app-logout">"After sign-out, send people to (optional, one per line)"</label>
            <textarea id="app-logout" name="post_logout_redirect_uris" rows="1"
                placeholder="https://app.example.com/signed-out"></textarea>
            <fieldset>
                <legend>"Kind"</legend>
                <label class="check">
                    <input type="radio" name="kind" value="confidential" checked/>
                    <span class="check-text">"Confidential — a server that can keep a client secret"</span>
                </label>
                <label class="check">
                    <input type="radio" name="kind" value="public"/>
                    <span class="check-text">
                        "Public — a single-page, mobile or command-line app (PKCE only, no secret)"
                    </span>
                </label>
            </fieldset>
            <fieldset>
                <legend>"Scopes it may ask for"</legend>
                <div class="scope-grid">
                    {scopes
                        .into_iter()
                        .map(|(scope, what)| {
                            let checked = matches!(scope.as_str(), "openid" | "profile" | "email");
                            view! {
                                <label class="check">
                                    <input type="checkbox" name="scope" value=scope.clone() checked=checked/>
                                    " " <code>{scope}</code> " " <span class="muted small">{what}</span>
                                </label>
                            }
                        })
                        .collect_view()}
                </div>
            </fieldset>
            <label for="app-backchannel">"Back-channel logout URI " <span class="muted small">"(optional)"</span></label>
            <input id="app-backchannel" name="backchannel_logout_uri" type="url" maxlength="2000" autocomplete="off"
                spellcheck="false" aria-describedby="app-backchannel-hint" placeholder="https://app.example.com/backchannel-logout"/>
            <p class="hint" id="app-backchannel-hint">
                "Gatehouse POSTs a logout token here, server to server, when someone's sign-in with your app ends: "
                "they signed out, their session was revoked or expired, their account was disabled or deleted, or "
                "they revoked your app. https, or http to 127.0.0.1 or [::1]."
            </p>
            <label class="check">
                <input type="checkbox" name="backchannel_logout_session_required" value="true"/>
                <span class="check-text">"My app needs the session id (" <code>"sid"</code> ") in logout tokens"</span>
            </label>
            <label for="app-id-token-alg">"ID token signature"</label>
            <select id="app-id-token-alg" name="id_token_signed_response_alg" aria-describedby="app-id-token-alg-hint">
                <option value="RS256" selected>"RS256 (recommended)"</option>
                <option value="ES256">"ES256"</option>
            </select>
            <p class="hint" id="app-id-token-alg-hint">
                "How its ID tokens and logout tokens are signed. Every OpenID Connect library accepts RS256; choose "
                "ES256 (smaller, faster) only if yours checks it."
            </p>
            <label class="check">
                <input type="checkbox" name="require_pushed_authorization_requests" value="true"/>
                <span class="check-text">
                    "Require pushed authorization requests (PAR): my app POSTs each request to "
                    <code>"/oauth/par"</code> " first, and Gatehouse refuses any other"
                </span>
            </label>
            <label for="app-allowed-ips">"Allowed addresses " <span class="muted small">"(optional)"</span></label>
            <input id="app-allowed-ips" name="allowed_ips" type="text" maxlength="2000" autocomplete="off"
                spellcheck="false" aria-describedby="app-allowed-ips-hint" placeholder="e.g. 203.0.113.0/24, 2001:db8::/32"/>
            <p class="hint" id="app-allowed-ips-hint">
                "Where your app's servers call Gatehouse from (the token endpoint, and its access tokens on the API), "
                "as addresses or CIDR blocks separated by commas. Empty: from anywhere."
            </p>
            <button type="submit" class="button" data-testid="register-app-submit">"Register"</button>
        </form>
    }
    .into_any()
}
