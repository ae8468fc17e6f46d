//! Small, complete HTML pages answered outside the Leptos app: failures (sign-in callbacks, broken app links) — a
//! heading, an explanation, one link — and the provider's plain-form pages (consent, device approval, sign-out).
//! Every piece of text is escaped.

use axum::{
    http::{HeaderValue, header},
    response::{Html, IntoResponse, Response},
};

pub fn render(title: &str, message: &str, (link_text, link_href): (&str, &str)) -> Response {
    let body = format!(
        r#"<section class="notice" role="alert" aria-labelledby="problem-title">
<h1 id="problem-title">{title}</h1>
<p data-testid="problem-message">{message}</p>
<a class="button" href="{link_href}">{link_text}</a>
</section>"#,
        title = escape(title),
        message = escape(message),
        link_text = escape(link_text),
        link_href = escape(link_href),
    );
    page(title, &body, None)
}

/// A whole page around `body` (HTML, already escaped): the site's header and stylesheet, with a policy that allows
/// nothing but the stylesheet, the icon and posting a form here — or, with `form_target`, to that origin too (an
/// app a consent answer redirects to: Chromium applies `form-action` to every hop of a form's redirects).
pub fn page(title: &str, body: &str, form_target: Option<&str>) -> Response {
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

/// Escapes text for HTML content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_in_provider_text_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }
}
