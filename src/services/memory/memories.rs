//! Long-term memories: things about the user worth knowing in later conversations.
//! Changes keep the former version in the memory's history. Every change increments the user's
//! memory revision in its transaction, then reaches this process's index shard and the
//! `memoryEvents` subscribers.

use chrono::{DateTime, Utc};
use entity::enums::{MemoryCategory, MemoryChange, MemorySource};
use entity::{memory, memory_history, prelude::*};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait as _, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::conditions;
use crate::db::page::{Order, Page, PageRequest, fetch_page};
use crate::db::{begin_write, new_id, now};
use crate::embed::{self, Embedder};
use crate::error::{AppError, AppResult};
use crate::services::validate;
use crate::state::AppState;
use crate::store::memory_events::{MemoryEvent, MemoryEventKind};
use crate::store::search_index::{Change, bump_revision};

pub const MAX_CONTENT_CHARS: usize = 2000;
pub const DEFAULT_IMPORTANCE: f64 = 0.5;

/// After a committed change: this process's index shard and the event subscribers learn of it.
async fn changed(state: &AppState, revision: i64, kind: MemoryEventKind, memory: memory::Model) {
    let change = match kind {
        MemoryEventKind::Removed => Change::Remove(memory.id),
        _ => Change::upsert(&memory, &state.embedder.info().name),
    };
    state.memory_index.applied(memory.user_id, revision, change).await;
    state.memory_events.publish(MemoryEvent { user_id: memory.user_id, kind, memory }).await;
}

pub struct NewMemory<'a> {
    pub content: &'a str,
    pub category: Option<MemoryCategory>,
    pub importance: Option<f64>,
    pub source: MemorySource,
    /// The message it was learned from, when it came from a conversation.
    pub source_message_id: Option<Uuid>,
}

/// A memory's vector as stored beside it: bytes, the model that made them, and their size.
/// `None` when the embedder failed; the memory is kept and its vector can be made later.
async fn embed(embedder: &dyn Embedder, content: &str) -> Option<(Vec<u8>, String, i32)> {
    match embedder.embed(&[content.to_owned()]).await {
        Ok(mut vectors) if vectors.len() == 1 => {
            let vector = vectors.remove(0);
            let info = embedder.info();
            Some((embed::to_bytes(&vector), info.name.clone(), vector.len() as i32))
        }
        Ok(_) => None,
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "could not embed a memory; stored without its vector");
            None
        }
    }
}

/// The source of a memory stored through `remember`: the user's own statement unless they say
/// it was imported. RULE and EXTRACTED describe the server's own learning, which a client cannot
/// claim.
pub fn source_for_remember(requested: Option<MemorySource>) -> AppResult<MemorySource> {
    match requested.unwrap_or(MemorySource::Explicit) {
        source @ (MemorySource::Explicit | MemorySource::Imported) => Ok(source),
        MemorySource::Rule | MemorySource::Extracted => Err(AppError::bad_input(
            "source must be EXPLICIT or IMPORTED (RULE and EXTRACTED are set by the server's own learning)",
        )),
    }
}

/// Stores a memory the user asked for. The same content twice gives back the memory already
/// stored rather than a duplicate.
pub async fn remember(state: &AppState, user_id: Uuid, new: NewMemory<'_>) -> AppResult<memory::Model> {
    let content = validate::required_text("content", new.content, MAX_CONTENT_CHARS)?;
    let importance = validate::unit_interval("importance", new.importance.unwrap_or(DEFAULT_IMPORTANCE))?;
    if let Some(existing) = find_same_content(&state.db, user_id, &content).await? {
        return Ok(existing);
    }
    let quota = state.config.limits.quotas.memories_per_user;
    if Memory::find_live(user_id).count(&state.db).await? >= quota {
        return Err(AppError::bad_input(format!(
            "you have {quota} memories, the most one user may keep (MAX_MEMORIES_PER_USER); forget some first"
        )));
    }
    let vector = embed(state.embedder.as_ref(), &content).await;
    let category = conditions::file_under(new.category, new.source, &content);
    let now = now();
    let txn = begin_write(&state.db).await?;
    let stored = memory::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user_id),
        content: Set(content),
        category: Set(category),
        importance: Set(importance),
        source: Set(new.source),
        source_message_id: Set(new.source_message_id),
        embedding: Set(vector.as_ref().map(|(bytes, _, _)| bytes.clone())),
        embedding_model: Set(vector.as_ref().map(|(_, model, _)| model.clone())),
        embedding_dim: Set(vector.as_ref().map(|(_, _, dim)| *dim)),
        valid_from: Set(now),
        valid_to: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let revision = bump_revision(&txn, user_id).await?;
    txn.commit().await?;
    changed(state, revision, MemoryEventKind::Added, stored.clone()).await;
    Ok(stored)
}

/// A live memory of the user with the same content, ignoring case.
async fn find_same_content(db: &DatabaseConnection, user_id: Uuid, content: &str) -> AppResult<Option<memory::Model>> {
    // `lower()` on both sides, so the comparison is the database's own on SQLite and PostgreSQL.
    Ok(Memory::find_live(user_id)
        .filter(ExprTrait::eq(Func::lower(Expr::col(memory::Column::Content)), Func::lower(Expr::val(content))))
        .one(db)
        .await?)
}

/// Filters for listing memories.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryFilter {
    pub category: Option<MemoryCategory>,
    /// Only memories created at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// The caller's live memories, newest first.
