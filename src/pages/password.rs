//! The pages of email and password accounts: `/signup`, `/verify-email`, `/reset` and `/reset/new`, plus the
//! password form of `/login`. All are server-rendered forms with no island: they post to their server function and
//! the browser comes back with the outcome in the URL, so they work without JavaScript and add nothing to the
//! WebAssembly.

use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    components::form::{KeepSignedIn, page_error},
    model::{account::DisplayName, error::AppError, password::EmailAddress},
    rpc::{
        passkeys::{PasskeySignUp, passkeys_offered},
        password::{PasswordSignIn, RequestPasswordReset, ResetPassword, SignUp, VerifyEmail, password_login},
    },
};

/// What a field-level error looks like, under its form.
#[component]
fn FormError(id: &'static str, error: Option<AppError>) -> impl IntoView {
    view! { <p id=id class="field-error" role="alert" data-testid=id>{error.map(|e| e.to_string())}</p> }
}

/// The password form on `/login`, with its links; `next` is where to go after signing in, `email` an address to
/// fill in (an app's `login_hint`), `children` what else the form holds (the providers' buttons, which share its
/// "Keep me signed in" box).
#[component]
pub fn PasswordSignInForm(
    next: Option<String>,
    #[prop(optional)] email: Option<String>,
    #[prop(optional)] children: Option<Children>,
    // The address field also offers this site's passkeys (autofill), when the site offers them.
    #[prop(optional)] passkeys: bool,
) -> impl IntoView {
    let error = page_error(PasswordSignIn::PATH);
    let autocomplete = if passkeys { "username webauthn" } else { "username" };
    view! {
        <form method="post" action=PasswordSignIn::PATH class="stacked-form" data-testid="password-form">
            {next.map(|next| view! { <input type="hidden" name="next" value=next/> })}
            <label for="email">"Email address"</label>
            <input id="email" name="email" type="email" required autocomplete=autocomplete value=email
                maxlength=EmailAddress::MAX_CHARS aria-describedby="sign-in-error"/>
            <label for="password">"Password"</label>
            <input id="password" name="password" type="password" required autocomplete="current-password"
                maxlength=crate::model::password::MAX_PASSWORD_CHARS aria-describedby="sign-in-error"/>
            <KeepSignedIn id="remember-password"/>
            <button type="submit" class="button">"Sign in"</button>
            <FormError id="sign-in-error" error/>
            {children.map(|children| children())}
        </form>
        <p class="form-links">
            <a href="/reset">"Forgot your password?"</a>
            " · "
            <a href="/signup">"Create an account"</a>
        </p>
    }
}

/// What the pages say when this site offers no passwords (`PASSWORD_LOGIN=false`), with a 404.
#[component]
fn NotOffered() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="card narrow">
            <h1>"Passwords are not offered here"</h1>
            <p class="muted">"This Gatehouse signs people in with their identity providers only."</p>
            <p><a class="button" href="/login">"Sign in"</a></p>
        </section>
    }
}

fn query_flag(name: &str) -> bool {
    use_query_map().with_untracked(|q| q.get(name).is_some())
}

fn query_value(name: &str) -> Option<String> {
    use_query_map().with_untracked(|q| q.get(name))
}

#[component]
pub fn SignUpPage() -> impl IntoView {
    if !password_login() {
        return view! { <NotOffered/> }.into_any();
    }
    if query_value("sent").as_deref() == Some("passkey") {
        return view! {
            <Title text="Check your email"/>
            <section class="card narrow" aria-labelledby="sent-title" data-testid="sign-up-sent">
                <h1 id="sent-title">"Check your email"</h1>
                <p>
                    "We sent a message to the address you gave. Open the link in it on the device that should hold \
                     your passkey, to make it and finish creating your account; it works for one hour."
                </p>
                <p class="muted">"Nothing there? Look in your spam folder, or sign up again to get a new link."</p>
            </section>
        }
        .into_any();
    }
    if query_flag("sent") {
        return view! {
            <Title text="Check your email"/>
            <section class="card narrow" aria-labelledby="sent-title" data-testid="sign-up-sent">
                <h1 id="sent-title">"Check your email"</h1>
                <p>
                    "We sent a message to the address you gave. Open the link in it to confirm your address; it works \
                     for 24 hours. You can sign in already."
                </p>
                <p class="muted">"Nothing there? Look in your spam folder, or sign up again to get a new link."</p>
                <p><a class="button" href="/login">"Sign in"</a></p>
            </section>
        }
        .into_any();
    }
    let error = page_error(SignUp::PATH);
    view! {
        <Title text="Create an account"/>
        <section class="card narrow" aria-labelledby="sign-up-title">
            <h1 id="sign-up-title">"Create an account"</h1>
            <form method="post" action=SignUp::PATH class="stacked-form" data-testid="sign-up-form">
                <AddressAndName prefix=""/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" required autocomplete="new-password"
                    minlength=crate::model::password::MIN_PASSWORD_CHARS maxlength=crate::model::password::MAX_PASSWORD_CHARS
                    aria-describedby="password-help sign-up-error"/>
                <p id="password-help" class="hint">
                    "8 to 128 characters. Any characters work, spaces too; a few unusual words make a strong one."
                </p>
                <button type="submit" class="button">"Create account"</button>
                <FormError id="sign-up-error" error/>
            </form>
            {passkeys_offered().then(|| view! { <PasskeySignUpForm/> })}
            <p class="form-links">"Have an account? " <a href="/login">"Sign in"</a></p>
        </section>
    }
    .into_any()
}

