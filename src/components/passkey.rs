//! The passkey button the pages share (`/login`, `/login/mfa`, `/confirm`): hidden in the HTML, shown by
//! `/passkey.js` in a browser that can use passkeys, so a visitor without JavaScript or WebAuthn sees only the other
//! ways in. The script loads once per page, deferred; it is the page's only script where there is no island.

use leptos::prelude::*;

/// A button for the passkey ceremony `purpose` (`sign-in`, `second-step` or `confirm`, as `passkey.js` reads
/// `data-passkey`), with a line for what went wrong.
#[component]
pub fn PasskeyButton(purpose: &'static str, label: &'static str, #[prop(optional)] primary: bool) -> impl IntoView {
    let class = if primary { "button passkey" } else { "button secondary passkey" };
    view! {
        <div class="passkey-area" data-passkey-only hidden>
            <button type="button" class=class data-passkey=purpose data-testid=format!("passkey-{purpose}")>{label}</button>
            <p class="field-error" role="alert" data-passkey-status data-testid="passkey-status" hidden></p>
        </div>
        <script src="/passkey.js" defer></script>
    }
}
