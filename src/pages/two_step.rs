//! The pages of two-step verification: `/login/mfa` (the second step of a sign-in), `/profile/two-step` (setting up
//! an authenticator app), `/profile/recovery-codes` (new codes, shown once) and `/confirm` (confirming it is you
//! before a sensitive change). Server-rendered forms with no island, like the password pages.

use leptos::{either::Either, prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    components::{account::LoadError, form::page_error, passkey::PasskeyButton},
    model::{
        mfa::{ConfirmChoices, EnrolmentView},
        password::MAX_PASSWORD_CHARS,
    },
    rpc::mfa::{
        ConfirmIdentity, ConfirmTwoStep, DismissRecoveryCodes, PassChallenge, StartTwoStep, challenge_pending,
        confirm_options, fresh_recovery_codes, two_step_enrolment,
    },
    rpc::passkeys::passkeys_offered,
};

/// A code field: six digits from the app, or a recovery code.
#[component]
fn CodeField(id: &'static str, label: &'static str) -> impl IntoView {
    view! {
        <label for=id>{label}</label>
        <input id=id name="code" type="text" required autocomplete="one-time-code" spellcheck="false"
            autocapitalize="off" maxlength="40" class="code-input"/>
    }
}

#[component]
pub fn ChallengePage() -> impl IntoView {
    let error = page_error(PassChallenge::PATH);
    view! {
        <Title text="Two-step verification"/>
        <section class="card narrow" aria-labelledby="challenge-title">
            <h1 id="challenge-title">"Two-step verification"</h1>
            <Suspense fallback=|| ()>
                {Suspend::new(async move {
                    if challenge_pending().await.unwrap_or(false) || error.is_some() {
                        Either::Left(view! {
                            <p class="muted">"Enter the 6-digit code your authenticator app shows for Gatehouse."</p>
                            <form method="post" action=PassChallenge::PATH class="stacked-form" data-testid="challenge-form">
                                <CodeField id="code" label="Code"/>
                                <p class="hint">"Lost your phone? Enter one of your recovery codes instead."</p>
                                <button type="submit" class="button">"Verify"</button>
                                <p class="field-error" role="alert" data-testid="challenge-error">
                                    {error.clone().map(|e| e.to_string())}
                                </p>
                            </form>
                            {passkeys_offered().then(|| view! {
                                <PasskeyButton purpose="second-step" label="Use a passkey instead"/>
                            })}
                        })
                    } else {
                        Either::Right(view! {
                            <p>"There is no sign-in waiting for a code in this browser: it finished, or took too long."</p>
                            <p><a class="button" href="/login">"Sign in"</a></p>
                        })
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn EnrolPage() -> impl IntoView {
    let error = page_error(ConfirmTwoStep::PATH);
    view! {
        <Title text="Set up two-step verification"/>
        <section class="card narrow" aria-labelledby="enrol-title">
            <h1 id="enrol-title">"Set up two-step verification"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {Suspend::new(async move {
                    match two_step_enrolment().await {
                        Ok(Some(enrolment)) => Either::Left(view! { <Enrolment enrolment error=error.clone()/> }.into_any()),
                        Ok(None) => Either::Left(view! {
                            <p>"Nothing is being set up. Start from your profile."</p>
                            <form method="post" action=StartTwoStep::PATH>
                                <button type="submit" class="button">"Set up an authenticator app"</button>
                            </form>
                        }
                        .into_any()),
                        Err(error) => Either::Right(view! { <LoadError error/> }),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Enrolment(enrolment: EnrolmentView, error: Option<crate::model::error::AppError>) -> impl IntoView {
    // The QR code is drawn on the server; only the SVG element itself goes into the page.
    let svg = enrolment.qr_svg.find("<svg").map(|at| enrolment.qr_svg[at..].to_owned()).unwrap_or_default();
    view! {
        <ol class="steps-list">
            <li>"Open your authenticator app (Google Authenticator, 1Password, Aegis, …) and add an account."</li>
            <li>
                "Scan this code, or type the key below."
                <div class="qr" role="img" aria-label="QR code of the key" inner_html=svg></div>
                <p>"Key: " <code class="secret-key" data-testid="totp-key">{enrolment.key}</code></p>
            </li>
            <li>"Enter the 6-digit code the app shows, to check that it works."</li>
        </ol>
        <form method="post" action=ConfirmTwoStep::PATH class="stacked-form" data-testid="enrol-form">
            <CodeField id="code" label="Code from the app"/>
            <button type="submit" class="button">"Turn on two-step verification"</button>
            <p class="field-error" role="alert" data-testid="enrol-error">{error.map(|e| e.to_string())}</p>
        </form>
    }
}

#[component]
pub fn RecoveryCodesPage() -> impl IntoView {
    view! {
        <Title text="Your recovery codes"/>
        <section class="card narrow" aria-labelledby="codes-title">
            <h1 id="codes-title">"Your recovery codes"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {Suspend::new(async move {
                    match fresh_recovery_codes().await {
                        Ok(Some(codes)) => {
                            let text = codes.join("\n");
                            let download = format!(
                                "data:text/plain;charset=utf-8,{}",
                                crate::components::form::url_escape(&format!(
                                    "Gatehouse recovery codes. Each works once, in place of a code from your app.\n\n{text}\n"
                                ))
                            );
                            Either::Left(view! {
                                <p>
                                    "Keep these somewhere safe. Each one signs you in once if you lose your phone. \
                                     This is the only time they are shown."
                                </p>
                                <textarea class="codes" readonly rows=codes.len() aria-label="Recovery codes"
                                    data-testid="recovery-codes">{text}</textarea>
                                <p class="card-actions">
                                    <a class="button secondary" href=download download="gatehouse-recovery-codes.txt"
                                        rel="external">"Download"</a>
                                </p>
                                <form method="post" action=DismissRecoveryCodes::PATH>
                                    <button type="submit" class="button">"I have saved them"</button>
                                </form>
                            })
                        }
                        Ok(None) => Either::Right(view! {
                            <p>"Recovery codes are shown once, just after they are made. Make new ones from your profile."</p>
                            <p><a class="button" href="/profile">"Back to your profile"</a></p>
                        }
                        .into_any()),
                        Err(error) => Either::Right(view! { <LoadError error/> }.into_any()),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// `/confirm?next=…`: confirm it is you with your password, a code, or your provider, then back to `next`.
#[component]
pub fn ConfirmPage() -> impl IntoView {
    let next = use_query_map().with_untracked(|q| q.get("next")).unwrap_or_else(|| "/profile".into());
    let error = page_error(ConfirmIdentity::PATH);
    view! {
        <Title text="Confirm it's you"/>
        <section class="card narrow" aria-labelledby="confirm-title">
            <h1 id="confirm-title">"Confirm it's you"</h1>
            <p class="muted">
                "This change needs a fresh confirmation of who you are. It lasts ten minutes."
            </p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {Suspend::new({
                    let next = next.clone();
                    async move {
                        match confirm_options().await {
                            Ok(choices) => Either::Left(view! { <ConfirmChoicesView choices next error=error.clone()/> }),
                            Err(error) => Either::Right(view! { <LoadError error/> }),
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn ConfirmChoicesView(
    choices: ConfirmChoices,
    next: String,
    error: Option<crate::model::error::AppError>,
) -> impl IntoView {
    let encoded_next = crate::components::form::url_escape(&next);
    view! {
        {choices.passkey.then(|| view! { <PasskeyButton purpose="confirm" label="Confirm with a passkey" primary=true/> })}
        {choices.code.then(|| view! {
            <form method="post" action=ConfirmIdentity::PATH class="stacked-form" data-testid="confirm-code-form">
                <input type="hidden" name="next" value=next.clone()/>
                <CodeField id="confirm-code" label="Code from your authenticator app"/>
                <button type="submit" class="button">"Confirm"</button>
            </form>
        })}
        {choices.password.then(|| view! {
            <form method="post" action=ConfirmIdentity::PATH class="stacked-form" data-testid="confirm-password-form">
                <input type="hidden" name="next" value=next.clone()/>
                <label for="confirm-password">"Your password"</label>
                <input id="confirm-password" name="password" type="password" required
                    autocomplete="current-password" maxlength=MAX_PASSWORD_CHARS/>
                <button type="submit" class="button">"Confirm with password"</button>
            </form>
        })}
        {(!choices.providers.is_empty()).then(|| view! {
            <ul class="providers">
                {choices
                    .providers
                    .into_iter()
                    .map(|provider| {
                        let href = format!("/auth/confirm/{}?next={encoded_next}", provider.id);
                        view! {
                            <li>
                                <a class="button provider" rel="external" href=href>
                                    {format!("Sign in again with {}", provider.label)}
                                </a>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        })}
        <p class="field-error" role="alert" data-testid="confirm-error">{error.map(|e| e.to_string())}</p>
    }
}
