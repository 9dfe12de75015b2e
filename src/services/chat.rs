//! A chat turn: the user's message in, Claude's answer streamed out as it arrives.
//!
//! [`start_turn`] checks and records the user's message, then runs the turn in a task of its own
//! that talks to the caller through a bounded channel. The task watches the channel: when the
//! caller goes away (unsubscribe, disconnect), the upstream request is dropped at once and the
//! partial answer is kept as INTERRUPTED. Whatever happens, the assistant message ends in a
//! final state (COMPLETE, FAILED or INTERRUPTED) with what arrived.

use std::sync::Arc;
use std::time::Duration;

use entity::enums::{MessageRole, MessageStatus};
use entity::{conversation, message, prelude::*, user};
use futures::StreamExt as _;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use tokio::sync::mpsc;
use tracing::Instrument as _;
use uuid::Uuid;

use super::{auth, context, conversations, new_id, now};
use crate::AppState;
use crate::error::{AppError, AppResult, code};
use crate::llm::{Accumulated, ChatMessage, CompletedMessage, LlmError, MessageAccumulator, MessagesRequest, Role};
use crate::store::{ShortTermStore, Turn};

/// What the caller of a turn sees, in order: `Started`, any number of `Delta`, then one of
/// `Completed` or `Failed`.
#[derive(Debug)]
pub enum ChatEvent {
    Started { user_message: message::Model, assistant_message_id: Uuid },
    Delta(String),
    Completed { message: message::Model },
    Failed { code: &'static str, message: String, retryable: bool, partial: Option<message::Model> },
}

/// How many events may wait for a slow reader before the upstream read pauses.
const CHANNEL_CAPACITY: usize = 64;
/// A stream slot left behind by a replica that died expires after this long.
const SLOT_TTL: Duration = Duration::from_secs(15 * 60);

/// A user's message, trimmed, within the configured length.
pub fn validate_message(state: &AppState, text: &str) -> AppResult<String> {
    let limit = state.config.chat.max_message_chars;
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::bad_input("message must not be empty"));
    }
    let length = text.chars().count();
    if length > limit {
        return Err(AppError::bad_input(format!("message is too long ({length} characters; at most {limit})")));
    }
    Ok(text.to_owned())
}

/// Checks and records the user's message and starts the answer. Errors here (bad input,
/// unknown conversation, too many streams) happen before anything is stored.
pub async fn start_turn(
    state: &AppState,
    user_id: Uuid,
    conversation_id: Uuid,
    text: &str,
) -> AppResult<mpsc::Receiver<ChatEvent>> {
    let limits = &state.config.chat;
    let text = validate_message(state, text)?;
    let text = text.as_str();
    let conversation = conversations::get(&state.db, user_id, conversation_id).await?;
    let user = auth::find_user(&state.db, user_id).await?;

    let slot = StreamSlot::acquire(state.short_term.clone(), user_id, limits.max_concurrent_streams).await?;
    let (user_message, assistant_message) = record_start(state, &conversation, text).await?;
    push_turn(state.short_term.as_ref(), &user_message).await;
    // What the message teaches is learned off the hot path; it is there for later turns.
    {
        let (state, message) = (state.clone(), user_message.clone());
        tokio::spawn(async move {
            super::learning::after_user_message(&state, &message).await;
        });
    }

    let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
    let span = tracing::info_span!("chat_turn", conversation = %conversation.id, message = %assistant_message.id);
    let turn = ActiveTurn { state: state.clone(), user, conversation, user_message, assistant_message, sender };
    tokio::spawn(
        async move {
            turn.run().await;
            slot.release().await;
        }
        .instrument(span),
    );
    Ok(receiver)
}

/// One of a user's concurrent-stream slots; given back when the turn ends, or on drop.
struct StreamSlot {
    store: Arc<dyn ShortTermStore>,
    key: Option<String>,
}

impl StreamSlot {
    async fn acquire(store: Arc<dyn ShortTermStore>, user_id: Uuid, max: u32) -> AppResult<Self> {
        let key = format!("streams:{user_id}");
        if !store.acquire_slot(&key, max, SLOT_TTL).await? {
            return Err(AppError::RateLimited(format!(
                "you already have {max} answers streaming; wait for one to finish"
            )));
        }
        Ok(Self { store, key: Some(key) })
    }

