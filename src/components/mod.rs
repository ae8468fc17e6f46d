//! Components shared by several pages.

pub mod account;
pub mod layout;
pub mod time;
pub mod tokens;

use leptos::prelude::*;

use crate::error::AppError;

/// A section's data: the page's snapshot at first, then fetched again by `fetch` each time `versions` moves (an
/// action that changes it finished). Runs only in the browser: on the server, and without JavaScript, a form post
/// reloads the whole page anyway.
pub fn refreshed<T, V, Fut>(
    initial: T,
    versions: impl Fn() -> V + 'static,
    fetch: impl Fn() -> Fut + 'static,
) -> ReadSignal<Result<T, AppError>>
where
    T: Send + Sync + 'static,
    V: PartialEq + Clone + 'static,
    Fut: Future<Output = Result<T, AppError>> + 'static,
{
    let (value, set) = signal(Ok(initial));
    Effect::watch(
        versions,
        move |_, _, _| {
            let next = fetch();
            leptos::task::spawn_local(async move { set.set(next.await) });
        },
        false,
    );
    value
}
