//! Context assembly: what Claude is told for an answer. One function builds it, so every path
//! (the chat stream, `sendMessage`, later `contextPreview`) sends the same thing.
//!
//! Stable parts come first and carry `cache_control`, so Anthropic's prompt cache can reuse them
//! from turn to turn; what changes often (the running summary) comes after.

use entity::enums::{MessageRole, MessageStatus};
use entity::{conversation, message, prelude::*, user};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::preferences;
use super::retrieval::{self, ScoredMemory};
use crate::AppState;
use crate::error::AppResult;
use crate::llm::{ChatMessage, Role, SystemBlock};
use crate::store::Turn;

/// Preferences below this confidence are not stated to the model.
const PREFERENCE_CONFIDENCE_FLOOR: f64 = 0.5;

/// Long-term memories put in front of Claude for one answer, at most.
const MEMORIES_IN_CONTEXT: usize = 5;

pub struct AssembledContext {
    pub system: Vec<SystemBlock>,
    pub messages: Vec<ChatMessage>,
    /// The long-term memories included, with their scores (recorded on the answer).
    pub memories: Vec<ScoredMemory>,
}

/// Builds the context for answering `query` (the user's newest message).
pub async fn assemble(
    state: &AppState,
    user: &user::Model,
    conversation: &conversation::Model,
    query: &str,
) -> AppResult<AssembledContext> {
    let mut stable = format!(
        "You are a personal assistant for {name}. You remember what {name} tells you across \
         conversations and adapt to how they like to be helped. Be accurate and honest, and say \
         so when you are unsure.",
        name = user.display_name
    );
    let preferences: Vec<_> = preferences::list(&state.db, user.id)
        .await?
        .into_iter()
        .filter(|p| p.confidence >= PREFERENCE_CONFIDENCE_FLOOR)
        .collect();
    if !preferences.is_empty() {
        stable.push_str("\n\nThe user's preferences (follow them):");
        for preference in &preferences {
            stable.push_str(&format!("\n- {}: {}", preference.key, preference.value));
        }
    }
    let mut system = vec![SystemBlock::text(stable).cached()];
    // Memories depend on the message, so they come after the cached prefix.
    let memories = match retrieval::search(state, user.id, query, MEMORIES_IN_CONTEXT).await {
        Ok(memories) => memories,
        Err(error) => {
            // An answer without memories beats no answer.
            tracing::warn!(error = format!("{error:#}"), "memory search failed; answering without memories");
            Vec::new()
        }
    };
    if !memories.is_empty() {
        let mut block = String::from("What you remember about the user that may matter here:");
        for found in &memories {
            block.push_str(&format!("\n- {}", found.memory.content));
        }
        system.push(SystemBlock::text(block));
    }
    if let Some(summary) = conversation.summary.as_deref().filter(|s| !s.trim().is_empty()) {
        system.push(SystemBlock::text(format!("Summary of the earlier part of this conversation:\n{summary}")));
    }

    let turns = recent_turns(state, conversation.id).await?;
    Ok(AssembledContext { system, messages: to_messages(&turns), memories })
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
    let mut rows = Message::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::Status.ne(MessageStatus::Streaming))
        .order_by_desc(message::Column::Id)
        .limit(state.config.chat.window_turns as u64)
        .all(&state.db)
        .await?;
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

/// Turns as Messages API messages: starting with the user, alternating roles (adjacent turns of
/// one role, e.g. after an answer that failed before any text, are joined).
fn to_messages(turns: &[Turn]) -> Vec<ChatMessage> {
    let mut messages: Vec<ChatMessage> = Vec::new();
    for turn in turns.iter().filter(|t| !t.content.trim().is_empty()) {
        let role = match turn.role {
            MessageRole::User => Role::User,
            MessageRole::Assistant => Role::Assistant,
        };
        if messages.is_empty() && role == Role::Assistant {
            continue;
        }
        match messages.last_mut() {
            Some(last) if last.role == role => {
                last.content.push_str("\n\n");
                last.content.push_str(&turn.content);
            }
            _ => messages.push(ChatMessage { role, content: turn.content.clone() }),
        }
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(role: MessageRole, content: &str) -> Turn {
        Turn { message_id: uuid::Uuid::now_v7(), role, content: content.into() }
    }

    #[test]
    fn messages_start_with_the_user_and_alternate() {
        let turns = [
            turn(MessageRole::Assistant, "left over from a cut window"),
            turn(MessageRole::User, "hi"),
            turn(MessageRole::Assistant, ""),
            turn(MessageRole::User, "anyone there?"),
            turn(MessageRole::Assistant, "yes"),
        ];
        let messages = to_messages(&turns);
        assert_eq!(
            messages,
            [
                ChatMessage { role: Role::User, content: "hi\n\nanyone there?".into() },
                ChatMessage { role: Role::Assistant, content: "yes".into() },
            ]
        );
    }
}
