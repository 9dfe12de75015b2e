//! Learned patterns (interests, activity, habits). Filled in by the learning service; here they
//! are only read.

use entity::{learned_pattern, prelude::*};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::error::AppResult;

/// The caller's patterns, the most certain first.
pub async fn list(db: &DatabaseConnection, user_id: Uuid) -> AppResult<Vec<learned_pattern::Model>> {
    Ok(LearnedPattern::find()
        .filter(learned_pattern::Column::UserId.eq(user_id))
        .order_by_desc(learned_pattern::Column::Confidence)
        .order_by_asc(learned_pattern::Column::Id)
        .all(db)
        .await?)
}
