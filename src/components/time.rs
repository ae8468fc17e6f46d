//! A time as people read it: "3 minutes ago", with the exact UTC time on hover and in `datetime`.

use leptos::prelude::*;

use crate::model::time;

/// `at` relative to `now` (the server's clock, sent with the data, so hydration reads the same text).
#[component]
pub fn Ago(at: i64, now: i64) -> impl IntoView {
    view! { <time datetime=time::iso(at) title=time::exact(at)>{time::relative(at, now)}</time> }
}

/// An optional time, or `fallback` ("never").
#[component]
pub fn MaybeAgo(at: Option<i64>, now: i64, #[prop(into)] fallback: String) -> impl IntoView {
    match at {
        Some(at) => view! { <Ago at now/> }.into_any(),
        None => view! { <span class="muted">{fallback}</span> }.into_any(),
    }
}
