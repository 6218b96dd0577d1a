//! Notifications between instances on PostgreSQL (`LISTEN`/`NOTIFY`).
//!
//! A transaction that changes what servers cache or what the queue holds
//! calls `pg_notify` inside the transaction; PostgreSQL delivers the
//! notification to every listening instance when (and only if) it commits,
//! in commit order. SQLite has no such thing: its servers poll instead
//! (`server.poll_interval_ms`).

use sqlx::postgres::PgListener;

use super::{Invalidation, Pool, Store};
use crate::error::StoreError;

/// The channel herald notifies on.
pub(super) const CHANNEL: &str = "herald";

/// Something an instance changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The site revision moved (a publish, a key rotation).
    Site,
    /// One cached document changed without a publish.
    Invalidated(Invalidation),
    /// Delivery jobs were queued.
    Queued,
    /// The connection to the database was lost and is back: notifications
    /// may have been missed, so everything must be read afresh.
    Missed,
}

impl Event {
    pub(super) fn payload(&self) -> String {
        match self {
            Event::Site => "site".to_owned(),
            Event::Invalidated(invalidation) => format!("inv {}", invalidation.encode()),
            Event::Queued => "queue".to_owned(),
            Event::Missed => "missed".to_owned(),
        }
    }

    fn parse(payload: &str) -> Option<Self> {
        match payload.split_once(' ') {
            Some(("inv", key)) => Invalidation::decode(key).map(Event::Invalidated),
            None if payload == "site" => Some(Event::Site),
            None if payload == "queue" => Some(Event::Queued),
            None if payload == "missed" => Some(Event::Missed),
            _ => None,
        }
    }
}

/// The notifications of other instances (and this one's own).
#[derive(Debug)]
pub struct Events {
    listener: PgListener,
}

impl Events {
    /// Waits for the next event. After a lost connection it reconnects
    /// (waiting as long as the database is away) and answers
    /// [`Event::Missed`]; unknown payloads are skipped.
    pub async fn next(&mut self) -> Result<Event, StoreError> {
        loop {
            match self.listener.try_recv().await? {
                None => return Ok(Event::Missed),
                Some(notification) => {
                    if let Some(event) = Event::parse(notification.payload()) {
                        return Ok(event);
                    }
                    tracing::warn!(payload = notification.payload(), "unknown notification ignored");
                }
            }
        }
    }
}

impl Store {
    /// Listens for the notifications of every instance; `None` on SQLite,
    /// where servers poll.
    pub async fn listen(&self) -> Result<Option<Events>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else { return Ok(None) };
        // Its own connection, outside the store's pool: a listener holds
        // its connection for as long as it lives, and closing the store
        // must not wait for it.
        let own = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(pool.connect_options().as_ref().clone());
        let mut listener = PgListener::connect_with(&own).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(Events { listener }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_their_payload() {
        for event in [
            Event::Site,
            Event::Queued,
            Event::Missed,
            Event::Invalidated(Invalidation::Followers),
            Event::Invalidated(Invalidation::Note("urn:uuid:1".into())),
        ] {
            assert_eq!(Event::parse(&event.payload()), Some(event));
        }
        assert_eq!(Event::parse("nonsense"), None);
    }
}
