//! The apps a person registered, as their developer manages them: registering one (at most
//! [`MAX_APPS_PER_PERSON`]), giving a confidential one a new secret, deleting one with every code, token and consent
//! issued to it. Only the app's owner reaches an app here; anyone else's id is not found.

use crate::model::error::AppError;
use crate::server::{
    oauth::{
        clients::{self, Client, ClientMetadata, NewClient},
        wire::{hash, new_secret as make_secret},
    },
    people::session::ClientInfo,
    platform::{clock, db::on},
    security::audit::{self, Event},
    state::AppState,
};

/// Apps one person may register.
pub const MAX_APPS_PER_PERSON: usize = 25;

/// Registers an app for `user_id`; the answer carries its secret (for a confidential one), once.
pub async fn register(
    state: &AppState,
    user_id: &str,
    new: NewClient,
    who: &ClientInfo,
) -> Result<ClientMetadata, AppError> {
    if clients::list(&state.db, Some(user_id)).await?.len() >= MAX_APPS_PER_PERSON {
        return Err(AppError::Conflict(format!("You can register at most {MAX_APPS_PER_PERSON} apps.")));
    }
    clients::create(&state.db, Some(user_id), new, who).await
}

/// Deletes one of the person's apps, with every code, token and consent issued to it.
pub async fn delete(state: &AppState, user_id: &str, client_id: &str, who: &ClientInfo) -> Result<(), AppError> {
    let client = clients::find(&state.db, client_id).await?.filter(|c| c.owner_id.as_deref() == Some(user_id));
    let client = client.ok_or(AppError::NotFound)?;
    // The authorizations go with the app (the cascade): forget them on every instance first.
    let authorizations: Vec<String> = on!(&state.db, pool => sqlx::query_scalar(
        "SELECT id FROM oauth_authorizations WHERE client_id = $1",
    )
    .bind(&client.id)
    .fetch_all(pool)
    .await)?;
    if !clients::remove(&state.db, &client.id, Some(user_id)).await? {
        return Err(AppError::NotFound);
    }
    for id in &authorizations {
        state.cache.forget_grant(id);
    }
    let detail = serde_json::json!({ "client": client.id, "name": client.name });
    audit::record_on(&state.db, Event::AppRemoved, Some(user_id), who, detail).await?;
    Ok(())
}

/// A new secret for one of the person's confidential apps; the old one stops working at once. Returns the app and
/// the secret, to be shown once.
pub async fn new_secret(state: &AppState, user_id: &str, client_id: &str) -> Result<(Client, String), AppError> {
    let client = clients::find(&state.db, client_id).await?.filter(|c| c.owner_id.as_deref() == Some(user_id));
    let client = client.filter(|c| c.is_confidential()).ok_or(AppError::NotFound)?;
    let secret = make_secret(clients::SECRET_PREFIX);
    on!(&state.db, pool => sqlx::query(
        "UPDATE oauth_clients SET secret_hash = $1, secret_created_at = $2 WHERE id = $3 AND owner_id = $4",
    )
    .bind(hash(&secret))
    .bind(clock::now())
    .bind(&client.id)
    .bind(user_id)
    .execute(pool)
    .await
    .map(drop))?;
    Ok((client, secret))
}