/// A sign-up form's address and name; `prefix` keeps the ids of two such forms on one page apart.
#[component]
fn AddressAndName(prefix: &'static str) -> impl IntoView {
    let (email, name) = (format!("{prefix}email"), format!("{prefix}display_name"));
    view! {
        <label for=email.clone()>"Email address"</label>
        <input id=email name="email" type="email" required autocomplete="email" maxlength=EmailAddress::MAX_CHARS/>
        <label for=name.clone()>"Your name"</label>
        <input id=name name="display_name" type="text" required autocomplete="name" maxlength=DisplayName::MAX_CHARS/>
    }
}

/// Signing up with a passkey instead of a password: the address and name, then a mailed link that makes the
/// passkey. Shown only by `passkey.js`, in a browser that can make passkeys: the link's page needs one.
#[component]
fn PasskeySignUpForm() -> impl IntoView {
    let error = page_error(PasskeySignUp::PATH);
    view! {
        <div class="passkey-sign-up" data-passkey-only hidden>
            <p class="divider"><span>"or, without a password"</span></p>
            <form method="post" action=PasskeySignUp::PATH class="stacked-form" data-testid="passkey-sign-up-form">
                <AddressAndName prefix="passkey-"/>
                <p class="hint">
                    "We mail you a link; opening it on your phone or computer makes a passkey there (your fingerprint, \
                     face or screen lock), and your account signs in with it."
                </p>
                <button type="submit" class="button secondary">"Sign up with a passkey"</button>
                <FormError id="passkey-sign-up-error" error/>
            </form>
        </div>
        <script src="/passkey.js" defer></script>
    }
}

/// Where a passkey sign-up's emailed link lands: one button makes the passkey, creates the account and signs it in
/// (`passkey.js`; without it, a sentence says what is needed).
#[component]
pub fn PasskeySignUpPage() -> impl IntoView {
    if !password_login() || !passkeys_offered() {
        return view! { <NotOffered/> }.into_any();
    }
    let token = query_value("token").unwrap_or_default();
    view! {
        <Title text="Create your passkey"/>
        <section class="card narrow" aria-labelledby="create-passkey-title">
            <h1 id="create-passkey-title">"Create your passkey"</h1>
            <p>
                "One step left: make the passkey your account signs in with. Your device asks for your fingerprint, \
                 face, screen lock or security key; nothing else is needed, now or later."
            </p>
            <form class="stacked-form" data-passkey="sign-up" data-testid="create-passkey-form" hidden>
                <input type="hidden" name="link" value=token/>
                <KeepSignedIn id="remember-passkey"/>
                <button type="submit" class="button">"Create my passkey"</button>
            </form>
            <p class="muted" data-passkey-hide>
                "Making a passkey needs a browser that supports passkeys, with JavaScript on. Open the link there, or "
                <a href="/signup">"sign up with a password"</a>"."
            </p>
            <p class="field-error" role="alert" data-passkey-status data-testid="passkey-status" hidden></p>
            <script src="/passkey.js" defer></script>
        </section>
    }
    .into_any()
}

