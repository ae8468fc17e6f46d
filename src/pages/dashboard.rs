//! `/dashboard`: where a person lands after signing in. The server redirects signed-out requests to `/login`.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    auth::provider_names,
    components::account::{Avatar, use_user_context},
};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let user = use_user_context().user;
    view! {
        <Title text="Dashboard"/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(user)) => {
                        view! {
                            <section class="welcome" aria-labelledby="welcome-title">
                                <Avatar user=user.clone()/>
                                <div>
                                    <h1 id="welcome-title" data-testid="welcome">"Welcome, " {user.display_name.clone()}</h1>
                                    <p class="muted">
                                        {user.email.clone().unwrap_or_else(|| "No email address on file".into())}
                                        " · signs in with " {provider_names(&user.providers)}
                                    </p>
                                </div>
                            </section>
                        }
                            .into_any()
                    }
                    Ok(None) => view! { <SignedOutNotice/> }.into_any(),
                    Err(error) => view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Shown when a page that needs a session is reached by in-app navigation after the session ended.
#[component]
pub fn SignedOutNotice() -> impl IntoView {
    view! {
        <section class="notice">
            <h1>"You are signed out"</h1>
            <p>"Sign in to see this page."</p>
            <a class="button" href="/login">"Sign in"</a>
        </section>
    }
}
