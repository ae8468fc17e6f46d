//! Baseline security headers for every response, and the nonce-based Content Security Policy for HTML pages.

use axum::http::{HeaderName, HeaderValue, header};
use leptos::{config::Env, prelude::*};
use tower_http::set_header::SetResponseHeaderLayer;

use super::{config::AppUrl, state::AppState};

/// Headers added to every response that does not set its own. Non-HTML responses get a policy that allows nothing.
pub fn baseline_headers(app_url: &AppUrl) -> Vec<SetResponseHeaderLayer<HeaderValue>> {
    let mut headers = vec![
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // No Referer to other sites: an authorization code or state in a URL must never leak (RFC 9700 §4.2.4).
        // (`no-referrer` would also make browsers send `Origin: null` on our own form posts.)
        (header::REFERRER_POLICY, "same-origin"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
        (HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
        (HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=(), payment=()"),
        (header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
    ];
    if app_url.is_https() {
        headers.push((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains"));
    }
    headers
        .into_iter()
        .map(|(name, value)| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value)))
        .collect()
}

/// Sets the page's Content Security Policy and cache rule. Called while the shell renders, before any HTML is sent.
pub fn set_page_headers(options: &LeptosOptions) {
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let nonce = use_nonce().map(|nonce| nonce.to_string());
    let providers = use_context::<AppState>().map(|state| state.config.provider_origins.clone()).unwrap_or_default();
    if let Ok(value) = HeaderValue::from_str(&page_policy(options, &providers, nonce.as_deref())) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
    // Pages show a person's own data: never keep them in shared or browser caches.
    response.insert_header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A page's Content Security Policy.
///
/// Scripts run only from this origin or with this response's nonce (which Leptos puts on its hydration and
/// resource scripts); WebAssembly needs `wasm-unsafe-eval`. Images may come from providers (avatars) over https.
pub fn page_policy(options: &LeptosOptions, provider_origins: &[String], nonce: Option<&str>) -> String {
    let nonce = nonce.map(|nonce| format!(" 'nonce-{nonce}'")).unwrap_or_default();
    // `cargo leptos watch` reloads the page over a WebSocket on the reload port.
    let reload = match options.env {
        Env::DEV => format!(" ws://*:{}", options.reload_port),
        Env::PROD => String::new(),
    };
    // Linking a provider posts a form to us that we redirect to the provider, and Chromium applies `form-action`
    // to every hop of a form's redirects.
    let providers: String = provider_origins.iter().map(|o| format!(" {o}")).collect();
    format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data: https:; connect-src 'self'{reload}; font-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'{providers}; frame-ancestors 'none'"
    )
}

/// The nonce on a page's first script, if it has one that could be a nonce.
fn nonce_in(body: &[u8]) -> Option<&str> {
    std::str::from_utf8(body)
        .ok()
        .and_then(|html| html.split(" nonce=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b)))
}

/// Gives a rendered page its policy and cache rule when it left the renderer without them.
///
/// Rarely (seen about once in a few hundred page loads under the browser tests, never in a single-process
/// reproduction) a page rendered by Leptos arrives here without the headers [`set_page_headers`] put in its
/// `ResponseOptions` — the body complete, its scripts carrying their nonce — and the baseline policy for non-HTML
/// answers (`default-src 'none'`) then blocked the page's own stylesheet and scripts. The nonce is read back from the
/// page, so the policy is the one the page would have had.
pub fn ensure_page_headers(state: &AppState, headers: &mut axum::http::HeaderMap, body: &[u8]) {
    if headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        return;
    }
    let nonce = nonce_in(body);
    tracing::warn!(found_nonce = nonce.is_some(), "a page left the renderer without its headers; setting them here");
    let policy = page_policy(&state.leptos_options, &state.config.provider_origins, nonce);
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pages_nonce_is_read_back_and_nothing_else_passes_for_one() {
        assert_eq!(nonce_in(br#"<script type="module" nonce="Q5VgGrqlMQ+/Tq=">x</script>"#), Some("Q5VgGrqlMQ+/Tq="));
        assert_eq!(nonce_in(b"<p>no scripts</p>"), None);
        assert_eq!(nonce_in(br#"<script nonce="a'b">"#), None, "a quote would break out of the policy");
        let policy =
            page_policy(&LeptosOptions::builder().output_name("x").build(), &["https://idp.example".into()], Some("N"));
        assert!(policy.contains("script-src 'self' 'nonce-N' 'wasm-unsafe-eval'"), "{policy}");
        assert!(policy.contains("form-action 'self' https://idp.example"), "{policy}");
    }
}
