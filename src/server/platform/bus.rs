//! Cache invalidation between instances on PostgreSQL. Every `forget_*` of the [`AuthCache`] (a session, token or
//! person changed) is published with `NOTIFY` on the channel `gatehouse_cache`; every instance `LISTEN`s and drops
//! the entries another instance's change made stale. So a revocation on one instance is refused by all of them at
//! their next request, not up to [`crate::server::platform::cache::REVALIDATE_AFTER`] later. SQLite runs one instance: no bus.
//!
//! A notification is delivered only to listeners connected when it is sent, so whenever the listening connection
//! is (re)established, the whole cache is dropped: nothing missed in between can be served.

use std::{sync::Arc, time::Duration};

use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::server::platform::{
    cache::{AuthCache, Forgotten},
    clock,
    db::Db,
};

const CHANNEL: &str = "gatehouse_cache";
/// How long to wait before listening again after the connection failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The bus of one instance: attached to its cache at start-up, run with the background tasks.
pub struct Bus {
    pool: PgPool,
    outbox: UnboundedReceiver<Forgotten>,
    /// This instance's name on the bus, so it skips its own notifications.
    instance: String,
}

impl Bus {
    /// On PostgreSQL, sends the cache's `forget_*` calls to the bus from now on. None on SQLite.
    pub fn attach(db: &Db, cache: &AuthCache) -> Option<Self> {
        let Db::Postgres(pool) = db else { return None };
        let (sender, outbox) = unbounded_channel();
        cache.publish_to(sender);
        Some(Self { pool: pool.clone(), outbox, instance: clock::new_id() })
    }

    /// Publishes this instance's changes and applies the others', until the task is stopped.
    pub async fn run(self, cache: Arc<AuthCache>) {
        let Self { pool, mut outbox, instance } = self;
        let publish = async {
            while let Some(forgotten) = outbox.recv().await {
                let payload = format!("{instance} {}", forgotten.encode());
                // NOTIFY takes no bind parameters; pg_notify does.
                let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(&payload).execute(&pool).await;
                if let Err(error) = sent {
                    // The others still see the change within REVALIDATE_AFTER.
                    tracing::warn!(%error, "could not notify the other instances of a change");
                }
            }
        };
        let listen = async {
            loop {
                match listen(&pool, &cache, &instance).await {
                    Ok(()) => {
                        tracing::warn!("lost the connection listening for other instances' changes; listening again")
                    }
                    Err(error) => tracing::warn!(%error, "listening for other instances' changes failed; retrying"),
                }
                tokio::time::sleep(RETRY_AFTER).await;
            }
        };
        tokio::join!(publish, listen);
    }
}

async fn listen(pool: &PgPool, cache: &AuthCache, instance: &str) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    // Listening from here on: whatever was cached before may be stale.
    cache.forget_everything();
    // `None`: the connection was lost. Listen again on a new one (which drops the cache again, once listening).
    while let Some(notification) = listener.try_recv().await? {
        let Some((from, change)) = notification.payload().split_once(' ') else { continue };
        if from != instance
            && let Some(forgotten) = Forgotten::decode(change)
        {
            cache.apply(&forgotten);
        }
    }
    Ok(())
}
