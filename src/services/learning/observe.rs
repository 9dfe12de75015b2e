//! Learning from each message the user sends, off the hot path: memories (`extraction`),
//! inferred preferences, the style profile and patterns. Failures are logged and never reach
//! the chat.

use entity::enums::MessageRole;
use entity::{message, prelude::*};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use tokio::sync::oneshot;

use super::patterns::{self, Observation};
use super::{extraction, order, preferences, signals, style};
use crate::db::{begin_write, lock_user};
use crate::error::AppResult;
use crate::state::AppState;

/// Everything a user's message teaches. Runs in the background after the message is stored;
/// `findings` brings what the turn found and saved, once it has ended (see `extraction`).
/// Holding the user's learning lock (across replicas), it first learns the user's earlier
/// messages nobody has learned yet (their replica died, say), so every message is learned once
/// and in the order it was stored. The message is queued for Claude's extraction before that lock
/// is taken, so a burst of them is read in one call; what Claude finds is stored while the lock
/// is held, before the message is marked learned.
pub async fn after_user_message(state: &AppState, message: &message::Model, findings: extraction::Related) {
    let findings = findings.await.ok();
    let mut extracted = extraction::queue_for_claude(state, message, findings);
    let lock = match state.learning_locks.lock(&state.db, message.user_id).await {
        Ok(lock) => lock,
        Err(error) => {
            // Left unlearned: the user's next message learns it first.
            tracing::warn!(error = format!("{error:#}"), "could not take the learning lock; learning later");
            return;
        }
    };
    match order::still_to_learn(&state.db, message).await {
        Ok(pending) => {
            for pending in pending {
                let extracted = if pending.id == message.id {
                    extracted.take()
                } else {
                    // An earlier message whose turn ran elsewhere: extraction searches by itself.
                    extraction::queue_for_claude(state, &pending, None)
                };
                learn_from(state, &pending, extracted).await;
            }
        }
        Err(error) => tracing::warn!(error = format!("{error:#}"), "could not find the messages still to learn"),
    }
    lock.release().await;
}

async fn learn_from(state: &AppState, message: &message::Model, extracted: Option<oneshot::Receiver<()>>) {
    extraction::learn_by_rules(state, message).await;
    if let Some(extracted) = extracted {
        let _ = extracted.await;
    }
    if let Err(error) = learn_habits_and_style(state, message).await {
        tracing::warn!(error = format!("{error:#}"), "could not learn from a message");
        // Not tried again by every later message.
        if let Err(error) = order::mark_learned(&state.db, message.id).await {
            tracing::warn!(error = format!("{error:#}"), "could not mark a message learned");
        }
    }
}

/// Preferences, style and patterns from one message, in one transaction holding the user's lock
/// (so concurrent messages never lose each other's updates, and readers see all or nothing) that
/// also marks the message learned.
async fn learn_habits_and_style(state: &AppState, message: &message::Model) -> AppResult<()> {
    let user_id = message.user_id;
    let txn = begin_write(&state.db).await?;
    lock_user(&txn, user_id).await?;
    if !order::mark_learned(&txn, message.id).await? {
        // Learned already (by a learner whose lock was lost): counted once, not twice.
        return Ok(());
    }
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
