//! Pages whose data is read before they render, then rendered in one synchronous pass.
//!
//! Rendered the usual way (`SsrMode::Async`), a page waits for its data inside a `Suspense`, and Leptos renders the
//! whole document as an in-order stream: every element is written into a `String` of its own (its opening tag, then
//! another for its closing tag) and copied into the stream's buffer, and the `Suspense` adds its owner, its context
//! and its futures. For `/dashboard` that was about a quarter of the request (`bench/profiles/dashboard.txt`).
//!
//! A page registered here has its data read first, by its loader, from the state and the person the session check
//! found ([`Caller`]); the outcome goes to the page through [`Preloaded`], and the document is rendered with
//! `RenderHtml::to_html`, which writes every element straight into one buffer. The response is otherwise the one
//! leptos_axum makes (the same contexts, headers, head tags and hydration data: `handle_response_inner`), and a
//! loader's error sets the page's status as a server function's does on a page (`context::with_status`).
//!
//! Such a page must not wait on anything while it renders: a `Suspense` in it would render its fallback.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Request, State},
    routing::{MethodRouter, get},
};
use futures_util::StreamExt;
use leptos::prelude::*;
use leptos_integration_utils::{BoxedFnOnce, PinnedFuture, PinnedStream};

use crate::model::{error::AppError, page::Preloaded};
use crate::server::{
    people::session::{Caller, SignedIn},
    state::AppState,
    web::context,
};

/// A `GET` route for a signed-in page: `load` reads its data, then `app` renders it (see the module's comment). A
/// request without a signed-in session renders the page with `Unauthorized` (the session check in front of the
/// app sends such requests for `/dashboard` and `/profile` to `/login` before they get here).
pub fn page<T, IV, Load, Loading>(app: impl Fn() -> IV + Send + Sync + 'static, load: Load) -> MethodRouter<AppState>
where
    T: Send + Sync + 'static,
    IV: IntoView + 'static,
    Load: Fn(AppState, Arc<SignedIn>, Option<String>) -> Loading + Clone + Send + Sync + 'static,
    Loading: Future<Output = Result<T, AppError>> + Send + 'static,
{
    // Shared, so that a request clones a pointer rather than the closure and the `LeptosOptions` it holds.
    let app = Arc::new(app);
    get(move |State(state): State<AppState>, request: Request<Body>| {
        let (app, load) = (Arc::clone(&app), load.clone());
        async move {
            let signed_in = request.extensions().get::<Caller>().and_then(|caller| caller.signed_in().cloned());
            let loaded = match signed_in {
                Some(signed_in) => load(state.clone(), signed_in, request.uri().query().map(str::to_owned)).await,
                None => Err(AppError::Unauthorized),
            };
            let failed = loaded.as_ref().err().cloned();
            let preloaded = Preloaded::new(loaded);
            let contexts = move || {
                provide_context(state.clone());
                provide_context(leptos_router::Method::Get);
                provide_context(preloaded.clone());
                if let Some(error) = &failed {
                    context::answer_with(error);
                }
            };
            leptos_axum::handle_response_inner(contexts, move || app(), request, in_one_pass).await
        }
    })
}

/// The document rendered in one pass into one buffer, then whatever Leptos sends after it (hydration data).
fn in_one_pass<IV: IntoView + 'static>(
    app: IV,
    after: BoxedFnOnce<PinnedStream<String>>,
    _out_of_order: bool,
) -> PinnedFuture<PinnedStream<String>> {
    Box::pin(async move {
        let html = app.to_html();
        Box::pin(futures_util::stream::once(async move { html }).chain(after())) as PinnedStream<String>
    })
}
