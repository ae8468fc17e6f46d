//! Each request's reactive owner stays its own.
//!
//! Leptos keeps "the current owner" (whose contexts `use_context` reads) in a thread-local. Rendering a page makes its
//! owner with `Owner::new_root`, which *sets* it as the thread's current owner and leaves it there after the poll
//! returns; a later request polled on the same worker thread that makes its own with `Owner::new()` — leptos_axum's
//! static-file fallback and server-function handler do — gets the page's owner as parent. The static-file handler
//! then reads `ResponseOptions` through `use_context`, finds the *page's*, and `extend_response` moves its headers
//! (`mem::take`) onto the file's answer: the page went out without its policy and `Cache-Control`, and the file with
//! another request's nonce. (Found for issue 24: about a quarter of answers crossed when pages and files were served
//! together; `security_review::every_answer_carries_its_own_headers…` reproduces it.)
//!
//! [`isolate`] clears the thread's current owner before and after every poll of a request's future, so an owner is
//! current only inside the poll that set it, and nothing a request makes can find another's.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use axum::{extract::Request, middleware::Next, response::Response};
use leptos::prelude::Owner;

/// Forgets whichever owner this thread left current.
fn clear() {
    if let Some(owner) = Owner::current() {
        owner.unset();
    }
}

/// A request's future, polled with no other request's owner current.
struct Isolated<F>(Pin<Box<F>>);

impl<F: Future> Future for Isolated<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        clear();
        let polled = self.0.as_mut().poll(cx);
        clear();
        polled
    }
}

/// Middleware: runs the rest of the request isolated (see the module's comment).
pub async fn isolate(request: Request, next: Next) -> Response {
    Isolated(Box::pin(next.run(request))).await
}
