//! Server-rendered pages as they leave the app: whole, and the anonymous ones from memory.
//!
//! A page is rendered completely before its first byte is sent (`SsrMode::Async`), but Leptos hands it over as a
//! stream of pieces, and with TCP_NODELAY each piece became a write of its own. Pages are collected and sent in one
//! write, with a `Content-Length`.
//!
//! A page without islands has nothing to hydrate, so the tags that would load the WebAssembly are left out.
//!
//! The anonymous home and login pages are the same for every visitor except for the CSP nonce, so each is rendered
//! once and then served from memory with a fresh nonce stamped into the policy and the page's script tags.
//!
//! Only a plain `GET /` or `GET /login` (no query string) from a visitor who is not signed in is served this way;
//! everything else, a signed-in person's header included, renders as usual. What the pages show is fixed at start-up
//! (the configured providers, the version), so the copy never goes stale while the process runs.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use axum::{
    body::{Body, Bytes, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::Engine;

use crate::server::people::session::Caller;

/// The pages served from memory to anonymous visitors.
const CACHED_PATHS: [&str; 2] = ["/", "/login"];
/// A rendered page larger than this is served as it is, never kept.
const MAX_PAGE_BYTES: usize = 512 * 1024;

/// A rendered page, cut wherever its nonce appeared.
struct Page {
    headers: HeaderMap,
    /// The body between occurrences of the nonce.
    pieces: Vec<Bytes>,
    /// The Content-Security-Policy header, cut the same way.
    policy: Vec<String>,
}

impl Page {
    fn respond(&self) -> Response {
        let nonce = new_nonce();
        let body = self.pieces.iter().map(|p| p.as_ref()).collect::<Vec<_>>().join(nonce.as_bytes());
        let mut response = Response::new(Body::from(body));
        *response.headers_mut() = self.headers.clone();
        if let Ok(policy) = HeaderValue::from_str(&self.policy.join(&nonce)) {
            response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy);
        }
        response
    }
}

#[derive(Default)]
pub struct PageCache {
    pages: RwLock<HashMap<&'static str, Page>>,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache").finish_non_exhaustive()
    }
}

/// A fresh nonce: 128 random bits, base64, as Leptos makes its own.
fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub async fn serve_anonymous_pages(State(pages): State<Arc<PageCache>>, request: Request, next: Next) -> Response {
    let anonymous = request.extensions().get::<Caller>().is_none_or(|caller| caller.signed_in().is_none());
    let path = CACHED_PATHS.iter().find(|p| **p == request.uri().path()).copied();
    let (Some(path), true, None, &Method::GET) = (path, anonymous, request.uri().query(), request.method()) else {
        return whole(next.run(request).await).await;
    };
    if let Some(page) = pages.pages.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(path) {
        let mut response = page.respond();
        // Answered before routing: the route is the page's path (one of a few).
        response.extensions_mut().insert(crate::server::platform::metrics::Route(path.to_owned()));
        return response;
    }
    let response = whole(next.run(request).await).await;
    keep(&pages, path, response).await
}

/// A page with no island has nothing to hydrate: the tags that load the WebAssembly are left out, so the browser
/// downloads only the HTML and the stylesheet. Leptos writes them in the head whatever the page turns out to hold.
fn without_unused_hydration(body: Bytes) -> Bytes {
    let Ok(html) = std::str::from_utf8(&body) else { return body };
    // `str::contains` searches with a substring algorithm; comparing every 14-byte window was a few µs a page.
    if html.contains("<leptos-island") {
        return body;
    }
    let Some(head_end) = html.find("</head>") else { return body };
    let (head, rest) = html.split_at(head_end);
    let mut kept = String::with_capacity(head.len());
    let mut remaining = head;
    let mut removed = 0;
    // `<link rel="modulepreload" href="/pkg/…">`, `<link rel="preload" href="/pkg/….wasm" …>` and the module script.
    while let Some(start) = remaining.find('<') {
        kept.push_str(&remaining[..start]);
        let tag = &remaining[start..];
        let end = if tag.starts_with("<script type=\"module\"") {
            tag.find("</script>").map(|e| e + "</script>".len())
        } else if tag.starts_with("<link rel=\"modulepreload\" href=\"/pkg/")
            || tag.starts_with("<link rel=\"preload\" href=\"/pkg/")
        {
            tag.find('>').map(|e| e + 1)
        } else {
            None
        };
        match end {
            Some(end) => {
                removed += 1;
                remaining = &tag[end..];
            }
            None => {
                kept.push('<');
                remaining = &tag[1..];
            }
        }
    }
    kept.push_str(remaining);
    if removed != 3 {
        // Not the shape Leptos writes: leave the page as it is rather than guess.
        return body;
    }
    kept.push_str(rest);
    Bytes::from(kept)
}

