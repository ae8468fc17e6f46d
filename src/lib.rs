//! Gatehouse: sign in with OAuth 2.0 / OpenID Connect providers — a Leptos app rendered on the server and hydrated.
// A page's view is one nested type; the dashboard's, rendered without a `Suspense` around it (`server::web::preload`),
// is deeper than the compiler's default limit of 128 allows for the browser build's hydration code.
#![recursion_limit = "256"]

pub mod app;
pub mod components;
pub mod model;
pub mod pages;
pub mod rpc;
#[cfg(feature = "ssr")]
pub mod server;

/// The browser entry point: hydrates the page's islands (its interactive parts) in the server-rendered HTML, then
/// sets `data-hydrated` on `<html>`, so end-to-end tests (and curious people) can tell a hydrated page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Panic messages in the console while developing; a release build (panic = "abort") leaves the formatting out.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
    if let Some(root) = leptos::prelude::document().document_element() {
        let _ = root.set_attribute("data-hydrated", "true");
    }
}
