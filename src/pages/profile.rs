//! `/profile`: the signed-in person's account — name, sign-in methods, export, deletion. The server redirects
//! signed-out requests to `/login`. Every form posts to a server function, so it works before (and without) the
//! WebAssembly, and updates in place after it.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;

use crate::{
    account::{
        DeleteAccount, DisplayName, LinkedIdentity, ProfileOverview, UnlinkIdentity, UpdateDisplayName, get_profile,
    },
    components::{
        account::{Avatar, LoadError},
        refreshed,
        time::{Ago, MaybeAgo},
    },
};

#[component]
pub fn ProfilePage() -> impl IntoView {
    view! {
        <Title text="Profile"/>
        <Suspense fallback=|| view! { <p class="muted">"Loading your profile…"</p> }>
            // Read while rendering on the server and handed to the island as props: nothing is serialised twice.
            {Suspend::new(async move {
                match get_profile().await {
                    Ok(profile) => Either::Left(view! { <Profile profile/> }),
                    Err(error) => Either::Right(view! { <LoadError error/> }),
                }
            })}
        </Suspense>
    }
}

/// The whole profile is interactive (rename in place, remove a method, link, delete), so it is one island. After an
/// action it fetches the profile again.
#[island]
fn Profile(profile: ProfileOverview) -> impl IntoView {
    let rename = ServerAction::<UpdateDisplayName>::new();
    let unlink = ServerAction::<UnlinkIdentity>::new();
    let delete = ServerAction::<DeleteAccount>::new();
    show_new_name_in_header(rename);
    let profile = refreshed(profile, move || (rename.version().get(), unlink.version().get()), get_profile);
    move || match profile.get() {
        Ok(profile) => Either::Left(view! { <ProfileView profile rename unlink delete/> }),
        Err(error) => Either::Right(view! { <LoadError error/> }),
    }
}

/// The header is server-rendered, outside this island: after a rename its name is set in place.
fn show_new_name_in_header(rename: ServerAction<UpdateDisplayName>) {
    Effect::new(move |_| {
        if let Some(Ok(name)) = rename.value().get()
            && let Ok(Some(element)) = document().query_selector("[data-testid=account-name] .account-name")
        {
            element.set_text_content(Some(&name));
        }
    });
}

#[component]
fn ProfileView(
    profile: ProfileOverview,
    rename: ServerAction<UpdateDisplayName>,
    unlink: ServerAction<UnlinkIdentity>,
    delete: ServerAction<DeleteAccount>,
) -> impl IntoView {
    let ProfileOverview { now, user, member_since, last_sign_in_at, identities, linkable } = profile;
    let only_one = identities.len() <= 1;
    view! {
        <section class="card profile-head" aria-labelledby="profile-title">
            <div class="welcome">
                <Avatar user=user.clone()/>
                <div>
                    <h1 id="profile-title" data-testid="profile-name">{user.display_name.clone()}</h1>
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

        <RenameForm current=user.display_name.clone() rename/>

        <section class="card" aria-labelledby="methods-title">
            <h2 id="methods-title">"Sign-in methods"</h2>
            <p class="muted">"Any of these signs you in to this account."</p>
            <ul class="rows" data-testid="identities">
                {identities
                    .into_iter()
                    .map(|identity| view! { <IdentityRow identity now only_one unlink/> })
                    .collect_view()}
            </ul>
            <UnlinkError unlink/>
            {(!linkable.is_empty()).then(|| {
                // Which provider the browser is on its way to, for the pending state.
                let leaving = RwSignal::new(None::<String>);
                view! {
                    <h3>"Link another provider"</h3>
                    <div class="link-buttons">
                        {linkable
                            .into_iter()
                            .map(|provider| {
                                let id = provider.id.clone();
                                let label = provider.label.clone();
                                let pending = Signal::derive(move || leaving.with(|l| l.as_deref() == Some(id.as_str())));
                                view! {
                                    // A plain POST: the server starts the provider's sign-in in link mode.
                                    <form method="post" action=format!("/auth/link/{}", provider.id) class="inline-form"
                                        on:submit=move |_| leaving.set(Some(provider.id.clone()))>
                                        <button type="submit" class="button secondary" aria-busy=move || pending.get().to_string()>
                                            {move || if pending.get() { format!("Opening {label}…") } else { format!("Link {label}") }}
                                        </button>
                                    </form>
                                }
                            })
                            .collect_view()}
                    </div>
                }
            })}
        </section>

        <section class="card" aria-labelledby="export-title">
            <h2 id="export-title">"Your data"</h2>
            <p class="muted">
                "Download everything Gatehouse stores about you — profile, sign-in methods, sessions, security \
                 activity and token details (never token secrets) — as one JSON file."
            </p>
            <a class="button secondary" href="/account/export" rel="external" download="gatehouse-export.json"
                data-testid="export">"Download my data"</a>
        </section>

        <DeleteAccountForm delete confirm_with=user.email.clone().unwrap_or(user.display_name.clone())
            by_email=user.email.is_some()/>
    }
}

