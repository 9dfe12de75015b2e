use sea_orm::entity::prelude::*;

use crate::enums::{MemoryCategory, MemoryChange};

/// A former version of a memory, kept when the memory was changed or retired.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "memory_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub memory_id: Uuid,
    pub user_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    pub category: MemoryCategory,
    pub importance: f64,
    pub change: MemoryChange,
    /// The period during which this version held.
    pub valid_from: DateTimeUtc,
    pub valid_to: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