/// Where the emailed link lands: one button confirms (the link alone changes nothing).
#[component]
pub fn VerifyEmailPage() -> impl IntoView {
    if !password_login() {
        return view! { <NotOffered/> }.into_any();
    }
    let token = query_value("token").unwrap_or_default();
    let error = page_error(VerifyEmail::PATH);
    view! {
        <Title text="Confirm your email address"/>
        <section class="card narrow" aria-labelledby="verify-title">
            <h1 id="verify-title">"Confirm your email address"</h1>
            <p>"Confirm that this address is yours, so you can use it to reset your password."</p>
            <form method="post" action=VerifyEmail::PATH class="stacked-form" data-testid="verify-form">
                <input type="hidden" name="token" value=token/>
                <button type="submit" class="button">"Confirm my address"</button>
                <FormError id="verify-error" error/>
            </form>
        </section>
    }
    .into_any()
}

#[component]
pub fn ResetRequestPage() -> impl IntoView {
    if !password_login() {
        return view! { <NotOffered/> }.into_any();
    }
    if query_flag("sent") {
        return view! {
            <Title text="Check your email"/>
            <section class="card narrow" aria-labelledby="sent-title" data-testid="reset-sent">
                <h1 id="sent-title">"Check your email"</h1>
                <p>
                    "If an account uses that address, we sent it a link to choose a new password. The link works once, \
                     for 30 minutes."
                </p>
                <p><a class="button secondary" href="/login">"Back to sign in"</a></p>
            </section>
        }
        .into_any();
    }
    let error = page_error(RequestPasswordReset::PATH);
    view! {
        <Title text="Reset your password"/>
        <section class="card narrow" aria-labelledby="reset-title">
            <h1 id="reset-title">"Reset your password"</h1>
            <p class="muted">
                "Enter your account's email address, and we will send you a link to choose a new password"
                {passkeys_offered().then_some(" (or, if you lost your passkey, to add a new one)")}
                "."
            </p>
            <form method="post" action=RequestPasswordReset::PATH class="stacked-form" data-testid="reset-request-form">
                <label for="email">"Email address"</label>
                <input id="email" name="email" type="email" required autocomplete="username"
                    maxlength=EmailAddress::MAX_CHARS/>
                <button type="submit" class="button">"Send the link"</button>
                <FormError id="reset-request-error" error/>
            </form>
        </section>
    }
    .into_any()
}

/// Where a reset link lands: the new password's form.
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    if !password_login() {
        return view! { <NotOffered/> }.into_any();
    }
    let token = query_value("token").unwrap_or_default();
    let error = page_error(ResetPassword::PATH);
    let passkey = passkeys_offered().then(|| view! { <RecoverWithPasskey token=token.clone()/> });
    view! {
        <Title text="Choose a new password"/>
        <section class="card narrow" aria-labelledby="new-password-title">
            {passkey}
            <h1 id="new-password-title">"Choose a new password"</h1>
            <p class="muted">"Setting it signs you out everywhere; then sign in with the new password."</p>
            <form method="post" action=ResetPassword::PATH class="stacked-form" data-testid="reset-form">
                <input type="hidden" name="token" value=token/>
                <label for="password">"New password"</label>
                <input id="password" name="password" type="password" required autocomplete="new-password"
                    minlength=crate::model::password::MIN_PASSWORD_CHARS maxlength=crate::model::password::MAX_PASSWORD_CHARS
                    aria-describedby="password-help reset-error"/>
                <p id="password-help" class="hint">"8 to 128 characters; a few unusual words make a strong one."</p>
                <button type="submit" class="button">"Set the new password"</button>
                <FormError id="reset-error" error/>
            </form>
        </section>
    }
    .into_any()
}

/// The reset page's other way back in: a new passkey instead of a password (shown by `passkey.js` where passkeys
/// work). An account with two-step verification on is asked for a code first: the link proves the address, not the
/// second factor.
#[component]
fn RecoverWithPasskey(token: String) -> impl IntoView {
    view! {
        <div data-passkey-only hidden>
            <h2 id="recover-passkey-title">"Lost your passkey?"</h2>
            <p class="muted">
                "Make a new one on this device. It signs you out everywhere; then sign in with it."
            </p>
            <form class="stacked-form" data-passkey="recover" data-testid="recover-passkey-form" hidden>
                <input type="hidden" name="link" value=token/>
                <div data-passkey-code hidden>
                    <label for="recover-code">"Code from your authenticator app, or a recovery code"</label>
                    <input id="recover-code" name="code" type="text" autocomplete="one-time-code" maxlength="32"
                        spellcheck="false"/>
                </div>
                <button type="submit" class="button">"Add a new passkey"</button>
            </form>
            <p class="field-error" role="alert" data-passkey-status data-testid="passkey-status" hidden></p>
            <p class="divider"><span>"or"</span></p>
        </div>
        <script src="/passkey.js" defer></script>
    }
}
