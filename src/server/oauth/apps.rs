//! The `/apps` page's data and its forms: revoking an app the person let in, and registering, re-keying and
//! deleting the apps they develop (the rules are in [`crate::server::oauth::registered`]). The forms are plain HTML
//! posts to these handlers, which answer with a redirect back to the page (`?error=…` when something was wrong), so
//! everything works without JavaScript. A new client secret is kept sealed in the browser's session and shown by the
//! page until the person dismisses it.

use axum::{
    Router,
    extract::State,
    response::{IntoResponse, Redirect, Response},
    routing::post,
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::model::{
    apps::{AppBackchannelLogout, AppsView, AuthorizedApp, FreshSecret, RegisteredApp},
    error::AppError,
};
use crate::server::{
    oauth::{clients, grants, registered, scopes::OAuthScope},
    people::session::{Caller, ClientInfo},
    platform::{clock, secret_key::Purpose},
    state::AppState,
};

const FRESH_KEY: &str = "fresh_client_secret";
const FRESH_SECS: i64 = 600;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/apps/register", post(register))
        .route("/apps/revoke", post(revoke))
        .route("/apps/delete", post(delete))
        .route("/apps/secret", post(new_secret_for))
        .route("/apps/dismiss", post(dismiss))
}

#[derive(Serialize, Deserialize)]
struct Fresh {
    client_id: String,
    name: String,
    sealed: Vec<u8>,
    expires_at: i64,
}

/// The apps a person has let in, as the pages show them (theirs, and the admin area's).
pub async fn authorized(state: &AppState, user_id: &str) -> Result<Vec<AuthorizedApp>, sqlx::Error> {
    Ok(grants::authorized_apps(&state.db, user_id)
        .await?
        .into_iter()
        .map(|a| AuthorizedApp {
            client_id: a.client_id,
            name: a.name,
            scopes: a.scopes.split_whitespace().map(str::to_owned).collect(),
            authorized_at: a.authorized_at,
            last_used_at: a.last_used_at,
        })
        .collect())
}

/// Everything the page shows.
pub async fn view(state: &AppState, session: &Session, user_id: &str) -> Result<AppsView, AppError> {
    let authorized = authorized(state, user_id).await?;
    let registered = clients::list(&state.db, Some(user_id))
        .await?
        .into_iter()
        .map(|c| RegisteredApp {
            confidential: c.is_confidential(),
            client_id: c.id,
            name: c.name,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            scopes: c.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            allowed_ips: c.allowed.entries(),
            backchannel_logout: c
                .backchannel_logout
                .map(|b| AppBackchannelLogout { uri: b.uri, last_delivery: c.last_logout_delivery }),
            created_at: c.created_at,
        })
        .collect();
    let fresh: Option<Fresh> = session.get(FRESH_KEY).await.map_err(AppError::internal)?;
    let fresh = fresh.filter(|f| f.expires_at > clock::now()).and_then(|f| {
        let secret = state.sealer.open(Purpose::FreshClientSecret, user_id, &f.sealed).ok()?;
        Some(FreshSecret { client_id: f.client_id, name: f.name, secret: String::from_utf8(secret).ok()? })
    });
    let scopes = OAuthScope::ALL.iter().map(|s| (s.as_str().to_owned(), s.description().to_owned())).collect();
    Ok(AppsView { now: clock::now(), authorized, registered, fresh, scopes })
}

/// The signed-in person's id.
fn person(caller: &Caller) -> Option<String> {
    caller.signed_in().map(|s| s.session.user_id.clone())
}

fn to_login() -> Response {
    Redirect::to("/login?next=%2Fapps").into_response()
}

/// Back to the page, at `anchor`, with the error if there was one.
fn back(anchor: &str, result: Result<(), AppError>) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/apps#{anchor}")).into_response(),
        Err(error) => {
            if matches!(error, AppError::Internal | AppError::Unavailable) {
                tracing::error!(%error, "apps page action failed");
            }
            let message: String = url::form_urlencoded::byte_serialize(error.to_string().as_bytes()).collect();
            Redirect::to(&format!("/apps?error={message}#{anchor}")).into_response()
        }
    }
}

