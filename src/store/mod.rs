//! Stores that hold nothing SQL could not rebuild: the short-term conversation window
//! (Redis or in-process), the per-user memory search index (usearch + keywords, kept in step
//! with SQL), the pub/sub bus that carries memory changes and ended access to every replica's subscribers, and
//! per-user locks.

pub mod access_events;
pub mod memory_events;
pub mod pubsub;
pub mod search_index;
pub mod short_term;
pub mod user_locks;

pub use short_term::{Counter, InProcessStore, PersistedQueryPolicy, RedisStore, ShortTermStore, Turn, WindowPolicy};
