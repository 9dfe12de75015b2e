use sea_orm::entity::prelude::*;

/// One dimension of a user's communication style (verbosity, formality, ...) as a Beta
/// distribution over 0..1: `alpha` counts evidence towards 1, `beta` towards 0 (priors included).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "style_dimensions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub alpha: f64,
    pub beta: f64,
    pub evidence_count: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
