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
//! [`guarded`] clears the thread's current owner before and after every poll of a request's future, so an owner is
//! current only inside the poll that set it, and nothing a request makes can find another's. The same wrapper catches
//! a panic in a poll, so that `web::front` answers it instead of the connection dying: one wrapper, one box.

use std::{
    any::Any,
    panic::{AssertUnwindSafe, catch_unwind},
    pin::Pin,
    task::{Context, Poll},
};

use leptos::prelude::Owner;

/// Forgets whichever owner this thread left current.
fn clear() {
    if let Some(owner) = Owner::current() {
        owner.unset();
    }
}

/// A request's future, polled with no other request's owner current; a panic ends it with the panic's payload.
pub struct Guarded<F>(Pin<Box<F>>);

/// Runs `future` guarded (see the module's comment).
pub fn guarded<F: Future>(future: F) -> Guarded<F> {
    Guarded(Box::pin(future))
}

impl<F: Future> Future for Guarded<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        clear();
        // The future is not polled again after a panic: it is dropped with the `Err`.
        let polled = catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx)));
        clear();
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}
