//! The running summary: turns that left the short-term window, folded by Claude into a few
//! hundred words kept on the conversation, so long conversations keep their thread.

use entity::enums::MessageRole;
use entity::{conversation, message, prelude::*};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::window;
use crate::llm::{ChatMessage, MessagesRequest, Role, SystemBlock};
use crate::state::AppState;

/// Summarise in batches of at least one exchange, not after every message.
const MIN_NEW_MESSAGES: usize = 2;
/// The most messages that left the window read at once (a long backlog is folded in steps).
const LOOK_BACK: u64 = 200;

/// The messages to fold into the summary, oldest first, from those that left the window (newest
/// first): the ones after `summary_through` that have text, when there are enough of them.
fn to_fold(mut left_window: Vec<message::Model>, summary_through: Option<Uuid>) -> Option<Vec<message::Model>> {
    left_window.retain(|m| summary_through.is_none_or(|through| m.id > through) && !m.content.is_empty());
    if left_window.len() < MIN_NEW_MESSAGES {
        return None;
    }
    left_window.reverse();
    Some(left_window)
}

fn transcript(messages: &[message::Model]) -> String {
    let mut transcript = String::new();
    for message in messages {
        let speaker = if message.role == MessageRole::User { "User" } else { "Assistant" };
        transcript.push_str(&format!("{speaker}: {}\n", message.content));
    }
    transcript
}

/// Folds the turns that have left the short-term window into the conversation's running
/// summary, so long conversations keep their thread without sending everything. Runs after a
/// turn, off the hot path; resumes from `summary_through`.
pub async fn update_summary(state: &AppState, conversation_id: Uuid) -> anyhow::Result<()> {
    let Some(conversation) = Conversation::find_by_id(conversation_id).one(&state.db).await? else {
        return Ok(());
    };
    let left_window = window::left_window(state, conversation_id, LOOK_BACK).await?;
    let Some(to_fold) = to_fold(left_window, conversation.summary_through) else { return Ok(()) };
    let Some(newest) = to_fold.last().map(|m| m.id) else { return Ok(()) };
    let transcript = transcript(&to_fold);
    let prompt = format!(
        "Current summary:\n{}\n\nNew turns:\n{transcript}",
        conversation.summary.as_deref().unwrap_or("(none yet)")
    );
    let mut request =
        MessagesRequest::new(state.config.anthropic.model.clone(), 1024, vec![ChatMessage::text(Role::User, prompt)]);
    request.purpose = "summary";
    request.user = Some(conversation.user_id);
    request.system = vec![SystemBlock::text(
        "You keep the running summary of a conversation between a user and their assistant. \
         Rewrite the current summary so it also covers the new turns: keep facts about the user, \
         decisions, names, numbers and open questions; drop small talk. At most 250 words. \
         Reply with the summary only.",
    )];
    let summary = state.llm.complete(&request).await?.text;
    if summary.trim().is_empty() {
        return Ok(());
    }
    // Only if nobody summarised meanwhile: the check and the write are one statement.
    let mut update = Conversation::update_many()
        .col_expr(conversation::Column::Summary, summary.trim().into())
        .col_expr(conversation::Column::SummaryThrough, newest.into())
        .filter(conversation::Column::Id.eq(conversation_id));
    update = match conversation.summary_through {
        Some(through) => update.filter(conversation::Column::SummaryThrough.eq(through)),
        None => update.filter(conversation::Column::SummaryThrough.is_null()),
    };
    update.exec(&state.db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use entity::enums::MessageStatus;

    use super::*;

    fn message(n: u128, role: MessageRole, content: &str) -> message::Model {
        let now = chrono::Utc::now();
        message::Model {
            id: Uuid::from_u128(n),
            conversation_id: Uuid::nil(),
            user_id: Uuid::nil(),
            role,
            content: content.into(),
            status: MessageStatus::Complete,
            stop_reason: None,
            model: None,
            input_tokens: None,
            output_tokens: None,
            cache_read_input_tokens: None,
            cache_creation_input_tokens: None,
            error_code: None,
            context_used: None,
            tool_calls: None,
            seq: None,
            learned_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Newest first, as they come from the window query.
    fn left_window() -> Vec<message::Model> {
        vec![
            message(4, MessageRole::Assistant, "Lisbon is lovely in May."),
            message(3, MessageRole::User, "What about Lisbon?"),
            message(2, MessageRole::Assistant, ""),
            message(1, MessageRole::User, "Plan a trip"),
        ]
    }

    #[test]
    fn the_messages_after_the_summary_are_folded_oldest_first() {
        let ids =
            |folded: Option<Vec<message::Model>>| folded.map(|m| m.iter().map(|m| m.id.as_u128()).collect::<Vec<_>>());
        // Nothing summarised yet: every message with text, oldest first (the empty answer is skipped).
        assert_eq!(ids(to_fold(left_window(), None)), Some(vec![1, 3, 4]));
        // Summarised through 1: the rest.
        assert_eq!(ids(to_fold(left_window(), Some(Uuid::from_u128(1)))), Some(vec![3, 4]));
        // Only one new message: wait for the exchange to complete.
        assert_eq!(ids(to_fold(left_window(), Some(Uuid::from_u128(3)))), None);
        assert_eq!(ids(to_fold(Vec::new(), None)), None);
    }

    #[test]
    fn the_transcript_names_the_speakers() {
        let folded = to_fold(left_window(), Some(Uuid::from_u128(1))).unwrap();
        assert_eq!(transcript(&folded), "User: What about Lisbon?\nAssistant: Lisbon is lovely in May.\n");
    }
}