pub async fn list(
    db: &DatabaseConnection,
    user_id: Uuid,
    filter: MemoryFilter,
    page: PageRequest,
) -> AppResult<Page<memory::Model>> {
    let mut select = Memory::find_live(user_id);
    if let Some(category) = filter.category {
        select = select.filter(memory::Column::Category.eq(category));
    }
    if let Some(since) = filter.since {
        select = select.filter(memory::Column::CreatedAt.gte(since));
    }
    fetch_page(db, select, memory::Column::Id, Order::NewestFirst, page).await
}

pub async fn get(db: &DatabaseConnection, user_id: Uuid, id: Uuid) -> AppResult<memory::Model> {
    Memory::find_by_id(id).filter(memory::Column::UserId.eq(user_id)).one(db).await?.ok_or(AppError::NotFound("memory"))
}

pub struct MemoryChanges<'a> {
    pub content: Option<&'a str>,
    pub category: Option<MemoryCategory>,
    pub importance: Option<f64>,
}

/// Changes a memory, keeping the version it replaces in the history.
pub async fn update(state: &AppState, user_id: Uuid, id: Uuid, changes: MemoryChanges<'_>) -> AppResult<memory::Model> {
    let content = changes.content.map(|c| validate::required_text("content", c, MAX_CONTENT_CHARS)).transpose()?;
    let importance = changes.importance.map(|i| validate::unit_interval("importance", i)).transpose()?;
    if content.is_none() && changes.category.is_none() && importance.is_none() {
        return Err(AppError::bad_input("nothing to change: give content, category or importance"));
    }

    // Embed before the transaction, so no write lock is held while the model runs.
    let vector = match &content {
        Some(content) => embed(state.embedder.as_ref(), content).await,
        None => None,
    };
    let txn = begin_write(&state.db).await?;
    let old = live(&txn, user_id, id).await?;
    let now = now();
    keep_version(&txn, &old, MemoryChange::Updated, now).await?;

    let content_changed = content.as_ref().is_some_and(|c| *c != old.content);
    let mut active: memory::ActiveModel = old.into();
    if let Some(content) = content {
        active.content = Set(content);
    }
    if content_changed {
        // The stored vector described the old text.
        active.embedding = Set(vector.as_ref().map(|(bytes, _, _)| bytes.clone()));
        active.embedding_model = Set(vector.as_ref().map(|(_, model, _)| model.clone()));
        active.embedding_dim = Set(vector.as_ref().map(|(_, _, dim)| *dim));
    }
    if let Some(category) = changes.category {
        active.category = Set(category);
    }
    if let Some(importance) = importance {
        active.importance = Set(importance);
    }
    active.updated_at = Set(now);
    let updated = active.update(&txn).await?;
    let revision = bump_revision(&txn, user_id).await?;
    txn.commit().await?;
    changed(state, revision, MemoryEventKind::Updated, updated.clone()).await;
    Ok(updated)
}

/// One of the user's memories that still holds.
async fn live(db: &impl ConnectionTrait, user_id: Uuid, id: Uuid) -> AppResult<memory::Model> {
    Memory::find_live(user_id).filter(memory::Column::Id.eq(id)).one(db).await?.ok_or(AppError::NotFound("memory"))
}

/// Keeps the memory's current version in its history, as ending now.
async fn keep_version(
    db: &impl ConnectionTrait,
    memory: &memory::Model,
    change: MemoryChange,
    now: DateTime<Utc>,
) -> AppResult<()> {
    memory_history::ActiveModel {
        id: Set(new_id()),
        memory_id: Set(memory.id),
        user_id: Set(memory.user_id),
        content: Set(memory.content.clone()),
        category: Set(memory.category),
        importance: Set(memory.importance),
        change: Set(change),
        valid_from: Set(memory.updated_at),
        valid_to: Set(now),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Retires a memory that no longer holds (contradicted or superseded): it leaves search and
/// context, and stays readable with its validity dates (`memory(id)`, its history).
pub async fn retire(state: &AppState, user_id: Uuid, id: Uuid) -> AppResult<memory::Model> {
    let txn = begin_write(&state.db).await?;
    let old = live(&txn, user_id, id).await?;
    let now = now();
    keep_version(&txn, &old, MemoryChange::Retired, now).await?;
    let mut active: memory::ActiveModel = old.into();
    active.valid_to = Set(Some(now));
    active.updated_at = Set(now);
    let retired = active.update(&txn).await?;
    let revision = bump_revision(&txn, user_id).await?;
    txn.commit().await?;
    changed(state, revision, MemoryEventKind::Removed, retired.clone()).await;
    Ok(retired)
}

/// Deletes a memory and (by cascade) its history for good: the user asked to forget it.
pub async fn forget(state: &AppState, user_id: Uuid, id: Uuid) -> AppResult<()> {
    let txn = begin_write(&state.db).await?;
    let memory = Memory::find_by_id(id)
        .filter(memory::Column::UserId.eq(user_id))
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("memory"))?;
    Memory::delete_by_id(id).exec(&txn).await?;
    let revision = bump_revision(&txn, user_id).await?;
    txn.commit().await?;
    changed(state, revision, MemoryEventKind::Removed, memory).await;
    Ok(())
}

/// Former versions of one of the caller's memories, oldest first.
/// The latest `last` former versions of a memory, oldest first.
pub async fn history(
    db: &DatabaseConnection,
    user_id: Uuid,
    memory_id: Uuid,
    last: u64,
) -> AppResult<Vec<memory_history::Model>> {
    let mut rows = MemoryHistory::find()
        .filter(memory_history::Column::MemoryId.eq(memory_id))
        .filter(memory_history::Column::UserId.eq(user_id))
        .order_by_desc(memory_history::Column::Id)
        .limit(last)
        .all(db)
        .await?;
    rows.reverse();
    Ok(rows)
}
