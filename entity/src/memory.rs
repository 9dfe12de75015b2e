use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{MemoryCategory, MemorySource};

/// A long-term memory: something about the user worth knowing in later conversations.
/// (Serialisable for events between replicas, which carry everything but the vector.)
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "memories")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    pub category: MemoryCategory,
    /// 0.0 (trivia) to 1.0 (must never be forgotten).
    pub importance: f64,
    pub source: MemorySource,
    /// The message it was learned from, when it came from a conversation.
    pub source_message_id: Option<Uuid>,
    /// Little-endian f32 vector; SQL is the source of truth the vector index is rebuilt from.
    #[sea_orm(column_type = "VarBinary(StringLen::None)")]
    #[serde(skip)]
    pub embedding: Option<Vec<u8>>,
    pub embedding_model: Option<String>,
    pub embedding_dim: Option<i32>,
    /// When the fact became true (defaults to when it was learned).
    pub valid_from: DateTimeUtc,
    /// When the fact stopped being true; `None` while it holds.
    pub valid_to: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The user's memories that still hold (not retired): what search, context and listings see.
    /// The one place that says what "live" means.
    pub fn find_live(user_id: Uuid) -> Select<Entity> {
        Self::find().filter(Column::UserId.eq(user_id)).filter(Column::ValidTo.is_null())
    }
}
