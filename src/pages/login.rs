//! `/login`: the password form (when the site offers passwords) and one button per configured provider, with one
//! "Keep me signed in" box for all of them. With passwords, the providers' buttons are part of the password form and
//! post it to the server's login route (`POST /auth/login/{provider}`); without, they submit a GET form to it
//! (`/auth/login/{provider}?remember=1&next=…`). Either way all of it works without JavaScript. Where the site offers
//! passkeys, a small script (`/passkey.js`, no WebAssembly) adds "Sign in with a passkey" and passkey autofill.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    components::{form::KeepSignedIn, passkey::PasskeyButton},
    pages::password::PasswordSignInForm,
    rpc::{auth::login_providers, passkeys::passkeys_offered, password::password_login},
};

/// "Sign in with a passkey": shown by `passkey.js` only in a browser that can use passkeys (no JavaScript, no
/// button: the other ways in are above). The script also offers passkeys in the address field's autofill.
#[component]
fn PasskeySignIn() -> impl IntoView {
    view! {
        <p class="divider" role="separator" data-passkey-only hidden><span>"or"</span></p>
        <PasskeyButton purpose="sign-in" label="Sign in with a passkey"/>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let providers = Resource::new(|| (), |_| login_providers());

    let with_password = password_login();
    let with_passkeys = passkeys_offered();
    let flag = |name: &str| query.with_untracked(|q| q.get(name).is_some());
    let notice = if flag("verified") {
        Some("Your email address is confirmed. Sign in to continue.")
    } else if flag("reset") {
        Some(
            "Your new password is set. Every session was signed out, and every API token and app authorization was \
             ended. Sign in with the new password.",
        )
    } else if flag("recovered") {
        Some(
            "Your new passkey is added. Every session was signed out, and every API token and app authorization was \
             ended. Sign in with the new passkey.",
        )
    } else {
        None
    };
    let next = query.with_untracked(|q| q.get("next"));
    // An app that sent the person here may say whom it expects (`login_hint`): an address fills in the form.
    let email = query.with_untracked(|q| q.get("login_hint")).filter(|h| h.contains('@') && h.len() <= 254);

    // The providers' buttons, once the list is loaded. Inside the password form they post to the login route, so
    // that form's one "Keep me signed in" box goes with whichever button is pressed (and no typed field reaches a
    // URL); on their own they are a GET form with a box of their own.
    let next_for_form = next.clone();
    let buttons = move || {
        let next = next.clone();
        Suspend::new(async move {
            match providers.await {
                Ok(list) if list.is_empty() && with_password => ().into_any(),
                Ok(list) if list.is_empty() => view! {
                    <p class="problem" role="status">
                        "No sign-in provider is configured. Set OIDC_*, GOOGLE_* or GITHUB_* (see .env.example), or run "
                        <code>"make run"</code> " to use the Dev IdP."
                    </p>
                }
                    .into_any(),
                Ok(list) => {
                    let buttons = view! {
                        <ul class="providers">
                            {list
                                .into_iter()
                                .map(|provider| {
                                    let action = format!("/auth/login/{}", provider.id);
                                    view! {
                                        <li>
                                            <button type="submit" class="button provider" formaction=action
                                                formmethod=with_password.then_some("post")
                                                formnovalidate=with_password data-provider=provider.id.clone()>
                                                {format!("Continue with {}", provider.label)}
                                            </button>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    };
                    if with_password {
                        view! {
                            <p class="divider" role="separator"><span>"or continue with"</span></p>
                            {buttons}
                        }
                            .into_any()
                    } else {
                        view! {
                            <form method="get" action="/auth/login" class="provider-form" data-testid="provider-form">
                                {next.map(|next| view! { <input type="hidden" name="next" value=next/> })}
                                {buttons}
                                <KeepSignedIn id="remember-provider"/>
                            </form>
                        }
                            .into_any()
                    }
                }
                Err(error) => view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any(),
            }
        })
    };
    let options =
        view! { <Suspense fallback=|| view! { <p class="muted">"Loading sign-in options…"</p> }>{buttons}</Suspense> };

    view! {
        <Title text="Sign in"/>
        <section class="card narrow" aria-labelledby="login-title">
            <h1 id="login-title">"Sign in to Gatehouse"</h1>
            {notice.map(|text| view! { <p class="banner" role="status" data-testid="login-notice">{text}</p> })}
            {if with_password {
                view! {
                    <PasswordSignInForm next=next_for_form email=email.unwrap_or_default() passkeys=with_passkeys>
                        {options}
                    </PasswordSignInForm>
                }
                    .into_any()
            } else {
                view! {
                    <p class="muted">
                        "Choose how to sign in. Your provider checks who you are; Gatehouse never sees a password."
                    </p>
                    {options}
                }
                    .into_any()
            }}
            {with_passkeys.then(|| view! { <PasskeySignIn/> })}
        </section>
    }
}
