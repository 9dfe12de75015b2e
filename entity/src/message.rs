use sea_orm::entity::prelude::*;

use crate::enums::{MessageRole, MessageStatus};

/// One message of a conversation. `user_id` is denormalised from the conversation so that every
/// lookup can be scoped by the caller without a join.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub user_id: Uuid,
    pub role: MessageRole,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    pub status: MessageStatus,
    pub stop_reason: Option<String>,
    pub model: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_read_input_tokens: Option<i64>,
    pub cache_creation_input_tokens: Option<i64>,
    /// Error code when `status` is failed.
    pub error_code: Option<String>,
    /// What the context assembly used for this answer (memories, preferences), as JSON.
    pub context_used: Option<Json>,
    /// The memory tools Claude called while writing the answer (name, input, result), as JSON.
    pub tool_calls: Option<Json>,
    /// A user message's place among the user's messages, in the order they were stored
    /// (assistant messages have none): learning follows it.
    pub seq: Option<i64>,
    /// When learning from this user message was done (none yet: still to learn).
    pub learned_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
