//! The dashboard's live counts and revoke buttons: the summary's figures follow the session and token lists below
//! them, through the `Counts` that the dashboard's `AccountActivity` island provides.

use leptos::{prelude::*, server_fn::ServerFn};
use serde::{Deserialize, Serialize};

use crate::{
    components::form::{Post, RowAction, remove_row},
    rpc::{account::RevokeSession, tokens::RevokeToken},
};

/// What the dashboard's islands share: the counts the summary shows, which follow revocations and new tokens, and
/// whether "sign out all other sessions" has just succeeded (each other session's row then leaves the page).
#[derive(Clone, Copy)]
pub struct Counts {
    pub sessions: RwSignal<u32>,
    pub tokens: RwSignal<u32>,
    pub others_ended: RwSignal<bool>,
}

/// What a count (and a revoke button) is about.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub enum Counted {
    Sessions,
    Tokens,
}

/// A summary figure that follows the lists below it.
#[island]
pub fn Count(of: Counted) -> impl IntoView {
    let counts = expect_context::<Counts>();
    let (count, one, many) = match of {
        Counted::Sessions => (counts.sessions, "active session", "active sessions"),
        Counted::Tokens => (counts.tokens, "API token", "API tokens"),
    };
    view! {
        <span class="stat-value">{move || count.get()}</span>
        <span class="stat-label">{move || if count.get() == 1 { one } else { many }}</span>
    }
}

/// Revokes a session (never this one) or a token. Its row leaves the page and the summary's count follows; a
/// session's row also leaves when all other sessions are signed out.
#[island]
pub fn Revoke(what: Counted, id: String, label: String) -> impl IntoView {
    let counts = use_context::<Counts>();
    let post = Post::new(None);
    let form = NodeRef::new();
    let (action, count) = match what {
        Counted::Sessions => (RevokeSession::PATH, counts.map(|c| c.sessions)),
        Counted::Tokens => (RevokeToken::PATH, counts.map(|c| c.tokens)),
    };
    if let (Counted::Sessions, Some(counts)) = (what, counts) {
        Effect::watch(
            move || counts.others_ended.get(),
            move |ended, _, _| {
                if *ended {
                    remove_row(form)
                }
            },
            false,
        );
    }
    let revoked = move |_: &str| {
        if let Some(count) = count {
            count.update(|n| *n = n.saturating_sub(1));
        }
        remove_row(form);
    };
    view! {
        <div class="row-action">
            <RowAction post action id label=format!("Revoke {label}") idle="Revoke" busy="Revoking…" node_ref=form
                then=revoked/>
            <span class="field-error" role="alert">{move || post.error()}</span>
        </div>
    }
}
