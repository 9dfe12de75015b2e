//! The domain: what the assistant does, free of HTTP and GraphQL. Every function that touches a
//! user's data takes the caller's user id and scopes its SQL by it, so another user's row reads
//! exactly like a missing one.

pub mod auth;
pub mod chat;
pub mod context;
pub mod conversations;
pub mod extraction;
pub mod memories;
pub mod page;
pub mod patterns;
pub mod preferences;
pub mod retrieval;
pub mod validate;

use chrono::{DateTime, SubsecRound, Utc};

/// The current time at the precision every database keeps (microseconds), so a value read back
/// equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A new time-ordered id: ordering by id is ordering by creation, which keyset pagination uses.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}