    async fn release(mut self) {
        if let Some(key) = self.key.take()
            && let Err(error) = self.store.release_slot(&key).await
        {
            tracing::warn!(error = format!("{error:#}"), "could not release a stream slot; it will expire");
        }
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let store = self.store.clone();
            tokio::spawn(async move {
                let _ = store.release_slot(&key).await;
            });
        }
    }
}

/// Stores the user's message and the assistant's empty STREAMING message, together.
async fn record_start(
    state: &AppState,
    conversation: &conversation::Model,
    text: &str,
) -> AppResult<(message::Model, message::Model)> {
    let txn = super::begin_write(&state.db).await?;
    let user_message =
        new_message(conversation, MessageRole::User, text.to_owned(), MessageStatus::Complete).insert(&txn).await?;
    let assistant_message =
        new_message(conversation, MessageRole::Assistant, String::new(), MessageStatus::Streaming).insert(&txn).await?;
    let mut touched: conversation::ActiveModel = conversation.clone().into();
    touched.updated_at = Set(now());
    touched.update(&txn).await?;
    txn.commit().await?;
    Ok((user_message, assistant_message))
}

fn new_message(
    conversation: &conversation::Model,
    role: MessageRole,
    content: String,
    status: MessageStatus,
) -> message::ActiveModel {
    let now = now();
    message::ActiveModel {
        id: Set(new_id()),
        conversation_id: Set(conversation.id),
        user_id: Set(conversation.user_id),
        role: Set(role),
        content: Set(content),
        status: Set(status),
        stop_reason: Set(None),
        model: Set(None),
        input_tokens: Set(None),
        output_tokens: Set(None),
        cache_read_input_tokens: Set(None),
        cache_creation_input_tokens: Set(None),
        error_code: Set(None),
        context_used: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Appends a message to the conversation's cached window. A failure is only logged: the window
/// is a cache and is dropped, so the next turn reloads it from SQL rather than miss a turn.
async fn push_turn(store: &dyn ShortTermStore, message: &message::Model) {
    if message.content.is_empty() {
        return;
    }
    let turn = Turn { message_id: message.id, role: message.role, content: message.content.clone() };
    if let Err(error) = store.push(message.conversation_id, &turn).await {
        tracing::warn!(error = format!("{error:#}"), "could not append to the short-term window");
        let _ = store.forget(message.conversation_id).await;
    }
}

/// How the answer ended.
enum Ending {
    Complete,
    Failed(LlmError),
    /// The caller went away.
    Interrupted,
}

struct ActiveTurn {
    state: AppState,
    user: user::Model,
    conversation: conversation::Model,
    user_message: message::Model,
    assistant_message: message::Model,
    sender: mpsc::Sender<ChatEvent>,
}

impl ActiveTurn {
    async fn run(self) {
        let started = ChatEvent::Started {
            user_message: self.user_message.clone(),
            assistant_message_id: self.assistant_message.id,
        };
        if self.sender.send(started).await.is_err() {
            self.finish(&MessageAccumulator::default(), Ending::Interrupted, None).await;
            return;
        }
        let (request, context_used) =
            match context::assemble(&self.state, &self.user, &self.conversation, &self.user_message.content, false)
                .await
            {
                Ok(context) => {
                    let used = context.describe();
                    let request = MessagesRequest {
                        system: context.system,
                        metadata: Some(serde_json::json!({ "user_id": self.user.id })),
                        ..MessagesRequest::new(
                            self.state.config.anthropic.model.clone(),
                            self.state.config.anthropic.max_tokens,
                            context.messages,
                        )
                    };
                    (request, Some(used))
                }
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "could not assemble the context");
                    self.fail_internally().await;
                    return;
                }
            };
        let mut accumulator = MessageAccumulator::default();
        let ending = self.relay(&request, &mut accumulator).await;
        self.finish(&accumulator, ending, context_used).await;
    }

    /// Streams the answer to the caller as it arrives; returns how it ended.
    async fn relay(&self, request: &MessagesRequest, accumulator: &mut MessageAccumulator) -> Ending {
        let sender = &self.sender;
        let mut stream = tokio::select! {
            biased;
            () = sender.closed() => return Ending::Interrupted,
            started = self.state.llm.stream(request) => match started {
                Ok(stream) => stream,
                Err(error) => return Ending::Failed(error),
            },
        };
        loop {
            let event = tokio::select! {
                biased;
                () = sender.closed() => return Ending::Interrupted,
                event = stream.next() => event,
            };
            let event = match event {
                Some(Ok(event)) => event,
                Some(Err(error)) => return Ending::Failed(error),
                None if accumulator.is_complete() => return Ending::Complete,
                None => return Ending::Failed(LlmError::Incomplete),
            };
            match accumulator.apply(&event) {
                Ok(Accumulated::Text(text)) => {
                    if sender.send(ChatEvent::Delta(text.to_owned())).await.is_err() {
                        return Ending::Interrupted;
                    }
                }
                Ok(Accumulated::Nothing) => {}
                Err(error) => return Ending::Failed(error),
            }
        }
    }

    /// Stores the answer in its final state, with what its context used, and tells the caller
    /// (if still there).
    async fn finish(&self, accumulator: &MessageAccumulator, ending: Ending, context_used: Option<serde_json::Value>) {
        let answer = accumulator.message();
        let status = match &ending {
            Ending::Complete => MessageStatus::Complete,
            Ending::Failed(_) => MessageStatus::Failed,
            Ending::Interrupted => MessageStatus::Interrupted,
        };
        if let Ending::Failed(error) = &ending {
            tracing::warn!(%error, received_chars = answer.text.len(), "the answer failed");
        }
        if matches!(ending, Ending::Interrupted) {
            tracing::info!(received_chars = answer.text.len(), "the caller left; answer kept as interrupted");
        }
        let stored = match self.store_answer(answer, status, &ending, context_used).await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "could not store the answer");
                self.fail_internally().await;
                return;
            }
        };
        push_turn(self.state.short_term.as_ref(), &stored).await;
        let event = match ending {
            Ending::Complete => ChatEvent::Completed { message: stored },
            Ending::Failed(error) => ChatEvent::Failed {
                code: code::UPSTREAM_ERROR,
                message: error.user_message(),
                retryable: error.is_retryable(),
                partial: Some(stored),
            },
            Ending::Interrupted => return,
        };
        let completed = matches!(event, ChatEvent::Completed { .. });
        let _ = self.sender.send(event).await;
        if completed {
            let state = self.state.clone();
            let conversation_id = self.conversation.id;
            tokio::spawn(
                async move {
                    if let Err(error) = update_summary(&state, conversation_id).await {
                        tracing::warn!(%conversation_id, error = format!("{error:#}"), "could not update the running summary");
                    }
                }
                .in_current_span(),
            );
        }
    }

    async fn store_answer(
        &self,
        answer: &CompletedMessage,
        status: MessageStatus,
        ending: &Ending,
        context_used: Option<serde_json::Value>,
    ) -> AppResult<message::Model> {
        let usage = answer.usage;
        let tokens = |n: u64| Set(Some(n as i64));
        let mut row: message::ActiveModel = self.assistant_message.clone().into();
        row.content = Set(answer.text.clone());
        row.status = Set(status);
        row.stop_reason = Set(answer.stop_reason.clone());
        row.model = Set((!answer.model.is_empty()).then(|| answer.model.clone()));
        if !answer.id.is_empty() {
            row.input_tokens = tokens(usage.input_tokens);
            row.output_tokens = tokens(usage.output_tokens);
            row.cache_read_input_tokens = tokens(usage.cache_read_input_tokens);
            row.cache_creation_input_tokens = tokens(usage.cache_creation_input_tokens);
        }
        row.error_code = Set(matches!(ending, Ending::Failed(_)).then(|| code::UPSTREAM_ERROR.to_owned()));
        row.context_used = Set(context_used);
        row.updated_at = Set(now());
        Ok(row.update(&self.state.db).await?)
    }

    /// Our own failure (not Claude's): mark the answer failed and say so without details.
    async fn fail_internally(&self) {
        let mut row: message::ActiveModel = self.assistant_message.clone().into();
        row.status = Set(MessageStatus::Failed);
        row.error_code = Set(Some(code::INTERNAL.to_owned()));
        row.updated_at = Set(now());
        let partial = row.update(&self.state.db).await.ok();
        let _ = self
            .sender
            .send(ChatEvent::Failed {
                code: code::INTERNAL,
                message: "internal error".into(),
                retryable: true,
                partial,
            })
            .await;
    }
}

