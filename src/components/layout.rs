//! The frame of every page: header with navigation and the account area, the main content, and the footer.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::account::AccountArea;

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="site-header">
            <div class="bar">
                <A href="/" attr:class="brand">
                    <img src="/favicon.svg" alt="" width="28" height="28"/>
                    <span>"Gatehouse"</span>
                </A>
                <nav aria-label="Main">
                    <A href="/" exact=true>"Home"</A>
                    <A href="/dashboard">"Dashboard"</A>
                    <A href="/profile">"Profile"</A>
                    <A href="/apps">"Apps"</A>
                    <A href="/developers">"API"</A>
                    {crate::rpc::admin::operator_signed_in().then(|| view! { <A href="/admin">"Admin"</A> })}
                </nav>
                <div class="account" data-testid="account-area">
                    <AccountArea/>
                </div>
            </div>
        </header>
        <main id="main" tabindex="-1">{children()}</main>
        <footer class="site-footer">
            <p>
                "Gatehouse " {env!("CARGO_PKG_VERSION")} " — sign in with the providers you already use. "
                <a href="/readyz" rel="external">"Service status"</a>
            </p>
        </footer>
    }
}
