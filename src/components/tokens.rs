//! The dashboard's API tokens: the list, the form that creates one, the secret shown exactly once, and revocation.

use leptos::{either::Either, prelude::*};

use crate::{
    components::{
        account::LoadError,
        time::{Ago, MaybeAgo},
    },
    error::AppError,
    tokens::{CreateToken, CreatedToken, RevokeToken, Scope, TokenInfo, TokenLifetime, TokenList},
};

#[component]
pub fn TokensPanel(
    tokens: ReadSignal<Result<TokenList, AppError>>,
    create: ServerAction<CreateToken>,
    revoke: ServerAction<RevokeToken>,
) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="tokens-title" id="tokens">
            <div class="card-head">
                <h2 id="tokens-title">"API tokens"</h2>
                <a href="/developers" class="small">"API documentation"</a>
            </div>
            <p class="muted">
                "Personal access tokens let programs call the Gatehouse API as you, with only the scopes you choose. "
                "A token keeps working until it expires or you revoke it here: signing out, or signing out other "
                "sessions, does not revoke tokens. Deleting your account revokes them all."
            </p>
            <NewSecret create/>
            {move || match tokens.get() {
                        Ok(list) => Either::Left(view! {
                            {list.tokens.is_empty().then(|| view! { <p class="muted">"No tokens yet."</p> })}
                            <ul class="rows" data-testid="tokens">
                                {list.tokens
                                    .into_iter()
                                    .map(|token| view! { <TokenRow token now=list.now revoke/> })
                                    .collect_view()}
                            </ul>
                            <CreateForm create allow_never=list.allow_non_expiring/>
                        }),
                        Err(error) => Either::Right(view! { <LoadError error/> }),
            }}
            <p class="field-error" role="alert">
                {move || match revoke.value().get() {
                    Some(Err(error)) => Some(error.to_string()),
                    _ => None,
                }}
            </p>
        </section>
    }
}

#[component]
fn TokenRow(token: TokenInfo, now: i64, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    let pending = revoke.pending();
    let name = token.name.clone();
    view! {
        <li class="row" data-testid="token">
            <div class="row-main">
                <strong>{token.name.clone()}</strong>
                <span class="scopes">
                    {token.scopes.iter().map(|s| view! { <code class="badge">{s.as_str()}</code> }).collect_view()}
                </span>
                <span class="muted small">
                    "Created " <Ago at=token.created_at now/>
                    " · last used " <MaybeAgo at=token.last_used_at now fallback="never"/>
                    {token.last_used_ip.map(|ip| format!(" from {ip}"))}
                    " · " {match token.expires_at {
                        Some(at) => Either::Left(view! { "expires " <Ago at now/> }),
                        None => Either::Right(view! { <strong>"never expires"</strong> }),
                    }}
                </span>
            </div>
            <ActionForm action=revoke attr:class="inline-form">
                <input type="hidden" name="id" value=token.id.clone()/>
                <button type="submit" class="button secondary small" disabled=move || pending.get()
                    aria-label=format!("Revoke {name}")>
                    {move || if pending.get() { "Revoking…" } else { "Revoke" }}
                </button>
            </ActionForm>
        </li>
    }
}

/// The secret of the token just created: shown once, with a copy button, and gone on the next page load.
#[component]
fn NewSecret(create: ServerAction<CreateToken>) -> impl IntoView {
    let copied = RwSignal::new(false);
    move || match create.value().get() {
        Some(Ok(CreatedToken { token, secret })) => {
            let to_copy = secret.clone();
            let copy = move |_| {
                #[cfg(feature = "hydrate")]
                {
                    let clipboard = window().navigator().clipboard();
                    let _ = clipboard.write_text(&to_copy);
                    copied.set(true);
                }
                #[cfg(not(feature = "hydrate"))]
                let _ = &to_copy;
            };
            Some(view! {
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
                            {move || if copied.get() { "Copied" } else { "Copy" }}
                        </button>
                    </div>
                </div>
            })
        }
        _ => None,
    }
}

#[component]
fn CreateForm(create: ServerAction<CreateToken>, allow_never: bool) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let scopes = RwSignal::new(vec![Scope::ProfileRead]);
    let days = RwSignal::new(TokenLifetime::DEFAULT_DAYS.to_string());
    let pending = create.pending();
    let error = move || match create.value().get() {
        Some(Err(error)) => Some(error.to_string()),
        _ => None,
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(CreateToken {
            name: name.get_untracked(),
            scopes: scopes.get_untracked().iter().map(|s| s.as_str().to_owned()).collect(),
            expires_in_days: days.get_untracked().parse().ok(),
        });
    };
    // Clear the form once a token is made.
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_))) {
            name.set(String::new());
        }
    });
    view! {
        <form class="stacked-form token-form" on:submit=submit data-testid="token-form">
            <h3>"Create a token"</h3>
            <noscript><p class="hint">"Creating a token needs JavaScript, so its secret can be shown to you once."</p></noscript>
            <label for="token-name">"Name"</label>
            <input id="token-name" type="text" required maxlength="64" placeholder="e.g. CI deploy script"
                prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
            <fieldset>
                <legend>"Scopes"</legend>
                <div class="scope-grid">
                    {Scope::ALL
                        .into_iter()
                        .map(|scope| {
                            let id = format!("scope-{}", scope.as_str().replace(':', "-"));
                            view! {
                                <label class="check">
                                    <input type="checkbox" id=id value=scope.as_str()
                                        prop:checked=move || scopes.with(|s| s.contains(&scope))
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            scopes.update(|s| {
                                                s.retain(|x| *x != scope);
                                                if on { s.push(scope); s.sort(); }
                                            });
                                        }/>
                                    <code>{scope.as_str()}</code>
                                    <span class="muted small">{scope.description()}</span>
                                </label>
                            }
                        })
                        .collect_view()}
                </div>
            </fieldset>
            <label for="token-expiry">"Expires"</label>
            <select id="token-expiry" on:change=move |ev| days.set(event_target_value(&ev))>
                {[7u32, 30, 60, 90, 365]
                    .into_iter()
                    .map(|d| view! {
                        <option value=d.to_string() selected=d == TokenLifetime::DEFAULT_DAYS>
                            {format!("in {d} days")}
                        </option>
                    })
                    .collect_view()}
                {allow_never.then(|| view! { <option value="never">"never"</option> })}
            </select>
            <div>
                <button type="submit" class="button" disabled=pending data-testid="create-token">
                    {move || if pending.get() { "Creating…" } else { "Create token" }}
                </button>
            </div>
            <p class="field-error" role="alert" data-testid="token-error">{error}</p>
        </form>
    }
}
