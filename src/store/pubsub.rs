//! Events every replica's subscribers should see (memory changes for `memoryEvents`). In one
//! process a broadcast channel is enough; with Redis, each event is also published on a channel
//! and every replica relays what the others publish to its own subscribers.

use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;
use uuid::Uuid;

#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope<T> {
    /// The process that published it (it already delivered it locally).
    origin: Uuid,
    event: T,
}

pub struct EventBus<T> {
    local: broadcast::Sender<T>,
    redis: Option<(redis::aio::ConnectionManager, String)>,
    origin: Uuid,
}

impl<T> EventBus<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
{
    /// Events of this process only.
    pub fn in_process() -> Self {
        let (local, _) = broadcast::channel(256);
        Self { local, redis: None, origin: Uuid::new_v4() }
    }

    /// Events of every replica that shares the Redis `channel`.
    pub async fn with_redis(url: &str, channel: String) -> anyhow::Result<Self> {
        let mut bus = Self::in_process();
        let client = redis::Client::open(url).context("REDIS_URL is not a valid Redis URL")?;
        let publisher = tokio::time::timeout(Duration::from_secs(10), client.get_connection_manager())
            .await
            .context("timed out connecting to Redis")?
            .context("could not connect to Redis")?;
        tokio::spawn(relay(client, channel.clone(), bus.origin, bus.local.clone()));
        bus.redis = Some((publisher, channel));
        Ok(bus)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<T> {
        self.local.subscribe()
    }

    pub fn subscribers(&self) -> usize {
        self.local.receiver_count()
    }

    /// Delivers to this process's subscribers at once, and to the other replicas through Redis.
    pub async fn publish(&self, event: T) {
        let envelope = self.redis.as_ref().map(|_| Envelope { origin: self.origin, event: event.clone() });
        // No subscriber is not an error.
        let _ = self.local.send(event);
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
async fn relay<T>(client: redis::Client, channel: String, origin: Uuid, local: broadcast::Sender<T>)
where
    T: DeserializeOwned + Send + 'static,
{
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
                            Ok(envelope) if envelope.origin != origin => {
                                let _ = local.send(envelope.event);
                            }
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
