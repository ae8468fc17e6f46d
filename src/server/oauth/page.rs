//! What the provider's own pages (consent, device approval) show of the scopes an app asks for. The pages themselves
//! are plain HTML forms in the site's frame (`error_page::page`): they work without JavaScript.

use crate::server::oauth::scopes::Scopes;
use crate::server::web::error_page::escape;

/// The scopes, each in words (`openid` alone says nothing a person needs to read when others are listed).
pub fn scope_list(scopes: &Scopes) -> String {
    let only_openid = scopes.iter().count() == 1;
    let items: String = scopes
        .iter()
        .filter(|s| *s != crate::server::oauth::scopes::OAuthScope::OpenId || only_openid)
        .map(|s| format!(r#"<li data-scope="{}">{}</li>"#, escape(s.as_str()), escape(s.description())))
        .collect();
    format!(r#"<ul class="scope-list" data-testid="consent-scopes">{items}</ul>"#)
}

/// A warning for an app that a Gatehouse user registered themselves (not this site's operators): nobody here has
/// checked who runs it. Empty for an operator's app.
pub fn unverified_notice(client: &crate::server::oauth::clients::Client) -> &'static str {
    if client.owner_id.is_none() {
        return "";
    }
    r#"<p class="notice warning" data-testid="unverified-app"><strong>Unverified app.</strong> It was registered by a Gatehouse user, not by this site's operators, and nobody here has checked who runs it. Only continue if you trust it.</p>"#
}

/// "Allow" and "Deny", as the consent and device pages answer: `decision=allow` or `decision=deny`.
pub const DECISION_BUTTONS: &str = r#"<button type="submit" name="decision" value="allow" class="button" data-testid="consent-allow">Allow</button>
<button type="submit" name="decision" value="deny" class="button secondary" data-testid="consent-deny">Deny</button>"#;
