//! The home page: what Gatehouse is, and how a sign-in works, step by step.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn HomePage() -> impl IntoView {
    // Where deleting an account lands (`/?deleted=1`).
    let deleted = use_query_map().with_untracked(|q| q.get("deleted").is_some());
    view! {
        <Title text=""/>
        {deleted.then(|| view! {
            <p class="banner" role="status">
                "Your account was deleted. Everything Gatehouse stored about you is gone, and you are signed out everywhere."
            </p>
        })}
        <section class="hero">
            <h1>"Sign in once. Stay in control."</h1>
            <p class="lede">
                "Gatehouse signs you in with the identity providers you already use — Google, GitHub or your "
                "organisation's OpenID Connect provider — and gives you one place to see every session, every "
                "sign-in and every API token, and to end any of them."
            </p>
        </section>
        <section class="features" aria-label="What Gatehouse does">
            <Feature title="No new password">
                "Your provider proves who you are. Gatehouse never sees or stores a password."
            </Feature>
            <Feature title="Sessions you can see">
                "Every device signed in to your account, with its browser, place and last activity — and a button to end it."
            </Feature>
            <Feature title="Tokens you control">
                "Personal API tokens with scopes and an expiry date, shown once, stored only as a hash, revocable at any time."
            </Feature>
            <Feature title="A trail of what happened">
                "Sign-ins, sign-outs and changes to your account, recorded with the time, address and browser."
            </Feature>
        </section>
        <SignInSteps/>
    }
}

#[component]
fn Feature(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <article class="feature">
            <h2>{title}</h2>
            <p>{children()}</p>
        </article>
    }
}

struct Step {
    title: &'static str,
    body: &'static str,
}

const STEPS: [Step; 4] = [
    Step {
        title: "You choose a provider",
        body: "Gatehouse starts a one-time sign-in attempt: a random state, a nonce and a PKCE secret, kept on the \
               server and bound to this browser for ten minutes.",
    },
    Step {
        title: "The provider checks it is you",
        body: "You sign in at your provider, on its own site. Gatehouse sees only the answer it sends back.",
    },
    Step {
        title: "Gatehouse checks the answer",
        body: "The state must match the attempt, the code is exchanged with the PKCE secret, and the ID token's \
               signature, issuer, audience, expiry and nonce are all verified before anything is trusted.",
    },
    Step {
        title: "A fresh session begins",
        body: "You get a brand-new session in a cookie scripts cannot read. It appears on your dashboard, where you \
               can end it from any other device.",
    },
];

/// An interactive walk through the sign-in flow. Choosing a step changes the panel in place, which needs the
/// hydrated app: before hydration the first step is shown. An island: the only code this page sends.
#[island]
fn SignInSteps() -> impl IntoView {
    let selected = RwSignal::new(0_usize);

    view! {
        <section class="steps" aria-labelledby="steps-title">
            <h2 id="steps-title">"How signing in works"</h2>
            <ol class="step-list">
                {STEPS
                    .iter()
                    .enumerate()
                    .map(|(index, step)| {
                        view! {
                            <li>
                                <button
                                    type="button"
                                    class="step"
                                    aria-pressed=move || (selected.get() == index).to_string()
                                    aria-controls="step-detail"
                                    on:click=move |_| selected.set(index)
                                >
                                    <span class="step-number">{index + 1}</span>
                                    {step.title}
                                </button>
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
            <div id="step-detail" class="step-detail" aria-live="polite" data-testid="step-detail">
                <h3>{move || STEPS[selected.get()].title}</h3>
                <p>{move || STEPS[selected.get()].body}</p>
            </div>
        </section>
    }
}
