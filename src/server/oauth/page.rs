//! The few pages the provider serves itself, outside the Leptos app: consent and device approval. Plain HTML forms
//! (they work without JavaScript) in the site's frame and stylesheet, with a policy that allows nothing but the
//! stylesheet, the icon and posting the form.

use axum::{
    http::{HeaderValue, header},
    response::{Html, IntoResponse, Response},
};

use super::Scopes;
use crate::server::error_page::escape;

/// A whole page around `body` (already escaped HTML). `form_target` is an origin the page's form may end up at
/// (the app a consent answer redirects to).
pub fn render(title: &str, body: &str, form_target: Option<&str>) -> Response {
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{title} · Gatehouse</title>
<link rel="stylesheet" href="/pkg/gatehouse.css">
<link rel="icon" type="image/svg+xml" href="/favicon.svg">
</head>
<body>
<header class="site-header"><div class="bar"><a class="brand" href="/"><img src="/favicon.svg" alt="" width="28" height="28"><span>Gatehouse</span></a></div></header>
<main id="main">
{body}
</main>
</body>
</html>"#,
        title = escape(title),
    );
    let target = form_target.map(|origin| format!(" {origin}")).unwrap_or_default();
    let policy = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'{target}; \
         frame-ancestors 'none'"
    );
    let mut response = Html(html).into_response();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The scopes, each in words (`openid` alone says nothing a person needs to read when others are listed).
pub fn scope_list(scopes: &Scopes) -> String {
    let only_openid = scopes.iter().count() == 1;
    let items: String = scopes
        .iter()
        .filter(|s| *s != super::OAuthScope::OpenId || only_openid)
        .map(|s| format!(r#"<li data-scope="{}">{}</li>"#, escape(s.as_str()), escape(s.description())))
        .collect();
    format!(r#"<ul class="scope-list" data-testid="consent-scopes">{items}</ul>"#)
}
