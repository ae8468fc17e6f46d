//! Forms inside islands. Each is a plain `<form method="post">` to a server function's URL, so it works without
//! JavaScript: the browser posts it, the server function sends the browser back to the page, and the page shows the
//! outcome (an error travels in the URL; `returned_error` reads it while the page renders). Once an island is
//! hydrated, `Post` sends the same fields with `fetch` and the page stays where it is.
//!
//! One small path, shared by every form, instead of an `ActionForm` and a `ServerAction` per server function: those
//! compile each function's argument encoding, its client and its answer decoding into the WebAssembly, and they were
//! most of it (issue 10; see the README's "Islands").

use leptos::{html, prelude::*};
use serde::de::DeserializeOwned;

use crate::model::error::AppError;

/// What an island's form is doing: whether a post is on its way, and how the last one ended (the answer's JSON).
#[derive(Clone, Copy)]
pub struct Post {
    pending: RwSignal<bool>,
    outcome: RwSignal<Option<Result<String, AppError>>>,
}

impl Post {
    /// A form whose previous post, made without JavaScript, failed with `error` (see `returned_error`).
    pub fn new(error: Option<AppError>) -> Self {
        Self { pending: RwSignal::new(false), outcome: RwSignal::new(error.map(Err)) }
    }

    pub fn pending(self) -> bool {
        self.pending.get()
    }

    /// The last post's error, for people.
    pub fn error(self) -> Option<String> {
        self.outcome.with(|outcome| match outcome {
            Some(Err(error)) => Some(error.to_string()),
            _ => None,
        })
    }

    /// The last post's answer, when it succeeded.
    pub fn answer<T: DeserializeOwned>(self) -> Option<T> {
        self.outcome.with(|outcome| match outcome {
            Some(Ok(json)) => serde_json::from_str(json).ok(),
            _ => None,
        })
    }

    /// Whether the last post succeeded.
    pub fn succeeded(self) -> bool {
        self.outcome.with(|outcome| matches!(outcome, Some(Ok(_))))
    }

    /// An `on:submit` handler that posts the form's fields to its `action`, then calls `then` with the answer's JSON.
    pub fn on_submit(self, then: impl Fn(&str) + 'static) -> impl Fn(leptos::ev::SubmitEvent) + 'static {
        let then = std::rc::Rc::new(then);
        move |ev| {
            #[cfg(feature = "hydrate")]
            {
                use leptos::wasm_bindgen::JsCast;
                ev.prevent_default();
                let Some(form) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok()) else {
                    return;
                };
                let fields = web_sys::FormData::new_with_form(&form)
                    .and_then(|data| web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data));
                if let Ok(fields) = fields {
                    let then = then.clone();
                    self.send(form.action(), fields, move |json| then(json));
                }
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = (ev, &then);
        }
    }

