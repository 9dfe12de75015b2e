//! Events for one user that every replica's subscribers of that user should see (memory changes
//! for `memoryEvents`, a key revoked or a user deleted for the open connections). Each user has a
//! channel of their own in each process, made when the first subscriber comes and dropped with the
//! last, so a subscriber never sees (nor waits behind) another user's events. With Redis, each
//! event is also published on one channel per deployment, and every replica routes what the others
//! publish to its own subscribers of that user.
//!
//! A user's channel holds [`PER_USER_BACKLOG`] events. A subscriber that falls further behind
//! gets [`Lagged`] once instead of the events it missed (it has to catch up by reading again),
//! and only that subscriber: the others, of that user or any other, lose nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Events one user's channel keeps for a subscriber that has not read them yet.
pub const PER_USER_BACKLOG: usize = 256;

/// An event that belongs to one user.
pub trait UserEvent: Clone + Serialize + DeserializeOwned + Send + 'static {
    fn user_id(&self) -> Uuid;
}

/// A subscriber fell behind and missed this many events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged(pub u64);

#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope<T> {
    /// The process that published it (it already delivered it locally).
    origin: Uuid,
    event: T,
}

type Channels<T> = Arc<Mutex<HashMap<Uuid, broadcast::Sender<T>>>>;

pub struct EventBus<T> {
    channels: Channels<T>,
    redis: Option<(redis::aio::ConnectionManager, String)>,
    origin: Uuid,
}

/// One subscriber's events of one user.
pub struct Subscription<T: UserEvent> {
    user_id: Uuid,
    receiver: broadcast::Receiver<T>,
    channels: Channels<T>,
}

impl<T: UserEvent> Subscription<T> {
    /// The next event; `Err(Lagged)` once when events were missed, after which the subscriber
    /// continues with the oldest event still kept.
    pub async fn recv(&mut self) -> Result<T, Lagged> {
        loop {
            match self.receiver.recv().await {
                Ok(event) => return Ok(event),
                Err(broadcast::error::RecvError::Lagged(missed)) => return Err(Lagged(missed)),
                // The sender lives in the map while this receiver does: never closed first.
                Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }
}

impl<T: UserEvent> Drop for Subscription<T> {
    fn drop(&mut self) {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        // This receiver is still counted: it is the last one when the count is 1.
        if channels.get(&self.user_id).is_some_and(|sender| sender.receiver_count() <= 1) {
            channels.remove(&self.user_id);
        }
    }
}

fn deliver<T: UserEvent>(channels: &Channels<T>, event: T) {
    let channels = channels.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(sender) = channels.get(&event.user_id()) {
        // No subscriber left is not an error.
        let _ = sender.send(event);
    }
}

impl<T: UserEvent> EventBus<T> {
    /// Events of this process only.
    pub fn in_process() -> Self {
        Self { channels: Arc::default(), redis: None, origin: Uuid::new_v4() }
    }

    /// Events of every replica that shares the Redis `channel`.
    pub async fn with_redis(url: &str, channel: String) -> anyhow::Result<Self> {
        let mut bus = Self::in_process();
        let client = redis::Client::open(url).context("REDIS_URL is not a valid Redis URL")?;
        let publisher = tokio::time::timeout(Duration::from_secs(10), client.get_connection_manager())
            .await
            .context("timed out connecting to Redis")?
            .context("could not connect to Redis")?;
        tokio::spawn(relay(client, channel.clone(), bus.origin, bus.channels.clone()));
        bus.redis = Some((publisher, channel));
        Ok(bus)
    }

    /// The events of `user_id` from now on.
    pub fn subscribe(&self, user_id: Uuid) -> Subscription<T> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let receiver = channels.entry(user_id).or_insert_with(|| broadcast::channel(PER_USER_BACKLOG).0).subscribe();
        Subscription { user_id, receiver, channels: self.channels.clone() }
    }

    /// Subscribers of every user in this process.
    pub fn subscribers(&self) -> usize {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        channels.values().map(broadcast::Sender::receiver_count).sum()
    }

    /// Delivers to this process's subscribers of the event's user at once, and to the other
    /// replicas through Redis.
    pub async fn publish(&self, event: T) {
        let envelope = self.redis.as_ref().map(|_| Envelope { origin: self.origin, event: event.clone() });
        deliver(&self.channels, event);
        if let (Some((connection, channel)), Some(envelope)) = (&self.redis, envelope) {
            let result = async {
                let payload = serde_json::to_string(&envelope)?;
                let mut connection = connection.clone();
                redis::cmd("PUBLISH").arg(channel).arg(payload).query_async::<i64>(&mut connection).await?;
                anyhow::Ok(())
            }
            .await;
            if let Err(error) = result {
                tracing::warn!(error = format!("{error:#}"), "could not publish an event to the other replicas");
            }
        }
    }
}

/// Relays what other replicas publish to this process's subscribers, reconnecting when the
/// subscription drops.
async fn relay<T: UserEvent>(client: redis::Client, channel: String, origin: Uuid, channels: Channels<T>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    backoff = Duration::from_millis(200);
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let Ok(payload) = message.get_payload::<String>() else { continue };
                        match serde_json::from_str::<Envelope<T>>(&payload) {
                            Ok(envelope) if envelope.origin != origin => deliver(&channels, envelope.event),
                            Ok(_) => {}
                            Err(error) => tracing::warn!(%error, "an event from another replica could not be read"),
                        }
                    }
                    tracing::warn!("the Redis event subscription ended; reconnecting");
                }
                Err(error) => tracing::warn!(%error, "could not subscribe to Redis events; retrying"),
            },
            Err(error) => tracing::warn!(%error, "could not connect to Redis for events; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Event(Uuid, usize);

    impl UserEvent for Event {
        fn user_id(&self) -> Uuid {
            self.0
        }
    }

    #[tokio::test]
    async fn a_burst_to_one_user_costs_another_user_nothing() {
        let bus = EventBus::in_process();
        let (quiet, busy) = (Uuid::new_v4(), Uuid::new_v4());
        let mut unread = bus.subscribe(quiet);
        let mut slow = bus.subscribe(busy);
        for n in 0..PER_USER_BACKLOG * 4 {
            bus.publish(Event(busy, n)).await;
        }
        bus.publish(Event(quiet, 0)).await;
        assert_eq!(unread.recv().await, Ok(Event(quiet, 0)), "the quiet user's one event is there, not lost");
        // The busy user's slow subscriber is told what it missed, then goes on with what is kept.
        assert_eq!(slow.recv().await, Err(Lagged((PER_USER_BACKLOG * 3) as u64)));
        assert_eq!(slow.recv().await, Ok(Event(busy, PER_USER_BACKLOG * 3)));
    }

    #[tokio::test]
    async fn a_users_channel_goes_with_their_last_subscriber() {
        let bus = EventBus::<Event>::in_process();
        let user = Uuid::new_v4();
        let (first, second) = (bus.subscribe(user), bus.subscribe(user));
        assert_eq!(bus.subscribers(), 2);
        drop(first);
        assert_eq!(bus.channels.lock().unwrap().len(), 1);
        drop(second);
        assert!(bus.channels.lock().unwrap().is_empty());
    }
}