/// The form's fields; `scope` and the URI lists may repeat or hold one per line.
fn fields(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

async fn register(
    State(state): State<AppState>,
    caller: Caller,
    session: Session,
    who: ClientInfo,
    body: String,
) -> Response {
    let Some(user_id) = person(&caller) else { return to_login() };
    let result = async {
        let form = fields(&body);
        let scopes: Vec<&str> = form.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.as_str()).collect();
        if scopes.is_empty() {
            return Err(AppError::Invalid("Choose at least one scope the app may ask for.".into()));
        }
        let confidential = field(&form, "kind") != "public";
        let new = clients::NewClient::parse(
            field(&form, "name"),
            &lines(field(&form, "redirect_uris")),
            &lines(field(&form, "post_logout_redirect_uris")),
            confidential,
            &scopes.join(" "),
            field(&form, "allowed_ips"),
        )?
        .with_backchannel_logout(
            field(&form, "backchannel_logout_uri"),
            field(&form, "backchannel_logout_session_required") == "true",
        )?
        .with_id_token_alg(field(&form, "id_token_signed_response_alg"))?
        .with_par_required(field(&form, "require_pushed_authorization_requests") == "true");
        let created = registered::register(&state, &user_id, new, &who).await?;
        if let Some(secret) = &created.client_secret {
            keep_fresh(&state, &session, &user_id, &created.client_id, &created.client_name, secret).await?;
        }
        Ok(())
    }
    .await;
    back("developer-apps", result)
}

async fn keep_fresh(
    state: &AppState,
    session: &Session,
    user_id: &str,
    client_id: &str,
    name: &str,
    secret: &str,
) -> Result<(), AppError> {
    let fresh = Fresh {
        client_id: client_id.to_owned(),
        name: name.to_owned(),
        sealed: state.sealer.seal(Purpose::FreshClientSecret, user_id, secret.as_bytes()),
        expires_at: clock::now() + FRESH_SECS,
    };
    session.insert(FRESH_KEY, fresh).await.map_err(AppError::internal)
}

#[derive(Deserialize)]
struct ClientForm {
    client_id: String,
}

async fn revoke(State(state): State<AppState>, caller: Caller, who: ClientInfo, body: String) -> Response {
    let Some(user_id) = person(&caller) else { return to_login() };
    let result = async {
        let form: ClientForm = serde_urlencoded_form(&body)?;
        match grants::revoke_app(&state, &user_id, &form.client_id, &who).await? {
            true => Ok(()),
            false => Err(AppError::NotFound),
        }
    }
    .await;
    back("authorized-apps", result)
}

/// Deletes one of the person's apps, with every code, token and consent issued to it.
async fn delete(State(state): State<AppState>, caller: Caller, who: ClientInfo, body: String) -> Response {
    let Some(user_id) = person(&caller) else { return to_login() };
    let result = async {
        let form: ClientForm = serde_urlencoded_form(&body)?;
        registered::delete(&state, &user_id, &form.client_id, &who).await
    }
    .await;
    back("developer-apps", result)
}

/// A new secret for one of the person's confidential apps; the old one stops working at once.
async fn new_secret_for(State(state): State<AppState>, caller: Caller, session: Session, body: String) -> Response {
    let Some(user_id) = person(&caller) else { return to_login() };
    let result = async {
        let form: ClientForm = serde_urlencoded_form(&body)?;
        let (client, secret) = registered::new_secret(&state, &user_id, &form.client_id).await?;
        keep_fresh(&state, &session, &user_id, &client.id, &client.name, &secret).await
    }
    .await;
    back("developer-apps", result)
}

async fn dismiss(caller: Caller, session: Session) -> Response {
    if person(&caller).is_none() {
        return to_login();
    }
    let result = session.remove::<Fresh>(FRESH_KEY).await.map(drop).map_err(AppError::internal);
    back("developer-apps", result)
}

fn serde_urlencoded_form<T: for<'de> Deserialize<'de>>(body: &str) -> Result<T, AppError> {
    let fields = fields(body);
    let value: serde_json::Map<String, serde_json::Value> =
        fields.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect();
    serde_json::from_value(serde_json::Value::Object(value))
        .map_err(|_| AppError::Invalid("The form is incomplete.".into()))
}