/// An HTML page of ours, collected into one body; any other response as it is.
async fn whole(response: Response) -> Response {
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    if !html || response.headers().contains_key(header::CONTENT_LENGTH) {
        return response;
    }
    let (parts, body) = response.into_parts();
    match to_bytes(body, usize::MAX).await {
        Ok(body) => Response::from_parts(parts, Body::from(without_unused_hydration(body))),
        Err(error) => render_failed(&error),
    }
}

fn render_failed(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "page render failed");
    let page = crate::server::web::error_page::render(
        "Something went wrong on our side",
        "This page could not be shown. Please try again in a minute.",
        ("Go to the home page", "/"),
    );
    (StatusCode::INTERNAL_SERVER_ERROR, page).into_response()
}

/// Keeps a freshly rendered page if it can be served again with another nonce, and answers with it either way.
async fn keep(cache: &PageCache, path: &'static str, response: Response) -> Response {
    let nonce = response
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .and_then(|policy| policy.split("'nonce-").nth(1))
        .and_then(|rest| rest.split('\'').next())
        .map(str::to_owned);
    let cacheable = response.status() == StatusCode::OK && !response.headers().contains_key(header::SET_COOKIE);
    let (Some(nonce), true) = (nonce.filter(|n| !n.is_empty()), cacheable) else {
        return response;
    };
    let (parts, body) = response.into_parts();
    // Our own page, rendered in full already (`SsrMode::Async`): reading it whole costs nothing extra.
    let body = match to_bytes(body, usize::MAX).await {
        Ok(body) if body.len() <= MAX_PAGE_BYTES => without_unused_hydration(body),
        Ok(body) => return Response::from_parts(parts, Body::from(body)),
        Err(error) => return render_failed(&error),
    };
    let policy = parts.headers.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let page = Page {
        headers: parts.headers.clone(),
        pieces: split(&body, nonce.as_bytes()),
        policy: policy.split(nonce.as_str()).map(str::to_owned).collect(),
    };
    cache.pages.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(path, page);
    Response::from_parts(parts, Body::from(body))
}

fn split(body: &Bytes, separator: &[u8]) -> Vec<Bytes> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at + separator.len() <= body.len() {
        if &body[at..at + separator.len()] == separator {
            pieces.push(body.slice(start..at));
            at += separator.len();
            start = at;
        } else {
            at += 1;
        }
    }
    pieces.push(body.slice(start..));
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_cut_at_every_nonce_and_joins_back_with_another() {
        let body = Bytes::from_static(b"<script nonce=\"N1\">a</script><script nonce=\"N1\">b</script>");
        let pieces = split(&body, b"N1");
        assert_eq!(pieces.len(), 3);
        let joined = pieces.iter().map(|p| p.as_ref()).collect::<Vec<_>>().join(&b"XY"[..]);
        assert_eq!(joined, b"<script nonce=\"XY\">a</script><script nonce=\"XY\">b</script>");
        assert_eq!(split(&Bytes::from_static(b"none here"), b"N1").len(), 1);
    }

    const HEAD: &str = "<head><meta charset=\"utf-8\"><link rel=\"modulepreload\" href=\"/pkg/g.js\" crossorigin=\"n\">\
        <link rel=\"preload\" href=\"/pkg/g.wasm\" as=\"fetch\" type=\"application/wasm\" crossorigin=\"n\">\
        <script type=\"module\" nonce=\"n\">import('/pkg/g.js')</script><link rel=\"stylesheet\" href=\"/pkg/g.css\"></head>";

    #[test]
    fn a_page_without_islands_loses_only_the_tags_that_load_the_webassembly() {
        let page = format!("{HEAD}<body><p>static</p></body>");
        let out = String::from_utf8(without_unused_hydration(Bytes::from(page)).to_vec()).unwrap();
        assert_eq!(
            out,
            "<head><meta charset=\"utf-8\"><link rel=\"stylesheet\" href=\"/pkg/g.css\"></head><body><p>static</p></body>"
        );
        let with_island = format!("{HEAD}<body><leptos-island data-component=\"x\"></leptos-island></body>");
        assert_eq!(without_unused_hydration(Bytes::from(with_island.clone())), Bytes::from(with_island));
        let unknown_shape = "<head><script type=\"module\">x</script></head><body></body>".to_owned();
        assert_eq!(without_unused_hydration(Bytes::from(unknown_shape.clone())), Bytes::from(unknown_shape));
    }

    #[test]
    fn nonces_are_fresh_base64() {
        let (a, b) = (new_nonce(), new_nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c)));
    }
}
