//! A small, complete HTML page for failures answered outside the Leptos app (sign-in callbacks): the site's header
//! and stylesheet, a heading, an explanation, one link. Every piece of text is escaped.

use axum::{
    http::{HeaderValue, header},
    response::{Html, IntoResponse, Response},
};

pub fn render(title: &str, message: &str, (link_text, link_href): (&str, &str)) -> Response {
    let (title, message, link_text, link_href) = (escape(title), escape(message), escape(link_text), escape(link_href));
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
<section class="notice" role="alert" aria-labelledby="problem-title">
<h1 id="problem-title">{title}</h1>
<p data-testid="problem-message">{message}</p>
<a class="button" href="{link_href}">{link_text}</a>
</section>
</main>
</body>
</html>"#
    );
    let mut response = Html(html).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    );
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
