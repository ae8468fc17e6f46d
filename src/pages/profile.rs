//! `/profile`: the signed-in person's account details. The server redirects signed-out requests to `/login`.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    auth::provider_names,
    components::account::{Avatar, SignedIn},
};

#[component]
pub fn ProfilePage() -> impl IntoView {
    view! {
        <Title text="Profile"/>
        <SignedIn render=|user| {
            view! {
                <section class="card" aria-labelledby="profile-title">
                    <div class="welcome">
                        <Avatar user=user.clone()/>
                        <h1 id="profile-title">{user.display_name.clone()}</h1>
                    </div>
                    <dl class="facts">
                        <dt>"Email"</dt>
                        <dd data-testid="profile-email">
                            {user.email.clone().unwrap_or_else(|| "None".into())}
                            {user.email_verified.then(|| view! { <span class="badge ok">"verified"</span> })}
                        </dd>
                        <dt>"Signs in with"</dt>
                        <dd>{provider_names(&user.providers)}</dd>
                    </dl>
                </section>
            }
        }/>
    }
}
