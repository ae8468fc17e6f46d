//! The signed-in person across the app: one resource, provided at the root, refreshed after signing out; the header's
//! account area; the avatar.

use leptos::{either::Either, prelude::*};

use crate::{
    auth::{Logout, SignedInUser, current_user},
    error::AppError,
};

/// The signed-in person (`None` when signed out), shared by every component that needs it.
#[derive(Clone, Copy)]
pub struct UserContext {
    pub user: Resource<Result<Option<SignedInUser>, AppError>>,
    pub logout: ServerAction<Logout>,
    /// Bumped by pages whose actions change what the header shows (a new name, a deleted account).
    pub changed: RwSignal<u32>,
}

impl UserContext {
    /// Refetches the signed-in person whenever one of `versions` moves (an action finished). The actions themselves
    /// belong to their page: only actions made inside `<Routes>` receive a no-JavaScript post's error from the URL.
    pub fn follow(self, versions: impl Fn() -> (usize, usize) + 'static) {
        Effect::watch(versions, move |_, _, _| self.changed.update(|n| *n += 1), false);
    }
}

/// Creates the shared resource; call once, in `App`.
pub fn provide_user_context() {
    let logout = ServerAction::<Logout>::new();
    let changed = RwSignal::new(0);
    let user = Resource::new(move || (logout.version().get(), changed.get()), |_| current_user());
    provide_context(UserContext { user, logout, changed });
}

pub fn use_user_context() -> UserContext {
    expect_context::<UserContext>()
}

/// The header's right-hand side: the person and a sign-out button, or a sign-in link.
#[component]
pub fn AccountArea() -> impl IntoView {
    let UserContext { user, logout, .. } = use_user_context();
    view! {
        <Transition fallback=|| view! { <span class="account-placeholder"></span> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(user)) => {
                        view! {
                            <a href="/profile" class="account-link" data-testid="account-name">
                                <Avatar user=user.clone() size="small"/>
                                <span class="account-name">{user.display_name.clone()}</span>
                            </a>
                            <ActionForm action=logout attr:class="inline-form">
                                <button type="submit" class="button secondary" disabled=move || logout.pending().get()>
                                    {move || if logout.pending().get() { "Signing out…" } else { "Sign out" }}
                                </button>
                            </ActionForm>
                        }
                            .into_any()
                    }
                    _ => view! { <a href="/login" class="button">"Sign in"</a> }.into_any(),
                }
            })}
        </Transition>
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
        None => view! { <span class=class aria-hidden="true">{user.initials()}</span> }.into_any(),
    }
}

/// A page's data could not be loaded: signed out in the meantime (then, in the browser, on to the login page, as
/// the server does for a full page load), or a server problem.
#[component]
pub fn LoadError(error: AppError) -> impl IntoView {
    if error == AppError::Unauthorized {
        let navigate = leptos_router::hooks::use_navigate();
        let location = leptos_router::hooks::use_location();
        // Effects run only in the browser, after hydration.
        Effect::new(move |_| {
            let here = location.pathname.get_untracked();
            let next: String = url_escape(&here);
            navigate(&format!("/login?next={next}"), Default::default());
        });
    }
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

/// Percent-encodes a path for a query value (`/` too, as the server's redirect does).
fn url_escape(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
