//! `/profile`: the signed-in person's account — name, sign-in methods, export, deletion. The server redirects
//! signed-out requests to `/login`. Every form posts to a server function, so it works before (and without) the
//! WebAssembly, and updates in place after it.

use leptos::{either::Either, prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    components::{
        account::{Avatar, LoadError},
        form::{Post, RowAction, page_error, remove_row, returned_error},
        time::{Ago, MaybeAgo},
    },
    model::{
        account::{DisplayName, LinkedIdentity, PasswordSummary, ProfileOverview},
        auth::ProviderSummary,
        error::AppError,
        mfa::TwoStep,
        page::Preloaded,
        passkeys::{MAX_NAME, PasskeySection, PasskeyView},
        password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS},
    },
    rpc::{
        account::{DeleteAccount, UnlinkIdentity, UpdateDisplayName},
        mfa::{DisableTwoStep, RegenerateRecoveryCodes, StartTwoStep},
        passkeys::{RemovePasskey, RenamePasskey},
        password::{AddPassword, ChangePassword},
    },
};

#[component]
pub fn ProfilePage() -> impl IntoView {
    // Read by the server before rendering (`server::web::preload`); the islands get only their share as props.
    let loaded = use_context::<Preloaded<ProfileOverview>>().and_then(|preloaded| preloaded.take());
    view! {
        <Title text="Profile"/>
        // Type-erased here, so that the router's own erasure of the page's view stays a shallow type.
        {loaded.map(|loaded| match loaded {
            Ok(profile) => Either::Left(view! { <ProfileView profile/> }),
            Err(error) => Either::Right(view! { <LoadError error/> }),
        }.into_any())}
    }
}

/// The page, rendered on the server. Three parts are islands: the name form, the sign-in methods, and deletion.
#[component]
fn ProfileView(profile: ProfileOverview) -> impl IntoView {
    let ProfileOverview {
        now,
        user,
        member_since,
        last_sign_in_at,
        identities,
        providers,
        password,
        password_login,
        two_step,
        passkeys,
        ..
    } = profile;
    view! {
        <section class="card profile-head" aria-labelledby="profile-title">
            <div class="welcome">
                <Avatar user=user.clone()/>
                <div>
                    <h1 id="profile-title" data-testid="profile-name" data-display-name>{user.display_name.clone()}</h1>
                    <p class="muted" data-testid="profile-email">
                        {user.email.clone().unwrap_or_else(|| "No email address on file".into())}
                        {user.email_verified.then(|| view! { " " <span class="badge ok">"verified"</span> })}
                    </p>
                </div>
            </div>
            <dl class="facts">
                <dt>"Member since"</dt>
                <dd><Ago at=member_since now/></dd>
                <dt>"Last sign-in"</dt>
                <dd><MaybeAgo at=last_sign_in_at now fallback="never"/></dd>
            </dl>
        </section>

        <RenameForm current=user.display_name.clone() error=returned_error(UpdateDisplayName::PATH)/>

        <SignInMethods now identities providers error=returned_error(UnlinkIdentity::PATH)/>

        <PasswordSection password offered=password_login
            verified_email=user.email.clone().filter(|_| user.email_verified)/>

        <PasskeysSection section=passkeys now/>

        <TwoStepSection two_step/>

        <section class="card" aria-labelledby="export-title">
            <h2 id="export-title">"Your data"</h2>
            <p class="muted">
                "Download everything Gatehouse stores about you — profile, sign-in methods, sessions, security \
                 activity and token details (never token secrets) — as one JSON file."
            </p>
            <a class="button secondary" href="/account/export" rel="external" download="gatehouse-export.json"
                data-testid="export">"Download my data"</a>
        </section>

        <DeleteAccountForm confirm_with=user.email.clone().unwrap_or(user.display_name.clone())
            by_email=user.email.is_some() error=returned_error(DeleteAccount::PATH)/>
    }
}

