//! Baseline security headers for every response, and the nonce-based Content Security Policy for HTML pages.

use axum::http::{HeaderName, HeaderValue, header};
use leptos::{config::Env, prelude::*};

use crate::server::{platform::config::AppUrl, state::AppState};

/// Headers added to every response that does not set its own (by `web::front`). Non-HTML responses get a policy that
/// allows nothing.
pub fn baseline(app_url: &AppUrl) -> Vec<(HeaderName, HeaderValue)> {
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
    headers.into_iter().map(|(name, value)| (name, HeaderValue::from_static(value))).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pages_policy_allows_its_nonce_and_the_providers_forms() {
        let policy =
            page_policy(&LeptosOptions::builder().output_name("x").build(), &["https://idp.example".into()], Some("N"));
        assert!(policy.contains("script-src 'self' 'nonce-N' 'wasm-unsafe-eval'"), "{policy}");
        assert!(policy.contains("form-action 'self' https://idp.example"), "{policy}");
    }
}
