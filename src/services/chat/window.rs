//! The short-term window: a conversation's most recent messages, sent to Claude verbatim. The
//! short-term store caches it (Redis or in-process); SQL is the source of truth, and this module
//! owns the one query that says which messages are in the window and which have left it.

use entity::enums::MessageStatus;
use entity::{message, prelude::*};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use uuid::Uuid;

use crate::error::AppResult;
use crate::state::AppState;
use crate::store::{ShortTermStore, Turn};

/// A conversation's finished messages, newest first: the window is the first `window_turns` of
/// them, the rest have left it.
fn newest_first(conversation_id: Uuid) -> Select<Message> {
    Message::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::Status.ne(MessageStatus::Streaming))
        .order_by_desc(message::Column::Id)
}

/// The conversation's short-term window: from the short-term store, or rebuilt from SQL on a
/// miss (or when the store is unreachable: SQL is the source of truth).
pub async fn recent_turns(state: &AppState, conversation_id: uuid::Uuid) -> AppResult<Vec<Turn>> {
    match state.short_term.window(conversation_id).await {
        Ok(Some(turns)) => return Ok(turns),
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(conversation = %conversation_id, error = format!("{error:#}"), "short-term store unavailable; reading the window from SQL");
        }
    }
    let mut rows = newest_first(conversation_id).limit(state.config.chat.window_turns as u64).all(&state.db).await?;
    rows.reverse();
    let turns: Vec<Turn> = rows
        .into_iter()
        .filter(|m| !m.content.is_empty())
        .map(|m| Turn { message_id: m.id, role: m.role, content: m.content })
        .collect();
    if let Err(error) = state.short_term.replace(conversation_id, &turns).await {
        tracing::warn!(conversation = %conversation_id, error = format!("{error:#}"), "could not cache the window");
    }
    Ok(turns)
}

/// Up to `limit` messages that have left the window, newest first.
pub async fn left_window(state: &AppState, conversation_id: Uuid, limit: u64) -> AppResult<Vec<message::Model>> {
    Ok(newest_first(conversation_id).offset(state.config.chat.window_turns as u64).limit(limit).all(&state.db).await?)
}

/// Appends a message to the conversation's cached window. A failure is only logged: the window
/// is a cache and is dropped, so the next turn reloads it from SQL rather than miss a turn.
pub async fn push_turn(store: &dyn ShortTermStore, message: &message::Model) {
    if message.content.is_empty() {
        return;
    }
    let turn = Turn { message_id: message.id, role: message.role, content: message.content.clone() };
    if let Err(error) = store.push(message.conversation_id, &turn).await {
        tracing::warn!(error = format!("{error:#}"), "could not append to the short-term window");
        let _ = store.forget(message.conversation_id).await;
    }
}
