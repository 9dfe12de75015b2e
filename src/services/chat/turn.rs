//! A chat turn: the user's message in, Claude's answer streamed out as it arrives.
//!
//! [`start_turn`] checks and records the user's message, then runs the turn in a task of its own
//! that talks to the caller through a bounded channel. The task watches the channel: when the
//! caller goes away (unsubscribe, disconnect), the upstream request is dropped at once and the
//! partial answer is kept as INTERRUPTED. Whatever happens, the assistant message ends in a
//! final state (COMPLETE, FAILED or INTERRUPTED) with what arrived.

use std::sync::Arc;
use std::time::{Duration, Instant};

use entity::enums::{MessageRole, MessageStatus};
use entity::{conversation, message, prelude::*, user};
use futures::StreamExt as _;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;
use uuid::Uuid;

use super::{context, conversations, summary, window};
use crate::db::{begin_write, new_id, now};
use crate::error::{AppError, AppResult};
use crate::llm::{Accumulated, CompletedMessage, LlmError, MessageAccumulator, MessagesRequest};
use crate::services::account::auth;
use crate::services::learning;
use crate::services::memory::retrieval::ScoredMemory;
use crate::state::AppState;
use crate::store::ShortTermStore;

/// What the caller of a turn sees, in order: `Started`, any number of `Delta`, then one of
/// `Completed` or `Failed`.
#[derive(Debug)]
pub enum ChatEvent {
    Started {
        user_message: message::Model,
        assistant_message_id: Uuid,
    },
    Delta(String),
    Completed {
        message: message::Model,
    },
    /// `partial` is the answer as far as it got, stored with status FAILED.
    Failed {
        error: AppError,
        partial: Option<message::Model>,
    },
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

/// Who says what where: the checked message, the caller and their conversation.
struct Subject {
    user: user::Model,
    conversation: conversation::Model,
    text: String,
}

/// Checks a message the caller wants to send (or preview) in one of their conversations.
async fn subject(state: &AppState, user_id: Uuid, conversation_id: Uuid, text: &str) -> AppResult<Subject> {
    let text = validate_message(state, text)?;
    let conversation = conversations::get(&state.db, user_id, conversation_id).await?;
    let user = auth::find_user(&state.db, user_id).await?;
    Ok(Subject { user, conversation, text })
}

/// What Claude would be told if the caller sent `text` now (`contextPreview`): the very context
/// a turn assembles, with the message appended as it would be.
pub async fn preview(
    state: &AppState,
    user_id: Uuid,
    conversation_id: Uuid,
    text: &str,
) -> AppResult<context::AssembledContext> {
    let Subject { user, conversation, text } = subject(state, user_id, conversation_id, text).await?;
    context::assemble(state, &user, &conversation, &text, true).await
}

/// Checks and records the user's message and starts the answer. Errors here (bad input,
/// unknown conversation, too many streams, a replica shutting down) happen before anything is
/// stored.
pub async fn start_turn(
    state: &AppState,
    user_id: Uuid,
    conversation_id: Uuid,
    text: &str,
) -> AppResult<mpsc::Receiver<ChatEvent>> {
    let began = Instant::now();
    if state.lifecycle.is_draining() {
        return Err(AppError::ShuttingDown);
    }
    let limits = &state.config.chat;
    let Subject { user, conversation, text } = subject(state, user_id, conversation_id, text).await?;
    let text = text.as_str();

    let slot = StreamSlot::acquire(state.short_term.clone(), user_id, limits.max_concurrent_streams).await?;
    let (user_message, assistant_message) = record_start(state, &conversation, text).await?;
    window::push_turn(state.short_term.as_ref(), &user_message).await;
    // What the message teaches is learned off the hot path; it is there for later turns. The
    // memories the turn's context finds are handed over, so the message is searched once.
    let (found_sender, found) = oneshot::channel();
    {
        let (state, message) = (state.clone(), user_message.clone());
        tokio::spawn(async move {
            learning::observe::after_user_message(&state, &message, found).await;
        });
    }

    let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
    let span = tracing::info_span!("chat_turn", conversation = %conversation.id, message = %assistant_message.id);
    let turn = ActiveTurn {
        state: state.clone(),
        user,
        conversation,
        user_message,
        assistant_message,
        sender,
        began,
        found_sender: Some(found_sender),
    };
    // Tracked, so a replica that is shutting down lets it finish (or ends it) before it exits.
    state.lifecycle.turns.spawn(
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
    let txn = begin_write(&state.db).await?;
    let mut user_message = new_message(conversation, MessageRole::User, text.to_owned(), MessageStatus::Complete);
    user_message.seq = Set(Some(learning::order::next_seq(&txn, conversation.user_id).await?));
    let user_message = user_message.insert(&txn).await?;
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
        seq: Set(None),
        learned_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// How the answer ended.
enum Ending {
    Complete,
    Failed(AppError),
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
    /// When the turn was asked for (time to first token counts from it).
    began: Instant,
    /// Where the memories the context found go, for the message's learning.
    found_sender: Option<oneshot::Sender<Vec<ScoredMemory>>>,
}

impl ActiveTurn {
    async fn run(mut self) {
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
                    if let Some(found_sender) = self.found_sender.take() {
                        let _ = found_sender.send(context.related.clone());
                    }
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
                    self.fail_internally(error, "could not assemble the context").await;
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
        let ending = &self.state.lifecycle.ending;
        let mut stream = tokio::select! {
            biased;
            () = sender.closed() => return Ending::Interrupted,
            () = ending.cancelled() => return Ending::Failed(AppError::ShuttingDown),
            started = self.state.llm.stream(request) => match started {
                Ok(stream) => stream,
                Err(error) => return Ending::Failed(error.into()),
            },
        };
        let mut first_text = true;
        loop {
            let event = tokio::select! {
                biased;
                () = sender.closed() => return Ending::Interrupted,
                () = ending.cancelled() => return Ending::Failed(AppError::ShuttingDown),
                event = stream.next() => event,
            };
            let event = match event {
                Some(Ok(event)) => event,
                Some(Err(error)) => return Ending::Failed(error.into()),
                None if accumulator.is_complete() => return Ending::Complete,
                None => return Ending::Failed(LlmError::Incomplete.into()),
            };
            match accumulator.apply(&event) {
                Ok(Accumulated::Text(text)) => {
                    if first_text {
                        first_text = false;
                        metrics::histogram!("chat_time_to_first_token_seconds").record(self.began.elapsed());
                    }
                    let relayed = Instant::now();
                    if sender.send(ChatEvent::Delta(text.to_owned())).await.is_err() {
                        return Ending::Interrupted;
                    }
                    metrics::histogram!("chat_delta_relay_seconds").record(relayed.elapsed());
                }
                Ok(Accumulated::Nothing) => {}
                Err(error) => return Ending::Failed(error.into()),
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
            tracing::warn!(?error, received_chars = answer.text.len(), "the answer failed");
        }
        if matches!(ending, Ending::Interrupted) {
            tracing::info!(received_chars = answer.text.len(), "the caller left; answer kept as interrupted");
        }
        let stored = match self.store_answer(answer, status, &ending, context_used).await {
            Ok(stored) => stored,
            Err(error) => {
                self.fail_internally(error, "could not store the answer").await;
                return;
            }
        };
        window::push_turn(self.state.short_term.as_ref(), &stored).await;
        if !answer.id.is_empty() {
            crate::llm::record_usage("chat", &answer.usage);
        }
        let outcome = match &ending {
            Ending::Complete => "complete",
            Ending::Failed(_) => "failed",
            Ending::Interrupted => "interrupted",
        };
        metrics::counter!("chat_turns_total", "outcome" => outcome).increment(1);
        let event = match ending {
            Ending::Complete => ChatEvent::Completed { message: stored },
            Ending::Failed(error) => ChatEvent::Failed { error, partial: Some(stored) },
            Ending::Interrupted => return,
        };
        let completed = matches!(event, ChatEvent::Completed { .. });
        let _ = self.sender.send(event).await;
        if completed {
            let state = self.state.clone();
            let conversation_id = self.conversation.id;
            tokio::spawn(
                async move {
                    if let Err(error) = summary::update_summary(&state, conversation_id).await {
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
        row.error_code = Set(match ending {
            Ending::Failed(error) => Some(error.code().to_owned()),
            _ => None,
        });
        row.context_used = Set(context_used);
        row.updated_at = Set(now());
        Ok(row.update(&self.state.db).await?)
    }

    /// Our own failure (not Claude's): logged here with the turn's context, the answer marked
    /// failed, and the caller told (the client sees only "internal error").
    async fn fail_internally(&self, error: AppError, doing: &str) {
        tracing::error!(error = format!("{error:#}"), "{doing}");
        let mut row: message::ActiveModel = self.assistant_message.clone().into();
        row.status = Set(MessageStatus::Failed);
        row.error_code = Set(Some(error.code().to_owned()));
        row.updated_at = Set(now());
        let partial = row.update(&self.state.db).await.ok();
        let _ = self.sender.send(ChatEvent::Failed { error, partial }).await;
    }
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
            ChatEvent::Failed { error, .. } => return Err(error),
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
