//! Stores that hold nothing SQL could not rebuild: the short-term conversation window
//! (Redis or in-process), the per-user memory search index (usearch + keywords), and the event
//! bus that carries memory changes to every replica's subscribers.

pub mod events;
pub mod memory_index;
pub mod short_term;

pub use short_term::{InProcessStore, RedisStore, ShortTermStore, Turn, WindowPolicy};