    /// Posts `fields` to `url` (for a form that builds its own fields), then calls `then` with the answer's JSON.
    pub fn post(self, url: &str, fields: &[(&str, &str)], then: impl Fn(&str) + 'static) {
        #[cfg(feature = "hydrate")]
        if let Ok(params) = web_sys::UrlSearchParams::new() {
            for (name, value) in fields {
                params.append(name, value);
            }
            self.send(url.to_owned(), params, then);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (url, fields, then);
    }

    #[cfg(feature = "hydrate")]
    fn send(self, url: String, fields: web_sys::UrlSearchParams, then: impl Fn(&str) + 'static) {
        if self.pending.get_untracked() {
            return;
        }
        self.pending.set(true);
        leptos::task::spawn_local(async move {
            let outcome = fetch(&url, &fields).await;
            if let Ok(json) = &outcome {
                then(json);
            }
            self.outcome.set(Some(outcome));
            self.pending.set(false);
        });
    }
}

/// Posts urlencoded `fields` as a server function's client would: asking for JSON, so the function answers with
/// its value (or its error, with a status) instead of redirecting. Follows a redirect the function asks for
/// (`leptos_axum::redirect`), and sends a person whose session ended to the login page, as the server does for a
/// page load.
#[cfg(feature = "hydrate")]
async fn fetch(url: &str, fields: &web_sys::UrlSearchParams) -> Result<String, AppError> {
    use leptos::wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    let unreachable = |_: JsValue| AppError::Transport("fetch failed".into());
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let headers = web_sys::Headers::new().map_err(unreachable)?;
    headers.set("Accept", "application/json").map_err(unreachable)?;
    init.set_headers(&headers);
    init.set_body(fields); // the browser sets `Content-Type: application/x-www-form-urlencoded`
    let response: web_sys::Response =
        JsFuture::from(window().fetch_with_str_and_init(url, &init)).await.map_err(unreachable)?.unchecked_into();
    let location = window().location();
    if response.headers().has(leptos::server_fn::redirect::REDIRECT_HEADER).unwrap_or(false)
        && let Ok(Some(to)) = response.headers().get("location")
    {
        let _ = location.set_href(&to);
    }
    let text = JsFuture::from(response.text().map_err(unreachable)?).await.map_err(unreachable)?;
    let text = text.as_string().unwrap_or_default();
    if response.ok() {
        return Ok(text);
    }
    let error =
        serde_json::from_str(&text).unwrap_or_else(|_| AppError::Transport(format!("HTTP {}", response.status())));
    if error == AppError::Unauthorized || error == AppError::ConfirmIdentity {
        let here = location.pathname().unwrap_or_default();
        let page = if error == AppError::Unauthorized { "/login" } else { "/confirm" };
        let _ = location.set_href(&format!("{page}?next={}", url_escape(&here)));
    }
    Err(error)
}

/// The error a server function sent back in the URL after a post without JavaScript (`?__path=…&__err=…`), if it
/// was the one at `path`. Read while the page renders on the server, and given to the island as a prop.
pub fn returned_error(path: &str) -> Option<AppError> {
    #[cfg(feature = "ssr")]
    {
        use leptos::{server::ServerActionError, server_fn::error::ServerFnUrlError};
        let returned = use_context::<ServerActionError>()?;
        (returned.path() == path).then(|| ServerFnUrlError::<AppError>::decode_err(returned.err()))
    }
    #[cfg(not(feature = "ssr"))]
    {
        let _ = path;
        None
    }
}

/// Like [`returned_error`], for a page whose form is not an island: the page answers with the error's status (a
/// 401 for a wrong password, a 429 with `Retry-After` when throttled), as the server function did.
pub fn page_error(path: &str) -> Option<AppError> {
    let error = returned_error(path);
    #[cfg(feature = "ssr")]
    if let (Some(error), Some(response)) = (&error, use_context::<leptos_axum::ResponseOptions>()) {
        response.set_status(error.status());
        if let AppError::Throttled { retry_after } = error {
            response.insert_header(axum::http::header::RETRY_AFTER, (*retry_after).into());
        }
    }
    error
}

/// The same error, shown where a server-rendered list's own form put it (its row may be gone).
#[component]
pub fn ReturnedError(path: &'static str) -> impl IntoView {
    returned_error(path).map(|error| view! { <p class="field-error" role="alert">{error.to_string()}</p> })
}

/// Removes the list item that holds `inside` from the page: its action (a revocation) succeeded.
pub fn remove_row(inside: NodeRef<html::Form>) {
    if let Some(form) = inside.get_untracked()
        && let Ok(Some(row)) = form.closest("li")
    {
        row.remove();
    }
}

/// A list row's one action (revoke, remove): a small form with the row's id and a busy state. `then` runs when the
/// server confirms; the caller shows `post`'s error where it fits.
#[component]
pub fn RowAction(
    post: Post,
    action: &'static str,
    id: String,
    /// For screen readers: "Revoke Firefox on Linux".
    label: String,
    idle: &'static str,
    busy: &'static str,
    #[prop(optional)] node_ref: NodeRef<html::Form>,
    #[prop(default = None)] title: Option<&'static str>,
    then: impl Fn(&str) + 'static,
) -> impl IntoView {
    view! {
        <form method="post" action=action class="inline-form" node_ref=node_ref on:submit=post.on_submit(then)>
            <input type="hidden" name="id" value=id/>
            <button type="submit" class="button secondary small" disabled=move || post.pending()
                aria-label=label title=title>
                {move || if post.pending() { busy } else { idle }}
            </button>
        </form>
    }
}

/// Percent-encodes a path for a query value (`/` too, as the server's redirect does).
pub fn url_escape(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// "Keep me signed in" (unticked by default): without it the session ends with the browser, and after 12 hours at
/// most; with it, it lasts as long as the site allows (`SESSION_MAX_LIFETIME`).
#[component]
pub fn KeepSignedIn(id: &'static str) -> impl IntoView {
    view! {
        <label class="check" for=id>
            <input id=id type="checkbox" name="remember" value="1"/>
            " Keep me signed in on this device"
        </label>
    }
}
