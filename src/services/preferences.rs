//! Preferences: key/value settings about how the user wants to be helped. Explicit ones (set by
//! the user) carry full confidence and always win over inferred ones.

use entity::enums::PreferenceSource;
use entity::{preference, prelude::*};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use super::{new_id, now, validate};
use crate::error::{AppError, AppResult};

pub const MAX_VALUE_CHARS: usize = 1000;

/// Keys are identifiers (`response_length`, `diet`), compared case-insensitively.
pub fn normalise_key(key: &str) -> AppResult<String> {
    let key = key.trim().to_lowercase();
    let valid = !key.is_empty()
        && key.len() <= 64
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(key)
    } else {
        Err(AppError::bad_input(
            "key must be 1-64 characters of letters, digits, '_', '.' or '-' (for example `response_length`)",
        ))
    }
}

/// Sets an explicit preference, replacing whatever was there (inferred or not).
pub async fn set_explicit(
    db: &DatabaseConnection,
    user_id: Uuid,
    key: &str,
    value: &str,
) -> AppResult<preference::Model> {
    let key = normalise_key(key)?;
    let value = validate::required_text("value", value, MAX_VALUE_CHARS)?;
    let now = now();
    let row = preference::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user_id),
        key: Set(key.clone()),
        value: Set(value),
        source: Set(PreferenceSource::Explicit),
        confidence: Set(1.0),
        evidence_count: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    // One statement, so two concurrent sets of the same key cannot collide on the unique index.
    Preference::insert(row)
        .on_conflict(
            OnConflict::columns([preference::Column::UserId, preference::Column::Key])
                .update_columns([
                    preference::Column::Value,
                    preference::Column::Source,
                    preference::Column::Confidence,
                    preference::Column::UpdatedAt,
                ])
                .value(
                    preference::Column::EvidenceCount,
                    Expr::col((preference::Entity, preference::Column::EvidenceCount)).add(1),
                )
                .to_owned(),
        )
        .exec(db)
        .await?;
    find(db, user_id, &key).await?.ok_or_else(|| anyhow::anyhow!("preference {key} vanished after upsert").into())
}

pub async fn find(db: &DatabaseConnection, user_id: Uuid, key: &str) -> AppResult<Option<preference::Model>> {
    Ok(Preference::find()
        .filter(preference::Column::UserId.eq(user_id))
        .filter(preference::Column::Key.eq(key))
        .one(db)
        .await?)
}

/// The caller's preferences in key order.
pub async fn list(db: &DatabaseConnection, user_id: Uuid) -> AppResult<Vec<preference::Model>> {
    Ok(Preference::find()
        .filter(preference::Column::UserId.eq(user_id))
        .order_by_asc(preference::Column::Key)
        .all(db)
        .await?)
}

pub async fn delete(db: &DatabaseConnection, user_id: Uuid, key: &str) -> AppResult<()> {
    let key = normalise_key(key)?;
    let deleted = Preference::delete_many()
        .filter(preference::Column::UserId.eq(user_id))
        .filter(preference::Column::Key.eq(key))
        .exec(db)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(AppError::NotFound("preference"));
    }
    Ok(())
}
