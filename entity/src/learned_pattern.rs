use sea_orm::entity::prelude::*;

use crate::enums::PatternKind;

/// Something learned about how a user behaves, updated incrementally with each piece of evidence.
/// (`kind`, `key`) is unique per user.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "learned_patterns")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: PatternKind,
    pub key: String,
    #[sea_orm(column_type = "Text")]
    pub value: String,
    pub confidence: f64,
    /// The number behind the pattern: an interest's time-decayed score (as of `last_seen_at`), a
    /// habit's running average, a count.
    pub weight: f64,
    pub evidence_count: i32,
    pub first_seen_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
