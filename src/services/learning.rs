//! Learning from the user, after each message and each rating, off the hot path: memories
//! (`extraction`), inferred preferences, the style profile and patterns. Failures are logged
//! and never reach the chat.

use entity::enums::{MessageRole, Rating};
use entity::{message, message_feedback, prelude::*};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

use super::patterns::{self, Observation};
use super::{begin_write, extraction, lock_user, new_id, now, preferences, signals, style, validate};
use crate::AppState;
use crate::error::{AppError, AppResult};

/// One lock per user, so a process learns from one user's messages one at a time, in the order
/// they arrive: "I live in Porto" then "I now live in Lisbon" must not race, or the older fact
/// can land last or both can be stored as the user's home.
#[derive(Default)]
pub struct UserLocks {
    locks: std::sync::Mutex<std::collections::HashMap<Uuid, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

impl UserLocks {
    async fn lock(&self, user_id: Uuid) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // Forget the locks nobody holds or waits for.
            if locks.len() > 1024 {
                locks.retain(|_, lock| std::sync::Arc::strong_count(lock) > 1);
            }
            locks.entry(user_id).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// Everything a user's message teaches. Runs in the background after the message is stored.
pub async fn after_user_message(state: &AppState, message: &message::Model) {
    let _turn = state.learning_locks.lock(message.user_id).await;
    extraction::learn_from_message(state, message.user_id, message.id, &message.content).await;
    if let Err(error) = learn_habits_and_style(state, message).await {
        tracing::warn!(error = format!("{error:#}"), "could not learn from a message");
    }
}

/// Preferences, style and patterns from one message, in one transaction holding the user's lock
/// (so concurrent messages never lose each other's updates, and readers see all or nothing).
async fn learn_habits_and_style(state: &AppState, message: &message::Model) -> AppResult<()> {
    let user_id = message.user_id;
    let txn = begin_write(&state.db).await?;
    lock_user(&txn, user_id).await?;
    for (key, value, strength) in signals::stated_preferences(&message.content) {
        preferences::infer_in(&txn, user_id, key, &value, strength).await?;
    }
    // Each message in another language than English is a little evidence that answers should
    // be in it (English is what Claude assumes anyway).
    if let Some(language) = signals::language(&message.content).filter(|l| *l != "English") {
        preferences::infer_in(&txn, user_id, "language", language, 0.25).await?;
    }
    let mut evidence = signals::stated_style(&message.content);
    evidence.extend(signals::implicit_style(&message.content));
    style::learn(&txn, user_id, &evidence).await?;

    let user_messages = Message::find()
        .filter(message::Column::ConversationId.eq(message.conversation_id))
        .filter(message::Column::Role.eq(MessageRole::User))
        .filter(message::Column::Id.lte(message.id))
        .count(&txn)
        .await?;
    let offset = preferences::find(&txn, user_id, "timezone").await?.and_then(|p| patterns::parse_offset(&p.value));
    let observation = Observation {
        message: &message.content,
        at: message.created_at,
        offset,
        starts_conversation: user_messages <= 1,
    };
    patterns::observe(&txn, user_id, &observation).await?;
    txn.commit().await?;
    Ok(())
}

pub const MAX_REASON_CHARS: usize = 500;

/// Records the user's rating of an answer (rating again replaces it) and learns from it: the
/// reason of a DOWN ("too long", "too technical") moves the style; an UP reinforces what the
/// answer looked like.
pub async fn rate_message(
    state: &AppState,
    user_id: Uuid,
    message_id: Uuid,
    rating: Rating,
    reason: Option<&str>,
) -> AppResult<message_feedback::Model> {
    let reason = reason.map(|r| validate::required_text("reason", r, MAX_REASON_CHARS)).transpose()?;
    let answer = Message::find_by_id(message_id)
        .filter(message::Column::UserId.eq(user_id))
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("message"))?;
    if answer.role != MessageRole::Assistant {
        return Err(AppError::bad_input("only the assistant's answers can be rated"));
    }
    let row = message_feedback::ActiveModel {
        id: Set(new_id()),
        message_id: Set(message_id),
        user_id: Set(user_id),
        rating: Set(rating),
        reason: Set(reason.clone()),
        created_at: Set(now()),
    };
    MessageFeedback::insert(row)
        .on_conflict(
            OnConflict::column(message_feedback::Column::MessageId)
                .update_columns([
                    message_feedback::Column::Rating,
                    message_feedback::Column::Reason,
                    message_feedback::Column::CreatedAt,
                ])
                .to_owned(),
        )
        .exec(&state.db)
        .await?;

    let mut evidence = Vec::new();
    if let Some(reason) = &reason {
        evidence.extend(signals::stated_style(reason).into_iter().map(|mut e| {
            e.strength = e.strength.max(signals::strength::RATING_REASON);
            e
        }));
    }
    if rating == Rating::Up {
        evidence.extend(signals::liked_answer(&answer.content));
    }
    let txn = begin_write(&state.db).await?;
    lock_user(&txn, user_id).await?;
    style::learn(&txn, user_id, &evidence).await?;
    txn.commit().await?;
    MessageFeedback::find()
        .filter(message_feedback::Column::MessageId.eq(message_id))
        .one(&state.db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("feedback vanished after upsert").into())
}
