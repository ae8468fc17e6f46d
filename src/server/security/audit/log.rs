//! Recording an [`Event`]: bounded details, appended to the hash chain in the caller's
//! transaction or a write of its own.

use serde_json::Value;

use crate::server::security::audit::chain;
use crate::server::security::audit::event::Event;
use crate::server::{
    people::session::ClientInfo,
    platform::{
        clock,
        db::{Db, Exec},
    },
};

/// Appends an event. `detail` must never hold a secret (codes, tokens, cookies).
pub async fn record(
    db: Exec<'_>,
    event: Event,
    user_id: Option<&str>,
    client: &ClientInfo,
    detail: Value,
) -> Result<(), sqlx::Error> {
    let detail = bounded(&detail);
    let event = chain::NewEvent {
        at: clock::now(),
        user_id,
        kind: event.as_str(),
        ip: client.ip.as_deref(),
        user_agent: client.user_agent.as_deref(),
        detail: &detail,
    };
    chain::append(db, event).await
}

/// The longest a detail may be, as stored.
const MAX_DETAIL_BYTES: usize = 2048;
/// The longest a text value in a detail may be: longer ones are cut (with `…`).
const MAX_TEXT_CHARS: usize = 256;

/// A detail as stored: text values cut to a few hundred characters, and the whole to 2 KB. Details hold ids, names
/// and reasons; anything longer came from somewhere it should not have, and is not worth keeping whole.
fn bounded(detail: &Value) -> String {
    fn cut(value: &Value) -> Value {
        match value {
            Value::String(text) if text.chars().count() > MAX_TEXT_CHARS => {
                Value::String(text.chars().take(MAX_TEXT_CHARS).chain(std::iter::once('…')).collect())
            }
            Value::Array(items) => Value::Array(items.iter().take(32).map(cut).collect()),
            Value::Object(fields) => Value::Object(fields.iter().take(32).map(|(k, v)| (k.clone(), cut(v))).collect()),
            other => other.clone(),
        }
    }
    let text = cut(detail).to_string();
    if text.len() <= MAX_DETAIL_BYTES { text } else { serde_json::json!({ "truncated": true }).to_string() }
}

/// [`record`] in a transaction of its own, for an event that is not part of another: the chain is extended by one
/// writer at a time, under a lock held to the end of a transaction.
pub async fn record_on(
    db: &Db,
    event: Event,
    user_id: Option<&str>,
    client: &ClientInfo,
    detail: Value,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    record(tx.as_exec(), event, user_id, client, detail).await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_kind_is_listed_once() {
        let mut kinds: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), Event::ALL.len());
    }

    #[test]
    fn details_are_kept_small_whatever_they_are_given() {
        let small = json!({ "provider": "github", "reason": "invalid_state" });
        assert_eq!(bounded(&small), small.to_string(), "ordinary details are kept as they are");
        let long = bounded(&json!({ "provider": "x".repeat(60_000) }));
        assert!(long.len() < 300 && long.contains('…'), "{long}");
        let many =
            json!((0..1000).map(|i| (format!("k{i}"), json!("v".repeat(200)))).collect::<serde_json::Map<_, _>>());
        assert!(bounded(&many).len() <= MAX_DETAIL_BYTES);
    }
}
