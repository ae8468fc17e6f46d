//! The server functions that list, create and revoke personal access tokens (the dashboard's), over
//! `server::tokens`.

use leptos::prelude::*;

use crate::model::{
    error::AppError,
    tokens::{CreatedToken, TokenList},
};

#[server(endpoint = "tokens/list")]
pub async fn list_tokens() -> Result<TokenList, AppError> {
    use crate::server::{people::tokens, web::context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        tokens::list_view(&state, &auth.user_id).await
    })
    .await
}

/// Creates a token. `expires_in_days` empty means "never" (refused unless the server allows it); `allowed_ips`
/// empty means "from anywhere".
#[server(endpoint = "tokens/create")]
pub async fn create_token(
    name: String,
    scopes: Vec<String>,
    expires_in_days: Option<u32>,
    allowed_ips: Option<String>,
) -> Result<CreatedToken, AppError> {
    use crate::server::{people::tokens, web::context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        let request = tokens::NewToken::parse(
            &name,
            scopes.iter().map(String::as_str),
            expires_in_days,
            state.config.tokens.allow_non_expiring,
            allowed_ips.as_deref().unwrap_or_default(),
        )?;
        let client = context::client_info().await;
        tokens::create(&state, &auth.user_id, request, &client, tokens::MintedBy::Session(&auth)).await
    })
    .await
}

/// Revokes every token the person holds.
#[server(endpoint = "tokens/revoke-all")]
pub async fn revoke_all_tokens() -> Result<u32, AppError> {
    use crate::server::{people::tokens, web::context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        tokens::revoke_all(&state, &auth.user_id, &context::client_info().await).await
    })
    .await
}

#[server(endpoint = "tokens/revoke")]
pub async fn revoke_token(id: String) -> Result<(), AppError> {
    use crate::server::{people::tokens, web::context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        tokens::revoke(&state, &auth.user_id, &id, &context::client_info().await).await
    })
    .await
}
