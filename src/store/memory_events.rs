//! The memory changes `memoryEvents` subscribers receive, as they travel between replicas on the
//! pub/sub bus.

use entity::memory;
use uuid::Uuid;

/// What happened to a memory, for `memoryEvents`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MemoryEventKind {
    Added,
    Updated,
    Removed,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct MemoryEvent {
    pub user_id: Uuid,
    pub kind: MemoryEventKind,
    /// The memory as it is now (for `Removed`: as it was last); between replicas without its
    /// vector.
    pub memory: memory::Model,
}

impl crate::store::pubsub::UserEvent for MemoryEvent {
    fn user_id(&self) -> Uuid {
        self.user_id
    }
}
