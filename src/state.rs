//! What every request can reach: the parts the composition root (`startup`) put together. It
//! names only what lies below the services, so every service can take it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, Secret};
use crate::embed::Embedder;
use crate::llm::AnthropicClient;
use crate::store::ShortTermStore;
use crate::store::access_events::AccessEvent;
use crate::store::memory_events::MemoryEvent;
use crate::store::pubsub::EventBus;
use crate::store::search_index::MemoryIndex;
use crate::store::user_locks::UserLocks;

/// Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub short_term: Arc<dyn ShortTermStore>,
    pub config: Arc<Config>,
    /// `ADMIN_TOKEN`, or a random one made for this run.
    pub admin_token: Secret,
    pub llm: AnthropicClient,
    pub embedder: Arc<dyn Embedder>,
    /// Per-user search shards over long-term memories, kept in step with SQL.
    pub memory_index: Arc<MemoryIndex>,
    /// Memory changes, for `memoryEvents` (of every replica, with Redis).
    pub memory_events: Arc<EventBus<MemoryEvent>>,
    /// Keys revoked and users deleted, so open connections close (on every replica, with Redis).
    pub access_events: Arc<EventBus<AccessEvent>>,
    /// Learning from one user's messages happens one message at a time.
    pub learning_locks: Arc<UserLocks>,
    pub lifecycle: Lifecycle,
}

/// The replica's life: serving, then, after SIGTERM, draining: not ready any more (`/readyz`
/// answers 503 so the platform routes elsewhere), no new answers, the running ones given the
/// grace period and then ended (retryable, partial kept).
#[derive(Clone, Default)]
pub struct Lifecycle {
    draining: Arc<AtomicBool>,
    /// The answers streaming now.
    pub turns: TaskTracker,
    /// Cancelled when the grace period is over: the answers still running end.
    pub ending: CancellationToken,
    /// Cancelled once the answers are done: open WebSockets close with 1001 (going away) and
    /// event streams end, so clients reconnect to another replica.
    pub closing: CancellationToken,
    /// The open WebSockets, waited for (briefly) before the process exits.
    pub sockets: TaskTracker,
}

impl Lifecycle {
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.turns.close();
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
