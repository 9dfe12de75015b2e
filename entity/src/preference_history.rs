use sea_orm::entity::prelude::*;

use crate::enums::{PreferenceChange, PreferenceSource};

/// A former value of a preference, kept when it was replaced, rejected or deleted.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "preference_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub key: String,
    #[sea_orm(column_type = "Text")]
    pub value: String,
    pub source: PreferenceSource,
    pub confidence: f64,
    pub change: PreferenceChange,
    /// The period during which this value held.
    pub valid_from: DateTimeUtc,
    pub valid_to: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
