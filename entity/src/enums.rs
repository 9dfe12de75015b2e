//! Closed sets of values stored as short strings (portable between SQLite and PostgreSQL).
//! With the `graphql` feature they are also GraphQL enums, so the API and the table agree by
//! construction.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum MessageRole {
    /// Written by the user.
    #[sea_orm(string_value = "user")]
    User,
    /// Written by the assistant (Claude).
    #[sea_orm(string_value = "assistant")]
    Assistant,
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum MessageStatus {
    /// The assistant is still writing it.
    #[sea_orm(string_value = "streaming")]
    Streaming,
    /// Finished normally.
    #[sea_orm(string_value = "complete")]
    Complete,
    /// The model failed while writing it; the content is what arrived before the failure.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// The client went away (or the server stopped) while it was being written; the content is
    /// what arrived until then.
    #[sea_orm(string_value = "interrupted")]
    Interrupted,
}

/// What kind of thing a long-term memory records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum MemoryCategory {
    /// A fact about the user or their world ("works at a bakery").
    #[sea_orm(string_value = "fact")]
    Fact,
    /// Something the user likes or dislikes.
    #[sea_orm(string_value = "preference")]
    Preference,
    /// Something the user wants to achieve.
    #[sea_orm(string_value = "goal")]
    Goal,
    /// A person in the user's life and how they relate.
    #[sea_orm(string_value = "relationship")]
    Relationship,
    /// Something that happened or will happen at a point in time.
    #[sea_orm(string_value = "event")]
    Event,
    /// A standing condition that shapes what suits the user: health, mobility, diet, who they
    /// care for, how they get around ("type 2 diabetic", "doesn't own a car"). Weighed in every
    /// answer that gives advice, whether or not the request names it.
    #[sea_orm(string_value = "condition")]
    Condition,
    /// Anything else worth remembering.
    #[sea_orm(string_value = "other")]
    Other,
}

/// How a memory came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum MemorySource {
    /// The user asked to remember it (`remember`).
    #[sea_orm(string_value = "explicit")]
    Explicit,
    /// Extracted from a conversation by Claude.
    #[sea_orm(string_value = "extracted")]
    Extracted,
    /// Caught by a deterministic rule ("my name is ...").
    #[sea_orm(string_value = "rule")]
    Rule,
    /// Brought in from elsewhere by the user (`remember` with `source: IMPORTED`): a line of a
    /// chat with other people, a note from another app. Kept and searchable, but it says what
    /// someone wrote, not what the user stated about themselves, so retrieval ranks it below the
    /// user's own facts when both match.
    #[sea_orm(string_value = "imported")]
    Imported,
}

/// Why an old version of a memory was kept in its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum MemoryChange {
    /// The memory was changed; this was its content before.
    #[sea_orm(string_value = "updated")]
    Updated,
    /// The memory was retired (superseded or contradicted); this was its last content.
    #[sea_orm(string_value = "retired")]
    Retired,
}

/// Where a preference comes from. Explicit preferences always win over inferred ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum PreferenceSource {
    /// Set by the user (`setPreference`).
    #[sea_orm(string_value = "explicit")]
    Explicit,
    /// Inferred from what the user said.
    #[sea_orm(string_value = "inferred")]
    Inferred,
    /// Learned from how the user rated answers.
    #[sea_orm(string_value = "feedback")]
    Feedback,
}

/// A user's verdict on an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
pub enum Rating {
    /// A good answer: what it looked like (length, structure, examples) is reinforced in the
    /// style profile.
    #[sea_orm(string_value = "up")]
    Up,
    /// A poor answer: the reason given, if any, moves the style profile.
    #[sea_orm(string_value = "down")]
    Down,
}

/// Why a preference value ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum PreferenceChange {
    /// Another value replaced it (set by the user, or inferred from stronger evidence).
    #[sea_orm(string_value = "replaced")]
    Replaced,
    /// The user said this inferred value is wrong; it is not inferred again.
    #[sea_orm(string_value = "rejected")]
    Rejected,
    /// The user deleted the preference.
    #[sea_orm(string_value = "deleted")]
    Deleted,
}

/// The family a learned pattern belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum PatternKind {
    /// A topic the user keeps coming back to.
    #[sea_orm(string_value = "interest")]
    Interest,
    /// When the user is active (hour of day, weekday).
    #[sea_orm(string_value = "activity")]
    Activity,
    /// How the user converses (message length, conversation length, frequency).
    #[sea_orm(string_value = "habit")]
    Habit,
    /// Something the user asks for again and again.
    #[sea_orm(string_value = "recurring_request")]
    RecurringRequest,
}
