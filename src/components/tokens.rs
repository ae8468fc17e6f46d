//! The dashboard's API tokens: the list (server-rendered), the form that creates one and the secret shown exactly
//! once (an island), and a revoke button per token (an island each).

use leptos::{either::Either, prelude::*, server_fn::ServerFn};

use crate::{
    components::{
        counts::{Counted, Counts, Revoke},
        form::{Post, ReturnedError},
        time::{Ago, MaybeAgo},
    },
    model::tokens::{CreatedToken, Scope, TokenInfo, TokenList},
    rpc::tokens::{RevokeAllTokens, RevokeToken},
};

#[component]
pub fn TokensPanel(tokens: TokenList) -> impl IntoView {
    let TokenList { now, tokens, allow_non_expiring } = tokens;
    let any = !tokens.is_empty();
    view! {
        <section class="card" aria-labelledby="tokens-title" id="tokens">
            <div class="card-head">
                <h2 id="tokens-title">"API tokens"</h2>
                <div class="card-actions">
                    <a href="/developers" class="small">"API documentation"</a>
                    // A plain form: it reloads the page, with or without JavaScript.
                    {any.then(|| view! {
                        <form method="post" action=RevokeAllTokens::PATH class="inline-form" data-testid="revoke-all-tokens">
                            <button type="submit" class="button secondary small">"Revoke all tokens"</button>
                        </form>
                    })}
                </div>
            </div>
            <p class="muted">
                "Personal access tokens let programs call the Gatehouse API as you, with only the scopes you choose. "
                "A token keeps working until it expires or you revoke it here: signing out, or signing out other "
                "sessions, does not revoke tokens. Deleting your account revokes them all."
            </p>
            <TokenCreator allow_never=allow_non_expiring>
                <ul class="rows" data-testid="tokens">
                    {tokens.into_iter().map(|token| view! { <TokenRow token now/> }).collect_view()}
                </ul>
                // Shown by the stylesheet while the list above is empty.
                <p class="muted empty-note">"No tokens yet."</p>
            </TokenCreator>
            <ReturnedError path=RevokeToken::PATH/>
            <ReturnedError path=RevokeAllTokens::PATH/>
        </section>
    }
    .into_any()
}

/// One token. Rendered on the server for the list, and in the browser for a token just created.
#[component]
pub fn TokenRow(token: TokenInfo, now: i64) -> impl IntoView {
    let TokenInfo { id, name, scopes, created_at, expires_at, last_used_at, last_used_ip, allowed_ips } = token;
    view! {
        <li class="row" data-testid="token">
            <div class="row-main">
                <strong>{name.clone()}</strong>
                <span class="scopes">
                    {scopes.iter().map(|s| view! { <code class="badge">{s.as_str()}</code> }).collect_view()}
                </span>
                <span class="muted small">
                    "Created " <Ago at=created_at now/>
                    " · last used " <MaybeAgo at=last_used_at now fallback="never"/>
                    {last_used_ip.map(|ip| format!(" from {ip}"))}
                    " · " {match expires_at {
                        Some(at) => Either::Left(view! { "expires " <Ago at now/> }),
                        None => Either::Right(view! { <strong>"never expires"</strong> }),
                    }}
                </span>
                {(!allowed_ips.is_empty()).then(|| view! {
                    <span class="muted small" data-testid="token-allowed-ips">
                        "Only from " {allowed_ips.join(", ")}
                    </span>
                })}
            </div>
            <Revoke what=Counted::Tokens id label=name/>
        </li>
    }
}

/// The token list (`children`, server-rendered) between the secret of a token just created and the form that
/// creates one. A new token's row is added at the top of the list in the browser.
#[island]
fn TokenCreator(allow_never: bool, children: Children) -> impl IntoView {
    let counts = use_context::<Counts>();
    let post = Post::new(None);
    let created = RwSignal::new(None::<CreatedToken>);
    // New rows are built later, from the answer; they need this island's context (the counts).
    let owner = Owner::current();
    let add = Callback::new(move |json: String| {
        let Ok(new) = serde_json::from_str::<CreatedToken>(&json) else { return };
        if let Some(counts) = counts {
            counts.tokens.update(|n| *n += 1);
        }
        if let Some(owner) = &owner {
            owner.with(|| show_new_row(new.token.clone()));
        }
        created.set(Some(new));
    });
    view! {
        <NewSecret created/>
        {children()}
        <CreateForm post allow_never then=add/>
    }
}

