//! Stores that hold nothing SQL could not rebuild: the short-term conversation window
//! (Redis or in-process) and the per-user memory search index (usearch + keywords).

pub mod memory_index;
pub mod short_term;

pub use short_term::{InProcessStore, RedisStore, ShortTermStore, Turn, WindowPolicy};
