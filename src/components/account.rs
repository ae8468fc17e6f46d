//! The header's account area (rendered on the server from the request's one session check), the sign-out button
//! (an island, for its pending state), the avatar, and what a page shows when its data needs a session.

use leptos::{either::Either, prelude::*};

use crate::{
    model::{auth::SignedInUser, error::AppError},
    rpc::auth::signed_in_user,
};

/// The header's right-hand side: the person and a sign-out button, or a sign-in link.
#[component]
pub fn AccountArea() -> impl IntoView {
    match signed_in_user() {
        Some(user) => Either::Left(view! {
            <a href="/profile" class="account-link" data-testid="account-name">
                <Avatar user=user.clone() size="small"/>
                <span class="account-name" data-display-name>{user.display_name.clone()}</span>
            </a>
            <SignOut/>
        }),
        None => Either::Right(view! { <a href="/login" class="button">"Sign in"</a> }),
    }
}

/// Signs out: a plain form to `POST /auth/logout`, which ends the session and sends the browser home, with or
/// without JavaScript. Once hydrated, the button says it is busy. (No server function: this island is on every
/// signed-in page, and a plain form keeps it small.)
#[island]
fn SignOut() -> impl IntoView {
    let pending = RwSignal::new(false);
    view! {
        <form method="post" action="/auth/logout" class="inline-form" on:submit=move |_| pending.set(true)>
            <button type="submit" class="button secondary" aria-busy=move || pending.get().to_string()>
                {move || if pending.get() { "Signing out…" } else { "Sign out" }}
            </button>
        </form>
    }
}

/// The person's picture from their provider, or their initials on a coloured disc.
#[component]
pub fn Avatar(user: SignedInUser, #[prop(default = "large")] size: &'static str) -> impl IntoView {
    let class = format!("avatar avatar-{size}");
    match user.avatar_url.clone() {
        Some(url) => {
            view! { <img class=class src=url alt="" referrerpolicy="no-referrer" width="40" height="40"/> }.into_any()
        }
        None => view! { <span class=class aria-hidden="true" data-initials>{user.initials()}</span> }.into_any(),
    }
}

/// A page's data could not be loaded: signed out in the meantime (the server redirects a full page load to the login
/// page before it gets here, so this is rare), or a server problem.
#[component]
pub fn LoadError(error: AppError) -> impl IntoView {
    match error {
        AppError::Unauthorized => Either::Left(view! {
            <section class="notice">
                <h1>"You are signed out"</h1>
                <p>"Sign in to see this page."</p>
                <a class="button" href="/login">"Sign in"</a>
            </section>
        }),
        error => Either::Right(view! { <p class="problem" role="alert">{error.to_string()}</p> }),
    }
}