/// Which memories an answer's context used, with their scores, so the answer can be explained.
/// Folds the turns that have left the short-term window into the conversation's running
/// summary, so long conversations keep their thread without sending everything. Runs after a
/// turn, off the hot path; resumes from `summary_through`.
pub async fn update_summary(state: &AppState, conversation_id: Uuid) -> anyhow::Result<()> {
    /// Summarise in batches of at least one exchange, not after every message.
    const MIN_NEW_MESSAGES: usize = 2;
    let Some(conversation) = Conversation::find_by_id(conversation_id).one(&state.db).await? else {
        return Ok(());
    };
    let mut left_window = Message::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::Status.ne(MessageStatus::Streaming))
        .order_by_desc(message::Column::Id)
        .offset(state.config.chat.window_turns as u64)
        .limit(200)
        .all(&state.db)
        .await?;
    left_window.retain(|m| conversation.summary_through.is_none_or(|through| m.id > through) && !m.content.is_empty());
    if left_window.len() < MIN_NEW_MESSAGES {
        return Ok(());
    }
    left_window.reverse();
    let Some(newest) = left_window.last().map(|m| m.id) else { return Ok(()) };

    let mut transcript = String::new();
    for message in &left_window {
        let speaker = if message.role == MessageRole::User { "User" } else { "Assistant" };
        transcript.push_str(&format!("{speaker}: {}\n", message.content));
    }
    let prompt = format!(
        "Current summary:\n{}\n\nNew turns:\n{transcript}",
        conversation.summary.as_deref().unwrap_or("(none yet)")
    );
    let mut request = MessagesRequest::new(
        state.config.anthropic.model.clone(),
        1024,
        vec![ChatMessage { role: Role::User, content: prompt }],
    );
    request.system = vec![crate::llm::SystemBlock::text(
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

/// Runs a whole turn and waits for its end (for clients that do not stream). Returns the user's
/// message and the answer, or the upstream failure.
pub async fn send_message(
    state: &AppState,
    user_id: Uuid,
    conversation_id: Uuid,
    text: &str,
) -> AppResult<(message::Model, message::Model)> {
    let mut events = start_turn(state, user_id, conversation_id, text).await?;
    let mut user_message = None;
    while let Some(event) = events.recv().await {
        match event {
            ChatEvent::Started { user_message: message, .. } => user_message = Some(message),
            ChatEvent::Delta(_) => {}
            ChatEvent::Completed { message } => {
                let user_message = user_message.ok_or_else(|| anyhow::anyhow!("turn completed before it started"))?;
                return Ok((user_message, message));
            }
            ChatEvent::Failed { code, message, .. } if code == code::UPSTREAM_ERROR => {
                return Err(AppError::Upstream(message));
            }
            ChatEvent::Failed { .. } => return Err(anyhow::anyhow!("the chat turn failed internally").into()),
        }
    }
    Err(anyhow::anyhow!("the chat turn ended without an outcome").into())
}

/// Answers left STREAMING by a process that died mid-turn. No live turn runs this long (the
/// client's overall timeout is ten minutes), so these can be marked INTERRUPTED at start,
/// whichever replica owned them.
pub const ABANDONED_AFTER: chrono::Duration = chrono::Duration::minutes(15);

/// Marks abandoned answers INTERRUPTED; returns how many there were.
pub async fn recover_abandoned_answers(db: &sea_orm::DatabaseConnection) -> AppResult<u64> {
    let result = Message::update_many()
        .col_expr(message::Column::Status, MessageStatus::Interrupted.into())
        .col_expr(message::Column::UpdatedAt, now().into())
        .filter(message::Column::Status.eq(MessageStatus::Streaming))
        .filter(message::Column::UpdatedAt.lt(now() - ABANDONED_AFTER))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
