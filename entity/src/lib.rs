//! SeaORM entities: the SQL tables that are the source of truth for everything the assistant knows.
//!
//! Every user-owned table carries `user_id` so that each lookup can be scoped by the caller in SQL.
//! Ids are UUIDv7 (time-ordered), so ordering by id is ordering by creation and keyset cursors are
//! simply ids. Timestamps are UTC.

pub mod api_key;
pub mod claude_usage;
pub mod conversation;
pub mod enums;
pub mod learned_pattern;
pub mod memory;
pub mod memory_history;
pub mod message;
pub mod message_feedback;
pub mod preference;
pub mod preference_history;
pub mod style_dimension;
pub mod user;

pub mod prelude {
    pub use super::api_key::Entity as ApiKey;
    pub use super::claude_usage::Entity as ClaudeUsage;
    pub use super::conversation::Entity as Conversation;
    pub use super::learned_pattern::Entity as LearnedPattern;
    pub use super::memory::Entity as Memory;
    pub use super::memory_history::Entity as MemoryHistory;
    pub use super::message::Entity as Message;
    pub use super::message_feedback::Entity as MessageFeedback;
    pub use super::preference::Entity as Preference;
    pub use super::preference_history::Entity as PreferenceHistory;
    pub use super::style_dimension::Entity as StyleDimension;
    pub use super::user::Entity as User;
}
