//! A user's access ending, as it travels between replicas on the pub/sub bus: the connections
//! that authenticated with the key (or any key of the user) close at once, wherever they are.

use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AccessEvent {
    /// One key of the user was revoked.
    KeyRevoked { user_id: Uuid, key_id: Uuid },
    /// The user and all their keys are gone.
    UserDeleted { user_id: Uuid },
}

impl AccessEvent {
    /// Whether a connection that authenticated with `key_id` loses its access.
    pub fn ends(&self, key_id: Uuid) -> bool {
        match self {
            Self::KeyRevoked { key_id: revoked, .. } => *revoked == key_id,
            Self::UserDeleted { .. } => true,
        }
    }
}

impl crate::store::pubsub::UserEvent for AccessEvent {
    fn user_id(&self) -> Uuid {
        match self {
            Self::KeyRevoked { user_id, .. } | Self::UserDeleted { user_id } => *user_id,
        }
    }
}
