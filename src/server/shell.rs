//! The HTML document around the app, rendered on the server only: the page's security headers are set here,
//! before any HTML is sent.

use leptos::prelude::*;
use leptos_meta::MetaTags;

use crate::app::App;
use crate::server::security::headers;

/// The document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    headers::set_page_headers(&options);

    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}
