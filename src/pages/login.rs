//! `/login`: the password form (when the site offers passwords) above one button per configured provider. The
//! password form posts to its server function; the providers' buttons submit a GET form to the server's login route
//! (`/auth/login/{provider}?remember=1&next=…`), so all of it works without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{auth::login_providers, pages::password::PasswordSignInForm, password::password_login};

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let providers = Resource::new(|| (), |_| login_providers());

    let with_password = password_login();
    let flag = |name: &str| query.with_untracked(|q| q.get(name).is_some());
    let notice = if flag("verified") {
        Some("Your email address is confirmed. Sign in to continue.")
    } else if flag("reset") {
        Some("Your new password is set, and every session was signed out. Sign in with the new password.")
    } else {
        None
    };
    let next = query.with_untracked(|q| q.get("next"));
    // An app that sent the person here may say whom it expects (`login_hint`): an address fills in the form.
    let email = query.with_untracked(|q| q.get("login_hint")).filter(|h| h.contains('@') && h.len() <= 254);

    view! {
        <Title text="Sign in"/>
        <section class="card narrow" aria-labelledby="login-title">
            <h1 id="login-title">"Sign in to Gatehouse"</h1>
            {notice.map(|text| view! { <p class="banner" role="status" data-testid="login-notice">{text}</p> })}
            {if with_password {
                view! {
                    <PasswordSignInForm next email=email.unwrap_or_default()/>
                    <p class="divider" role="separator"><span>"or continue with"</span></p>
                }
                    .into_any()
            } else {
                view! {
                    <p class="muted">
                        "Choose how to sign in. Your provider checks who you are; Gatehouse never sees a password."
                    </p>
                }
                    .into_any()
            }}
            <Suspense fallback=|| view! { <p class="muted">"Loading sign-in options…"</p> }>
                {move || Suspend::new(async move {
                    match providers.await {
                        Ok(list) if list.is_empty() && with_password => ().into_any(),
                        Ok(list) if list.is_empty() => {
                            view! {
                                <p class="problem" role="status">
                                    "No sign-in provider is configured. Set OIDC_*, GOOGLE_* or GITHUB_* (see .env.example), or run "
                                    <code>"make run"</code> " to use the Dev IdP."
                                </p>
                            }
                                .into_any()
                        }
                        Ok(list) => {
                            let next = query.with_untracked(|q| q.get("next"));
                            // One form, one button per provider (each its own `formaction`): a plain GET that
                            // carries `next` and the "Keep me signed in" choice, with or without JavaScript.
                            view! {
                                <form method="get" action="/auth/login" class="provider-form" data-testid="provider-form">
                                    {next.map(|next| view! { <input type="hidden" name="next" value=next/> })}
                                    <ul class="providers">
                                        {list
                                            .into_iter()
                                            .map(|provider| {
                                                let action = format!("/auth/login/{}", provider.id);
                                                view! {
                                                    <li>
                                                        <button type="submit" class="button provider" formaction=action data-provider=provider.id.clone()>
                                                            {format!("Continue with {}", provider.label)}
                                                        </button>
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
                                    <KeepSignedIn id="remember-provider"/>
                                </form>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// "Keep me signed in" (unticked by default): without it the session ends with the browser, and after 12 hours at
/// most; with it, it lasts as long as the site allows (`SESSION_MAX_LIFETIME`).
#[component]
pub fn KeepSignedIn(id: &'static str) -> impl IntoView {
    view! {
        <label class="check" for=id>
            <input id=id type="checkbox" name="remember" value="1"/>
            " Keep me signed in on this device"
        </label>
    }
}
