use sea_orm::entity::prelude::*;

use crate::enums::PreferenceSource;

/// A user preference (`key` is unique per user).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "preferences")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub key: String,
    #[sea_orm(column_type = "Text")]
    pub value: String,
    pub source: PreferenceSource,
    /// 0.0 to 1.0; explicit preferences are 1.0.
    pub confidence: f64,
    pub evidence_count: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
