//! `/login`: the password form (when the site offers passwords) above one button per configured provider. The form
//! posts to its server function and each button is a plain link to the server's login route, so all of it works
//! without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{auth::login_providers, pages::password::PasswordSignInForm, password::password_login};

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let providers = Resource::new(|| (), |_| login_providers());
    let href = move |provider: &str| match query.read().get("next") {
        Some(next) => format!("/auth/login/{provider}?next={}", encode_query_value(&next)),
        None => format!("/auth/login/{provider}"),
    };

    let with_password = password_login();
    let flag = |name: &str| query.with_untracked(|q| q.get(name).is_some());
    let notice = if flag("verified") {
        Some("Your email address is confirmed. Sign in to continue.")
    } else if flag("reset") {
        Some("Your new password is set, and every session was signed out. Sign in with the new password.")
    } else {
        None
    };
    let next = query.with_untracked(|q| q.get("next"));
    // An app that sent the person here may say whom it expects (`login_hint`): an address fills in the form.
    let email = query.with_untracked(|q| q.get("login_hint")).filter(|h| h.contains('@') && h.len() <= 254);

    view! {
        <Title text="Sign in"/>
        <section class="card narrow" aria-labelledby="login-title">
            <h1 id="login-title">"Sign in to Gatehouse"</h1>
            {notice.map(|text| view! { <p class="banner" role="status" data-testid="login-notice">{text}</p> })}
            {if with_password {
                view! {
                    <PasswordSignInForm next email=email.unwrap_or_default()/>
                    <p class="divider" role="separator"><span>"or continue with"</span></p>
                }
                    .into_any()
            } else {
                view! {
                    <p class="muted">
                        "Choose how to sign in. Your provider checks who you are; Gatehouse never sees a password."
                    </p>
                }
                    .into_any()
            }}
            <Suspense fallback=|| view! { <p class="muted">"Loading sign-in options…"</p> }>
                {move || Suspend::new(async move {
                    match providers.await {
                        Ok(list) if list.is_empty() && with_password => ().into_any(),
                        Ok(list) if list.is_empty() => {
                            view! {
                                <p class="problem" role="status">
                                    "No sign-in provider is configured. Set OIDC_*, GOOGLE_* or GITHUB_* (see .env.example), or run "
                                    <code>"make run"</code> " to use the Dev IdP."
                                </p>
                            }
                                .into_any()
                        }
                        Ok(list) => {
                            view! {
                                <ul class="providers">
                                    {list
                                        .into_iter()
                                        .map(|provider| {
                                            view! {
                                                <li>
                                                    <a class="button provider" rel="external" href=href(&provider.id) data-provider=provider.id.clone()>
                                                        {format!("Continue with {}", provider.label)}
                                                    </a>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
fn encode_query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::encode_query_value;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query_value("/profile?a=b&c"), "%2Fprofile%3Fa%3Db%26c");
        assert_eq!(encode_query_value("plain-text_1.~"), "plain-text_1.~");
    }
}