#[component]
fn RenameForm(current: String, rename: ServerAction<UpdateDisplayName>) -> impl IntoView {
    let pending = rename.pending();
    let error = move || match rename.value().get() {
        Some(Err(error)) => Some(error.to_string()),
        _ => None,
    };
    let saved = move || matches!(rename.value().get(), Some(Ok(_))) && !pending.get();
    view! {
        <section class="card" aria-labelledby="name-title">
            <h2 id="name-title">"Display name"</h2>
            <ActionForm action=rename attr:class="stacked-form" attr:data-testid="rename-form">
                <label for="display_name">"Name shown to you and in your activity"</label>
                <div class="field-row">
                    <input id="display_name" name="display_name" type="text" value=current required
                        maxlength=DisplayName::MAX_CHARS autocomplete="name"
                        aria-invalid=move || error().is_some().to_string()
                        aria-describedby="display_name-help display_name-error"/>
                    <button type="submit" class="button" disabled=pending>
                        {move || if pending.get() { "Saving…" } else { "Save" }}
                    </button>
                </div>
                <p id="display_name-help" class="hint">"1 to 64 characters."</p>
                <p id="display_name-error" class="field-error" role="alert" data-testid="rename-error">{error}</p>
                <p class="saved" role="status" data-testid="rename-saved">{move || saved().then_some("Saved.")}</p>
            </ActionForm>
        </section>
    }
}

#[component]
fn IdentityRow(
    identity: LinkedIdentity,
    now: i64,
    only_one: bool,
    unlink: ServerAction<UnlinkIdentity>,
) -> impl IntoView {
    let pending = unlink.pending();
    view! {
        <li class="row" data-testid=format!("identity-{}", identity.provider)>
            <div class="row-main">
                <strong>{identity.provider_label.clone()}</strong>
                <span class="muted">{identity.email.clone().unwrap_or_else(|| "no email".into())}</span>
                <span class="muted small">"Linked " <Ago at=identity.linked_at now/></span>
            </div>
            <ActionForm action=unlink attr:class="inline-form">
                <input type="hidden" name="id" value=identity.id.clone()/>
                <button type="submit" class="button secondary small" disabled=move || pending.get()
                    title=only_one.then_some("Your only sign-in method cannot be removed")
                    aria-label=format!("Remove {}", identity.provider_label)>
                    {move || if pending.get() { "Removing…" } else { "Remove" }}
                </button>
            </ActionForm>
        </li>
    }
}

#[component]
fn UnlinkError(unlink: ServerAction<UnlinkIdentity>) -> impl IntoView {
    view! {
        <p class="field-error" role="alert" data-testid="unlink-error">
            {move || match unlink.value().get() {
                Some(Err(error)) => Some(error.to_string()),
                _ => None,
            }}
        </p>
    }
}

#[component]
fn DeleteAccountForm(delete: ServerAction<DeleteAccount>, confirm_with: String, by_email: bool) -> impl IntoView {
    let pending = delete.pending();
    let error = move || match delete.value().get() {
        Some(Err(error)) => Some(error.to_string()),
        _ => None,
    };
    let what = if by_email { "email address" } else { "display name" };
    view! {
        <section class="card danger-zone" aria-labelledby="delete-title">
            <h2 id="delete-title">"Delete my account"</h2>
            <p>
                "This removes your profile, sign-in methods, sessions and API tokens at once, and signs you out \
                 everywhere. It cannot be undone. Your security activity is kept only in anonymous form."
            </p>
            <ActionForm action=delete attr:class="stacked-form" attr:data-testid="delete-form">
                <label for="confirm">"Type your " {what} " " <strong>{confirm_with}</strong> " to confirm"</label>
                <div class="field-row">
                    <input id="confirm" name="confirm" type="text" required autocomplete="off"
                        aria-invalid=move || error().is_some().to_string() aria-describedby="confirm-error"/>
                    <button type="submit" class="button danger" disabled=pending>
                        {move || if pending.get() { "Deleting…" } else { "Delete account" }}
                    </button>
                </div>
                <p id="confirm-error" class="field-error" role="alert" data-testid="delete-error">{error}</p>
            </ActionForm>
        </section>
    }
}
