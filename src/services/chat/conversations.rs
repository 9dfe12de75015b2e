//! Conversations and their messages.

use entity::{conversation, message, prelude::*};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait as _, QueryFilter, Set};
use uuid::Uuid;

use crate::db::page::{Order, Page, PageRequest, fetch_page};
use crate::db::{new_id, now};
use crate::error::{AppError, AppResult};
use crate::services::validate;
use crate::store::ShortTermStore;

pub const MAX_TITLE_CHARS: usize = 200;

/// Starts a conversation, unless the user already has `quota` of them.
pub async fn create(
    db: &DatabaseConnection,
    user_id: Uuid,
    title: Option<&str>,
    quota: u64,
) -> AppResult<conversation::Model> {
    let title = validate::optional_text("title", title, MAX_TITLE_CHARS)?;
    if Conversation::find().filter(conversation::Column::UserId.eq(user_id)).count(db).await? >= quota {
        return Err(AppError::bad_input(format!(
            "you have {quota} conversations, the most one user may keep (MAX_CONVERSATIONS_PER_USER); delete some first"
        )));
    }
    let now = now();
    Ok(conversation::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user_id),
        title: Set(title),
        summary: Set(None),
        summary_through: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// The caller's conversation `id`; someone else's reads as not found.
pub async fn get(db: &DatabaseConnection, user_id: Uuid, id: Uuid) -> AppResult<conversation::Model> {
    Conversation::find_by_id(id)
        .filter(conversation::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("conversation"))
}

pub async fn rename(
    db: &DatabaseConnection,
    user_id: Uuid,
    id: Uuid,
    title: Option<&str>,
) -> AppResult<conversation::Model> {
    let title = validate::optional_text("title", title, MAX_TITLE_CHARS)?;
    let mut active: conversation::ActiveModel = get(db, user_id, id).await?.into();
    active.title = Set(title);
    active.updated_at = Set(now());
    Ok(active.update(db).await?)
}

/// Deletes the conversation with all its messages, and drops its short-term window.
pub async fn delete(
    db: &DatabaseConnection,
    short_term: &dyn ShortTermStore,
    user_id: Uuid,
    id: Uuid,
) -> AppResult<()> {
    let deleted = Conversation::delete_many()
        .filter(conversation::Column::Id.eq(id))
        .filter(conversation::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(AppError::NotFound("conversation"));
    }
    // The rows are gone; a window left behind would only expire, so a failure here is logged,
    // not reported as a failed delete.
    if let Err(error) = short_term.forget(id).await {
        tracing::warn!(conversation = %id, error = format!("{error:#}"), "could not drop the short-term window");
    }
    Ok(())
}

/// The caller's conversations, newest first.
pub async fn list(db: &DatabaseConnection, user_id: Uuid, page: PageRequest) -> AppResult<Page<conversation::Model>> {
    let select = Conversation::find().filter(conversation::Column::UserId.eq(user_id));
    fetch_page(db, select, conversation::Column::Id, Order::NewestFirst, page).await
}

/// Messages of one of the caller's conversations, oldest first (the order they are read in).
pub async fn messages(
    db: &DatabaseConnection,
    user_id: Uuid,
    conversation_id: Uuid,
    page: PageRequest,
) -> AppResult<Page<message::Model>> {
    let select = Message::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::UserId.eq(user_id));
    fetch_page(db, select, message::Column::Id, Order::OldestFirst, page).await
}