/// Renames in place; the new name replaces the old wherever the page shows it (`data-display-name`: the heading
/// and the header, which are outside this island; `data-initials`: the avatars).
#[island]
fn RenameForm(current: String, error: Option<AppError>) -> impl IntoView {
    let post = Post::new(error);
    let show_everywhere = |json: &str| {
        if let Ok(name) = serde_json::from_str::<String>(json) {
            show_display_name(&name);
        }
    };
    let invalid = move || post.error().is_some();
    view! {
        <section class="card" aria-labelledby="name-title">
            <h2 id="name-title">"Display name"</h2>
            <form method="post" action=UpdateDisplayName::PATH class="stacked-form" data-testid="rename-form"
                on:submit=post.on_submit(show_everywhere)>
                <label for="display_name">"Name shown to you and in your activity"</label>
                <div class="field-row">
                    <input id="display_name" name="display_name" type="text" value=current required
                        maxlength=DisplayName::MAX_CHARS autocomplete="name"
                        aria-invalid=move || invalid().to_string()
                        aria-describedby="display_name-help display_name-error"/>
                    <button type="submit" class="button" disabled=move || post.pending()>
                        {move || if post.pending() { "Saving…" } else { "Save" }}
                    </button>
                </div>
                <p id="display_name-help" class="hint">"1 to 64 characters."</p>
                <p id="display_name-error" class="field-error" role="alert" data-testid="rename-error">
                    {move || post.error()}
                </p>
                <p class="saved" role="status" data-testid="rename-saved">
                    {move || (post.succeeded() && !post.pending()).then_some("Saved.")}
                </p>
            </form>
        </section>
    }
}

