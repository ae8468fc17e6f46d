//! `/dashboard`: where a person lands after signing in. The server redirects signed-out requests to `/login`.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    auth::provider_names,
    components::account::{Avatar, SignedIn},
};

#[component]
pub fn DashboardPage() -> impl IntoView {
    view! {
        <Title text="Dashboard"/>
        <SignedIn render=|user| {
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
        }/>
    }
}