/// Puts a token just created at the top of the list, as the server lists them (newest first).
fn show_new_row(token: TokenInfo) {
    #[cfg(feature = "hydrate")]
    if let Ok(Some(list)) = document().query_selector("[data-testid=tokens]") {
        use leptos::tachys::view::{Mountable, Render};
        let now = token.created_at;
        let mut row = view! { <TokenRow token now/> }.build();
        row.mount(&list, list.first_child().as_ref());
        // The row lives as long as the page (or until it is revoked and removed).
        std::mem::forget(row);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = token;
}

/// The secret of the token just created: shown once, with a copy button, and gone on the next page load.
#[component]
fn NewSecret(created: RwSignal<Option<CreatedToken>>) -> impl IntoView {
    // Which secret was copied: a new token's button says "Copy" again.
    let copied = RwSignal::new(None::<String>);
    move || {
        created.get().map(|CreatedToken { token, secret }| {
            let to_copy = secret.clone();
            let copy = move |_| {
                #[cfg(feature = "hydrate")]
                {
                    let _ = window().navigator().clipboard().write_text(&to_copy);
                    copied.set(Some(to_copy.clone()));
                }
                #[cfg(not(feature = "hydrate"))]
                let _ = &to_copy;
            };
            let this = secret.clone();
            let done = move || copied.with(|c| c.as_deref() == Some(this.as_str()));
            view! {
                <div class="secret" role="status" data-testid="new-token">
                    <p>
                        <strong>"Token \u{201c}" {token.name} "\u{201d} created."</strong>
                        " Copy it now: it is shown only this once, and Gatehouse keeps only a hash of it."
                    </p>
                    <div class="field-row">
                        <input type="text" readonly value=secret aria-label="New token" data-testid="new-token-secret"
                            on:focus=|ev| {
                                use leptos::wasm_bindgen::JsCast;
                                if let Some(input) = ev.target().and_then(|t| t.dyn_into::<leptos::web_sys::HtmlInputElement>().ok()) {
                                    input.select();
                                }
                            }/>
                        <button type="button" class="button" on:click=copy data-testid="copy-token">
                            {move || if done() { "Copied" } else { "Copy" }}
                        </button>
                    </div>
                </div>
            }
        })
    }
}

/// The form is plain HTML (only the button and the error follow the post), read when it is sent. It needs
/// JavaScript: without it there would be no way to show the secret once.
#[component]
fn CreateForm(post: Post, allow_never: bool, then: Callback<String>) -> impl IntoView {
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        {
            use leptos::wasm_bindgen::JsCast;
            let Some(form) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok()) else { return };
            let Ok(data) = web_sys::FormData::new_with_form(&form) else { return };
            let field = |name: &str| data.get(name).as_string().unwrap_or_default();
            // The server function's fields, as its URL encoding names them (`scopes[0]`, …); no expiry is "never".
            let mut fields = vec![("name".to_owned(), field("name"))];
            let checked = Scope::ALL.into_iter().filter(|s| data.get_all("scope").includes(&s.as_str().into(), 0));
            for (index, scope) in checked.enumerate() {
                fields.push((format!("scopes[{index}]"), scope.as_str().to_owned()));
            }
            let days = field("expires_in_days");
            if days != "never" {
                fields.push(("expires_in_days".to_owned(), days));
            }
            fields.push(("allowed_ips".to_owned(), field("allowed_ips")));
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            post.post(crate::rpc::tokens::CreateToken::PATH, &fields, move |json| {
                then.run(json.to_owned());
                form.reset();
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (post, then);
    };
    view! {
        <form class="stacked-form token-form" on:submit=submit data-testid="token-form">
            <h3>"Create a token"</h3>
            <noscript><p class="hint">"Creating a token needs JavaScript, so its secret can be shown to you once."</p></noscript>
            <label for="token-name">"Name"</label>
            <input id="token-name" name="name" type="text" required maxlength="64" placeholder="e.g. CI deploy script"/>
            <fieldset>
                <legend>"Scopes"</legend>
                <div class="scope-grid">
                    {Scope::ALL
                        .into_iter()
                        .map(|scope| view! { <ScopeChoice scope checked=scope == Scope::ProfileRead/> })
                        .collect_view()}
                </div>
            </fieldset>
            <label for="token-expiry">"Expires"</label>
            // The default is `TokenLifetime::DEFAULT_DAYS`.
            <select id="token-expiry" name="expires_in_days">
                <option value="7">"in 7 days"</option>
                <option value="30" selected>"in 30 days"</option>
                <option value="60">"in 60 days"</option>
                <option value="90">"in 90 days"</option>
                <option value="365">"in 365 days"</option>
                {allow_never.then(|| view! { <option value="never">"never"</option> })}
            </select>
            <label for="token-allowed-ips">"Allowed addresses " <span class="muted small">"(optional)"</span></label>
            <input id="token-allowed-ips" name="allowed_ips" type="text" maxlength="2000" autocomplete="off"
                spellcheck="false" aria-describedby="token-allowed-ips-hint" placeholder="e.g. 203.0.113.0/24, 2001:db8::/32"/>
            <p class="hint" id="token-allowed-ips-hint">
                "Addresses or CIDR blocks the token may be used from, separated by commas. Empty: from anywhere."
            </p>
            <div>
                <button type="submit" class="button" disabled=move || post.pending() data-testid="create-token">
                    {move || if post.pending() { "Creating…" } else { "Create token" }}
                </button>
            </div>
            <p class="field-error" role="alert" data-testid="token-error">{move || post.error()}</p>
        </form>
    }
}

#[component]
fn ScopeChoice(scope: Scope, checked: bool) -> impl IntoView {
    let id = format!("scope-{}", scope.as_str().replace(':', "-"));
    view! {
        <label class="check">
            <input type="checkbox" id=id name="scope" value=scope.as_str() checked=checked/>
            <code>{scope.as_str()}</code>
            <span class="muted small">{scope.description()}</span>
        </label>
    }
}