/// Puts a new name (and its initials, on avatars without a picture) everywhere the page shows them.
fn show_display_name(name: &str) {
    #[cfg(feature = "hydrate")]
    {
        // Upper-cased by the browser: Rust's Unicode case tables would add 10 KB to the WebAssembly.
        let initials = String::from(js_sys::JsString::from(crate::model::auth::first_letters(name)).to_upper_case());
        for (selector, text) in [("[data-display-name]", name.to_owned()), ("[data-initials]", initials)] {
            if let Ok(shown) = document().query_selector_all(selector) {
                for index in 0..shown.length() {
                    if let Some(node) = shown.item(index) {
                        node.set_text_content(Some(&text));
                    }
                }
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = name;
}

/// The sign-in methods, rendered on the server: remove one (never the last), or link another configured provider
/// (a plain POST that starts that provider's sign-in in link mode). Every configured provider has a link button;
/// the linked ones' are hidden, and shown again when that method is removed.
#[component]
fn SignInMethods(
    now: i64,
    identities: Vec<LinkedIdentity>,
    providers: Vec<ProviderSummary>,
    error: Option<AppError>,
) -> impl IntoView {
    let only_one = identities.len() <= 1;
    let linked: Vec<String> = identities.iter().map(|i| i.provider.clone()).collect();
    view! {
        <section class="card" aria-labelledby="methods-title">
            <h2 id="methods-title">"Sign-in methods"</h2>
            <p class="muted">"Any of these signs you in to this account."</p>
            <Methods error>
                <ul class="rows" data-testid="identities">
                    {identities.into_iter().map(|identity| view! { <IdentityRow identity now only_one/> }).collect_view()}
                </ul>
                <div class="link-area">
                    <h3>"Link another provider"</h3>
                    <div class="link-buttons">
                        {providers
                            .into_iter()
                            .map(|ProviderSummary { id, label }| {
                                let linked = linked.contains(&id);
                                view! { <LinkProvider id label linked/> }
                            })
                            .collect_view()}
                    </div>
                </div>
            </Methods>
        </section>
    }
    .into_any()
}

/// What the sign-in methods' islands share: the one removal in flight (its error shows under the list) and the
/// providers removed since the page loaded (their link buttons show again).
#[derive(Clone, Copy)]
struct MethodsState {
    unlink: Post,
    unlinked: RwSignal<Vec<String>>,
}

#[island]
fn Methods(error: Option<AppError>, children: Children) -> impl IntoView {
    let state = MethodsState { unlink: Post::new(error), unlinked: RwSignal::new(Vec::new()) };
    provide_context(state);
    view! {
        {children()}
        <p class="field-error" role="alert" data-testid="unlink-error">{move || state.unlink.error()}</p>
    }
}

#[component]
fn IdentityRow(identity: LinkedIdentity, now: i64, only_one: bool) -> impl IntoView {
    let LinkedIdentity { id, provider, provider_label, email, linked_at, tokens_kept } = identity;
    let testid = format!("identity-{provider}");
    let reconnect = format!("/auth/link/{provider}");
    view! {
        <li class="row" data-testid=testid>
            <div class="row-main">
                <strong>{provider_label.clone()}</strong>
                <span class="muted">{email.unwrap_or_else(|| "no email".into())}</span>
                <span class="muted small">"Linked " <Ago at=linked_at now/></span>
                {tokens_kept.map(|works| if works {
                    view! { <span class="badge" data-testid="connection-state">"connected"</span> }.into_any()
                } else {
                    view! {
                        <span class="badge danger-badge" data-testid="connection-state">"reconnect needed"</span>
                        <form method="post" action=reconnect class="inline-form">
                            <button type="submit" class="button secondary small" data-testid="reconnect">"Reconnect"</button>
                        </form>
                    }
                    .into_any()
                })}
            </div>
            <RemoveIdentity id provider label=provider_label only_one/>
        </li>
    }
}

#[island]
fn RemoveIdentity(id: String, provider: String, label: String, only_one: bool) -> impl IntoView {
    let state = expect_context::<MethodsState>();
    let form = NodeRef::new();
    let removed = move |_: &str| {
        state.unlinked.update(|unlinked| unlinked.push(provider.clone()));
        remove_row(form);
    };
    view! {
        <RowAction post=state.unlink action=UnlinkIdentity::PATH id label=format!("Remove {label}")
            idle="Remove" busy="Removing…" node_ref=form
            title=only_one.then_some("Your only sign-in method cannot be removed") then=removed/>
    }
}

/// Links a provider: a plain POST, with a busy state while the browser leaves for the provider.
#[island]
fn LinkProvider(id: String, label: String, linked: bool) -> impl IntoView {
    let state = expect_context::<MethodsState>();
    let leaving = RwSignal::new(false);
    let action = format!("/auth/link/{id}");
    let hidden = move || linked && !state.unlinked.with(|unlinked| unlinked.contains(&id));
    view! {
        <form method="post" action=action class="inline-form" hidden=hidden on:submit=move |_| leaving.set(true)>
            <button type="submit" class="button secondary" aria-busy=move || leaving.get().to_string()>
                {move || if leaving.get() { format!("Opening {label}…") } else { format!("Link {label}") }}
            </button>
        </form>
    }
}

#[island]
fn DeleteAccountForm(confirm_with: String, by_email: bool, error: Option<AppError>) -> impl IntoView {
    // On success the server function sends the browser home (`/?deleted=1`); `Post` follows.
    let delete = Post::new(error);
    let what = if by_email { "email address" } else { "display name" };
    view! {
        <section class="card danger-zone" aria-labelledby="delete-title">
            <h2 id="delete-title">"Delete my account"</h2>
            <p>
                "This removes your profile, sign-in methods, sessions and API tokens at once, and signs you out \
                 everywhere. It cannot be undone. Your security activity is kept only in anonymous form."
            </p>
            <form method="post" action=DeleteAccount::PATH class="stacked-form" data-testid="delete-form"
                on:submit=delete.on_submit(|_| {})>
                <label for="confirm">"Type your " {what} " " <strong>{confirm_with}</strong> " to confirm"</label>
                <div class="field-row">
                    <input id="confirm" name="confirm" type="text" required autocomplete="off"
                        aria-invalid=move || delete.error().is_some().to_string() aria-describedby="confirm-error"/>
                    <button type="submit" class="button danger" disabled=move || delete.pending()>
                        {move || if delete.pending() { "Deleting…" } else { "Delete account" }}
                    </button>
                </div>
                <p id="confirm-error" class="field-error" role="alert" data-testid="delete-error">
                    {move || delete.error()}
                </p>
            </form>
        </section>
    }
}

/// The password: change it (given the current one), or add one for the account's verified address. Plain forms, no
/// island: the server function sends the browser back here with the outcome.
#[component]
fn PasswordSection(password: Option<PasswordSummary>, offered: bool, verified_email: Option<String>) -> impl IntoView {
    let outcome = use_query_map().with_untracked(|q| q.get("password"));
    let saved = match outcome.as_deref() {
        Some("changed") => Some("Your password was changed. Your other sessions were signed out."),
        Some("added") => Some("Your password was added. You can now sign in with your email address and it."),
        _ => None,
    };
    if password.is_none() && !offered {
        return ().into_any();
    }
    let body = match password {
        Some(PasswordSummary { email, verified }) => {
            let error = page_error(ChangePassword::PATH);
            view! {
                <p class="muted">
                    "You sign in with " <strong>{email}</strong> " and your password. "
                    {(!verified).then(|| view! {
                        <span class="badge" data-testid="password-unverified">"address not confirmed yet"</span>
                    })}
                </p>
                <form method="post" action=ChangePassword::PATH class="stacked-form" data-testid="change-password-form">
                    <label for="current">"Current password"</label>
                    <input id="current" name="current" type="password" required autocomplete="current-password"
                        maxlength=MAX_PASSWORD_CHARS/>
                    <label for="new-password">"New password"</label>
                    <input id="new-password" name="password" type="password" required autocomplete="new-password"
                        minlength=MIN_PASSWORD_CHARS maxlength=MAX_PASSWORD_CHARS aria-describedby="password-help"/>
                    <p id="password-help" class="hint">"8 to 128 characters. Your other sessions will be signed out."</p>
                    <button type="submit" class="button">"Change password"</button>
                    <p class="field-error" role="alert" data-testid="password-error">{error.map(|e| e.to_string())}</p>
                </form>
            }
            .into_any()
        }
        None => match verified_email {
            Some(email) => {
                let error = page_error(AddPassword::PATH);
                view! {
                    <p class="muted">
                        "Add a password to sign in with " <strong>{email.clone()}</strong>
                        " and it, as well as the ways you sign in now."
                    </p>
                    <form method="post" action=AddPassword::PATH class="stacked-form" data-testid="add-password-form">
                        <input type="text" name="username" value=email autocomplete="username" hidden/>
                        <label for="new-password">"Password"</label>
                        <input id="new-password" name="password" type="password" required autocomplete="new-password"
                            minlength=MIN_PASSWORD_CHARS maxlength=MAX_PASSWORD_CHARS aria-describedby="password-help"/>
                        <p id="password-help" class="hint">"8 to 128 characters; a few unusual words make a strong one."</p>
                        <button type="submit" class="button">"Add password"</button>
                        <p class="field-error" role="alert" data-testid="password-error">
                            {error.map(|e| e.to_string())}
                        </p>
                    </form>
                }
                .into_any()
            }
            None => view! {
                <p class="muted">
                    "A password signs in with your email address, and your account has no confirmed one: your \
                     providers did not share a verified address."
                </p>
            }
            .into_any(),
        },
    };
    view! {
        <section class="card" aria-labelledby="password-title" data-testid="password-section">
            <h2 id="password-title">"Password"</h2>
            {saved.map(|text| view! { <p class="saved" role="status" data-testid="password-saved">{text}</p> })}
            {body}
        </section>
    }
    .into_any()
}

/// Passkeys: each with its name, when it was added and last used, and whether it is synced; rename or remove one
/// (plain forms), or add one (`passkey.js`, which needs the browser's WebAuthn API: without it, the form stays
/// hidden and a sentence says why).
#[component]
fn PasskeysSection(section: PasskeySection, now: i64) -> impl IntoView {
    let outcome = use_query_map().with_untracked(|q| q.get("passkey"));
    let saved = match outcome.as_deref() {
        Some("added") => Some("Your passkey was added. Next time, sign in with it: no password needed."),
        Some("created") => Some(
            "Welcome! Your account signs in with the passkey you just made. Add a second one on another device, so \
             that losing one does not lock you out (your email can always recover the account).",
        ),
        Some("renamed") => Some("The passkey was renamed."),
        Some("removed") => Some("The passkey was removed. It can no longer sign in to your account."),
        _ => None,
    };
    let error = page_error(RenamePasskey::PATH).or_else(|| page_error(RemovePasskey::PATH));
    let PasskeySection { list, unavailable } = section;
    let adding = match unavailable {
        Some(why) => view! { <p class="muted" data-testid="passkeys-unavailable">{why}</p> }.into_any(),
        None => view! {
            <form class="stacked-form" data-passkey="register" data-testid="add-passkey-form" hidden>
                <label for="passkey-name">"Name it (optional)"</label>
                <div class="field-row">
                    <input id="passkey-name" name="name" type="text" maxlength=MAX_NAME autocomplete="off"
                        placeholder="Work laptop"/>
                    <button type="submit" class="button">"Add a passkey"</button>
                </div>
                <p class="hint">"Your browser asks which device or password manager keeps it."</p>
            </form>
            <p class="muted" data-passkey-hide>
                "Adding a passkey needs a browser that supports passkeys, with JavaScript on."
            </p>
            <p class="field-error" role="alert" data-passkey-status data-testid="passkey-status" hidden></p>
            <script src="/passkey.js" defer></script>
        }
        .into_any(),
    };
    view! {
        <section class="card" aria-labelledby="passkeys-title" data-testid="passkeys-section">
            <h2 id="passkeys-title">"Passkeys"</h2>
            <p class="muted">
                "Sign in with your fingerprint, face or screen lock, or a security key: no password to type, and                  nothing a look-alike site can use."
            </p>
            {saved.map(|text| view! { <p class="saved" role="status" data-testid="passkey-saved">{text}</p> })}
            <ul class="rows" data-testid="passkeys">
                {list.into_iter().map(|passkey| view! { <PasskeyRow passkey now/> }).collect_view()}
            </ul>
            <p class="muted empty-note">"No passkeys yet."</p>
            {adding}
            <p class="field-error" role="alert" data-testid="passkey-error">{error.map(|e| e.to_string())}</p>
        </section>
    }
}

#[component]
fn PasskeyRow(passkey: PasskeyView, now: i64) -> impl IntoView {
    let PasskeyView { id, name, created_at, last_used_at, synced, backed_up } = passkey;
    let kept = match (synced, backed_up) {
        (true, true) => "synced",
        (true, false) => "can be synced",
        (false, _) => "this device only",
    };
    let field = format!("passkey-name-{id}");
    view! {
        <li class="row" data-testid="passkey">
            <div class="row-main">
                <strong data-testid="passkey-name">{name.clone()}</strong>
                <span class="badge">{kept}</span>
                <span class="muted small">
                    "Added " <Ago at=created_at now/> " · last used " <MaybeAgo at=last_used_at now fallback="never"/>
                </span>
            </div>
            <details class="row-edit">
                <summary>"Rename"</summary>
                <form method="post" action=RenamePasskey::PATH class="inline-form">
                    <input type="hidden" name="id" value=id.clone()/>
                    <label for=field.clone() class="visually-hidden">"New name"</label>
                    <input id=field name="name" type="text" value=name.clone() required maxlength=MAX_NAME/>
                    <button type="submit" class="button secondary">"Save"</button>
                </form>
            </details>
            <form method="post" action=RemovePasskey::PATH class="inline-form">
                <input type="hidden" name="id" value=id/>
                <button type="submit" class="button danger" aria-label=format!("Remove {name}")>"Remove"</button>
            </form>
        </li>
    }
}

/// Two-step verification: turn it on (the enrolment page), or off; new recovery codes; how many are left.
#[component]
fn TwoStepSection(two_step: TwoStep) -> impl IntoView {
    let off = use_query_map().with_untracked(|q| q.get("two_step").is_some_and(|v| v == "off"));
    let error = page_error(DisableTwoStep::PATH).or_else(|| page_error(RegenerateRecoveryCodes::PATH));
    let body = if two_step.enabled {
        let left = two_step.recovery_codes_left;
        view! {
            <p>
                <span class="badge ok" data-testid="two-step-on">"On"</span>
                " Signing in asks for a code from your authenticator app. "
                <span data-testid="recovery-left">
                    {match left {
                        1 => "1 recovery code left.".to_owned(),
                        n => format!("{n} recovery codes left."),
                    }}
                </span>
            </p>
            <div class="card-actions">
                <form method="post" action=RegenerateRecoveryCodes::PATH class="inline-form">
                    <button type="submit" class="button secondary">"New recovery codes"</button>
                </form>
                <form method="post" action=DisableTwoStep::PATH class="inline-form">
                    <button type="submit" class="button danger" data-testid="two-step-off">"Turn off"</button>
                </form>
            </div>
        }
        .into_any()
    } else {
        view! {
            <p class="muted">
                "Protect your account with a code from an authenticator app on your phone, asked for at every \
                 sign-in."
            </p>
            <form method="post" action=StartTwoStep::PATH class="inline-form">
                <button type="submit" class="button" data-testid="two-step-start">"Turn on two-step verification"</button>
            </form>
        }
        .into_any()
    };
    view! {
        <section class="card" aria-labelledby="two-step-title" data-testid="two-step-section">
            <h2 id="two-step-title">"Two-step verification"</h2>
            {off.then(|| view! { <p class="saved" role="status">"Two-step verification is off."</p> })}
            {body}
            <p class="field-error" role="alert">{error.map(|e| e.to_string())}</p>
        </section>
    }
}
