//! The domain: what the assistant does, free of HTTP and GraphQL. Every function that touches a
//! user's data takes the caller's user id and scopes its SQL by it, so another user's row reads
//! exactly like a missing one.
//!
//! The folders follow a chat turn: `account` says who is calling, `chat` records the message,
//! assembles the context from `memory` and `learning`, streams Claude's answer and keeps it;
//! afterwards `learning` takes in what the message taught (memories, preferences, style,
//! patterns).

pub mod account;
pub mod chat;
pub mod learning;
pub mod memory;
pub mod validate;
