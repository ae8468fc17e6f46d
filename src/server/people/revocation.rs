//! Ending what can act for a person: one place that says what "every credential" and "everything that session made"
//! mean, used by a password reset, an administrator's disable and "this wasn't me". It runs in the caller's
//! transaction, so the change and its ending commit together; the caller then drops them from the caches
//! ([`Ended::forget`]).

use crate::server::platform::{
    cache::AuthCache,
    db::{Exec, on},
};

/// What to end.
#[derive(Clone, Copy, Debug)]
pub enum Which<'a> {
    /// Every session, personal access token and app authorization of the person, with the codes and device
    /// approvals not yet exchanged, and their consents (an app must ask again).
    Everything,
    /// The session `id`, the tokens made in it (and the tokens those made), and the app authorizations granted in
    /// it — also those that outlive it (`offline_access`) — with its codes and device approvals not yet exchanged.
    Session(&'a str),
}

/// What was ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ended {
    pub sessions: u64,
    /// The ids of the personal access tokens revoked.
    pub tokens: Vec<String>,
    pub app_authorizations: u64,
}

impl Ended {
    /// Drops what ended from this instance's caches and every other's.
    pub fn forget(&self, cache: &AuthCache, user_id: &str) {
        cache.forget_user(user_id);
        for id in &self.tokens {
            cache.forget_token(id);
        }
    }
}

/// Ends `which` of `user_id`'s credentials in the caller's transaction.
pub async fn end(tx: Exec<'_>, user_id: &str, which: Which<'_>) -> Result<Ended, sqlx::Error> {
    on!(tx, conn => {
        let ended = match which {
            Which::Everything => {
                let app_authorizations = sqlx::query("DELETE FROM oauth_authorizations WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                sqlx::query("DELETE FROM oauth_codes WHERE user_id = $1").bind(user_id).execute(&mut *conn).await?;
                sqlx::query("DELETE FROM oauth_device_codes WHERE approved_by = $1 AND used_at IS NULL")
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("DELETE FROM oauth_consents WHERE user_id = $1").bind(user_id).execute(&mut *conn).await?;
                let tokens: Vec<String> = sqlx::query_scalar("DELETE FROM api_tokens WHERE user_id = $1 RETURNING id")
                    .bind(user_id)
                    .fetch_all(&mut *conn)
                    .await?;
                let sessions = sqlx::query("DELETE FROM user_sessions WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                Ended { sessions, tokens, app_authorizations }
            }
            Which::Session(session_id) => {
                let app_authorizations = sqlx::query(
                    "DELETE FROM oauth_authorizations WHERE user_id = $1 AND (session_id = $2 OR granted_in = $2)",
                )
                .bind(user_id)
                .bind(session_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                sqlx::query("DELETE FROM oauth_codes WHERE user_id = $1 AND session_id = $2")
                    .bind(user_id)
                    .bind(session_id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("DELETE FROM oauth_device_codes WHERE approved_by = $1 AND session_id = $2 AND used_at IS NULL")
                    .bind(user_id)
                    .bind(session_id)
                    .execute(&mut *conn)
                    .await?;
                // The tokens made in the session, and every token those made (a child is revoked with its parent).
                let tokens: Vec<String> = sqlx::query_scalar(
                    "WITH RECURSIVE family (id) AS (
                         SELECT id FROM api_tokens WHERE session_id = $1 AND user_id = $2
                         UNION ALL SELECT t.id FROM api_tokens t JOIN family f ON t.parent_id = f.id
                     ) SELECT id FROM family",
                )
                .bind(session_id)
                .bind(user_id)
                .fetch_all(&mut *conn)
                .await?;
                sqlx::query("DELETE FROM api_tokens WHERE session_id = $1 AND user_id = $2")
                    .bind(session_id)
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?;
                let sessions = sqlx::query("DELETE FROM user_sessions WHERE id = $1 AND user_id = $2")
                    .bind(session_id)
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                Ended { sessions, tokens, app_authorizations }
            }
        };
        Ok::<_, sqlx::Error>(ended)
    })
}
