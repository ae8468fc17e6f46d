//! `/developers`: how to call the Gatehouse API — authentication, scopes, errors, routes — with a link to the
//! OpenAPI document the server generates from its handlers.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::model::tokens::Scope;

/// (method, path, scope, what it does)
const ROUTES: [(&str, &str, &str, &str); 11] = [
    ("GET", "/api/v1/me", "profile:read", "Your profile"),
    ("PATCH", "/api/v1/me", "profile:write", "Change your display name: {\"display_name\": \"…\"}"),
    ("GET", "/api/v1/sessions", "sessions:read", "Your active sessions"),
    ("DELETE", "/api/v1/sessions/{id}", "sessions:write", "Revoke a session"),
    ("GET", "/api/v1/audit?before=&limit=", "audit:read", "Your security activity, newest first, by pages"),
    ("GET", "/api/v1/tokens", "tokens:read", "Your tokens (never their secrets)"),
    ("POST", "/api/v1/tokens", "tokens:write", "Create a token: {\"name\", \"scopes\", \"expires_in_days\"}"),
    ("DELETE", "/api/v1/tokens/{id}", "tokens:write", "Revoke a token, and the tokens it created"),
    ("DELETE", "/api/v1/tokens", "tokens:write", "Revoke all your tokens"),
    (
        "GET",
        "/api/v1/connections",
        "connections:token",
        "Your sign-in providers whose tokens are kept (not with a cookie)",
    ),
    (
        "POST",
        "/api/v1/connections/{provider}/token",
        "connections:token",
        "A current access token at that provider, refreshed when needed (not with a cookie)",
    ),
];

#[component]
pub fn DevelopersPage() -> impl IntoView {
    view! {
        <Title text="API"/>
        <section class="card">
            <h1>"The Gatehouse API"</h1>
            <p class="lede">
                "Your account over JSON. Create a personal access token on your "
                <a href="/dashboard#tokens">"dashboard"</a>
                ", then send it in the Authorization header:"
            </p>
            <pre class="code"><code>"curl -H \"Authorization: Bearer gth_…\" https://<this site>/api/v1/me"</code></pre>
            <p>
                "The machine-readable description is "
                <a href="/api/v1/openapi.json" rel="external" data-testid="openapi-link">"/api/v1/openapi.json"</a>
                " (OpenAPI 3.1, generated from the server's own handlers)."
            </p>
        </section>
        <section class="card" aria-labelledby="routes-title">
            <h2 id="routes-title">"Routes"</h2>
            <div class="table-scroll">
                <table class="routes">
                    <thead><tr><th scope="col">"Request"</th><th scope="col">"Scope"</th><th scope="col">"Does"</th></tr></thead>
                    <tbody>
                        {ROUTES
                            .into_iter()
                            .map(|(method, path, scope, what)| view! {
                                <tr>
                                    <td><code>{method} " " {path}</code></td>
                                    <td><code>{scope}</code></td>
                                    <td>{what}</td>
                                </tr>
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        <section class="card" aria-labelledby="scopes-title">
            <h2 id="scopes-title">"Scopes"</h2>
            <dl class="facts">
                {Scope::ALL
                    .into_iter()
                    .map(|scope| view! { <dt><code>{scope.as_str()}</code></dt><dd>{scope.description()}</dd> })
                    .collect_view()}
            </dl>
            <p class="muted">
                "A token can only create tokens with scopes it has itself. Gatehouse's own pages use your session, \
                 which carries every scope."
            </p>
        </section>
        <section class="card" aria-labelledby="errors-title">
            <h2 id="errors-title">"Errors"</h2>
            <p>"Every error is JSON: " <code>"{\"error\": \"…\", \"message\": \"…\"}"</code>"."</p>
            <dl class="facts">
                <dt><code>"401"</code></dt>
                <dd>"No token, a malformed Authorization header, or (" <code>"invalid_token"</code>
                    ") a token that is unknown, expired or revoked. The WWW-Authenticate header says which."</dd>
                <dt><code>"403"</code></dt>
                <dd><code>"insufficient_scope"</code>": the token lacks the scope the route needs."</dd>
                <dt><code>"404"</code></dt><dd>"No such session, token or route — or it is not yours."</dd>
                <dt><code>"400 / 413 / 415 / 422"</code></dt>
                <dd>"Broken JSON, a body over 16 KB, a body that is not application/json, or fields that are \
                     wrong or unknown."</dd>
            </dl>
            <p class="muted">"Tokens in the query string are ignored: URLs end up in logs."</p>
        </section>
    }
}
