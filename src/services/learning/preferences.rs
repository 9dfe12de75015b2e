//! Preferences: key/value settings about how the user wants to be helped. Explicit ones (set by
//! the user, or an inferred one the user confirmed) carry full confidence and always win over
//! inferred ones.
//!
//! Inferred preferences come from what users say (rules, Claude's extraction) with a strength
//! in 0..1. Agreeing evidence combines like independent signals (noisy-OR:
//! c ← 1 − (1 − c)(1 − w)); contradicting evidence first lowers confidence (c ← c·(1 − w)) and
//! replaces the value once it is stronger than what is left. Values that end (replaced,
//! rejected, deleted) are kept in the preference history; a rejected value is never inferred
//! again.

use chrono::{DateTime, Utc};
use entity::enums::{PreferenceChange, PreferenceSource};
use entity::{preference, preference_history, prelude::*};
use sea_orm::sea_query::{Expr, ExprTrait as _, Func, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::db::{begin_write, lock_user, new_id, now};
use crate::error::{AppError, AppResult};
use crate::services::validate;

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
    if let Some(old) = find(db, user_id, &key).await?
        && old.value != value
    {
        keep_value(db, &old, PreferenceChange::Replaced, now).await?;
    }
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

pub async fn find(db: &impl ConnectionTrait, user_id: Uuid, key: &str) -> AppResult<Option<preference::Model>> {
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

/// Deletes a preference (its value stays in the history).
pub async fn delete(db: &DatabaseConnection, user_id: Uuid, key: &str) -> AppResult<()> {
    end(db, user_id, key, PreferenceChange::Deleted).await
}

/// The user says an inferred preference is wrong: it goes, and that value is not inferred again.
pub async fn reject(db: &DatabaseConnection, user_id: Uuid, key: &str) -> AppResult<()> {
    end(db, user_id, key, PreferenceChange::Rejected).await
}

async fn end(db: &DatabaseConnection, user_id: Uuid, key: &str, change: PreferenceChange) -> AppResult<()> {
    let key = normalise_key(key)?;
    let txn = begin_write(db).await?;
    let old = find(&txn, user_id, &key).await?.ok_or(AppError::NotFound("preference"))?;
    keep_value(&txn, &old, change, now()).await?;
    Preference::delete_by_id(old.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// The user says an inferred preference is right: it becomes theirs (explicit, confidence 1).
pub async fn confirm(db: &DatabaseConnection, user_id: Uuid, key: &str) -> AppResult<preference::Model> {
    let key = normalise_key(key)?;
    let old = find(db, user_id, &key).await?.ok_or(AppError::NotFound("preference"))?;
    let mut active: preference::ActiveModel = old.into();
    active.source = Set(PreferenceSource::Explicit);
    active.confidence = Set(1.0);
    active.updated_at = Set(now());
    Ok(active.update(db).await?)
}

/// Adds a piece of evidence for `key = value` of strength `strength` (0..1). Explicit
/// preferences are never overridden; rejected values are ignored. Returns the preference as it
/// now stands, if there is one.
pub async fn infer(
    db: &DatabaseConnection,
    user_id: Uuid,
    key: &str,
    value: &str,
    strength: f64,
) -> AppResult<Option<preference::Model>> {
    let txn = begin_write(db).await?;
    lock_user(&txn, user_id).await?;
    let stored = infer_in(&txn, user_id, key, value, strength).await?;
    txn.commit().await?;
    Ok(stored)
}

/// [`infer`] inside the caller's transaction (which holds the user's lock).
pub async fn infer_in(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
    key: &str,
    value: &str,
    strength: f64,
) -> AppResult<Option<preference::Model>> {
    let key = normalise_key(key)?;
    let value = validate::required_text("value", value, MAX_VALUE_CHARS)?;
    let strength = strength.clamp(0.0, 0.95);
    let was_rejected = PreferenceHistory::find()
        .filter(preference_history::Column::UserId.eq(user_id))
        .filter(preference_history::Column::Key.eq(&key))
        .filter(preference_history::Column::Change.eq(PreferenceChange::Rejected))
        .filter(Func::lower(Expr::col(preference_history::Column::Value)).eq(value.to_lowercase()))
        .one(txn)
        .await?
        .is_some();
    if was_rejected {
        return find(txn, user_id, &key).await;
    }
    let now = now();
    let stored = match find(txn, user_id, &key).await? {
        None => Some(
            preference::ActiveModel {
                id: Set(new_id()),
                user_id: Set(user_id),
                key: Set(key.clone()),
                value: Set(value),
                source: Set(PreferenceSource::Inferred),
                confidence: Set(strength),
                evidence_count: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?,
        ),
        Some(old) if old.value.eq_ignore_ascii_case(&value) => {
            let confidence = if old.source == PreferenceSource::Explicit {
                1.0
            } else {
                1.0 - (1.0 - old.confidence) * (1.0 - strength)
            };
            let count = old.evidence_count + 1;
            let mut active: preference::ActiveModel = old.into();
            active.confidence = Set(confidence);
            active.evidence_count = Set(count);
            active.updated_at = Set(now);
            Some(active.update(txn).await?)
        }
        // What the user set stands until they change it.
        Some(old) if old.source == PreferenceSource::Explicit => Some(old),
        Some(old) => {
            let weakened = old.confidence * (1.0 - strength);
            if strength > weakened {
                keep_value(txn, &old, PreferenceChange::Replaced, now).await?;
                let mut active: preference::ActiveModel = old.into();
                active.value = Set(value);
                active.source = Set(PreferenceSource::Inferred);
                active.confidence = Set(strength);
                active.evidence_count = Set(1);
                active.updated_at = Set(now);
                Some(active.update(txn).await?)
            } else {
                let mut active: preference::ActiveModel = old.into();
                active.confidence = Set(weakened);
                active.updated_at = Set(now);
                Some(active.update(txn).await?)
            }
        }
    };
    Ok(stored)
}

async fn keep_value(
    db: &impl ConnectionTrait,
    old: &preference::Model,
    change: PreferenceChange,
    now: DateTime<Utc>,
) -> AppResult<()> {
    preference_history::ActiveModel {
        id: Set(new_id()),
        user_id: Set(old.user_id),
        key: Set(old.key.clone()),
        value: Set(old.value.clone()),
        source: Set(old.source),
        confidence: Set(old.confidence),
        change: Set(change),
        valid_from: Set(old.updated_at),
        valid_to: Set(now),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Former values of the caller's preferences (of one key, or all), oldest first.
pub async fn history(
    db: &DatabaseConnection,
    user_id: Uuid,
    key: Option<&str>,
    last: u64,
) -> AppResult<Vec<preference_history::Model>> {
    let mut select = PreferenceHistory::find().filter(preference_history::Column::UserId.eq(user_id));
    if let Some(key) = key {
        select = select.filter(preference_history::Column::Key.eq(normalise_key(key)?));
    }
    let mut rows = select.order_by_desc(preference_history::Column::Id).limit(last).all(db).await?;
    rows.reverse();
    Ok(rows)
}
