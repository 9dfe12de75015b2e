//! Ratings of answers, and what they teach about the style the user wants.

use entity::enums::{MessageRole, Rating};
use entity::{message, message_feedback, prelude::*};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::{signals, style};
use crate::db::{begin_write, lock_user, new_id, now};
use crate::error::{AppError, AppResult};
use crate::services::validate;
use crate::state::AppState;

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
