//! A chat turn: the user's message in, Claude's answer streamed out as it arrives.
//!
//! [`start_turn`] checks and records the user's message, then runs the turn in a task of its own
//! that talks to the caller through a bounded channel. The task watches the channel: when the
//! caller goes away (unsubscribe, disconnect), the upstream request is dropped at once and the
//! partial answer is kept as INTERRUPTED. Whatever happens, the assistant message ends in a
//! final state (COMPLETE, FAILED or INTERRUPTED) with what arrived.
//!
//! With memory tools on (`CHAT_MEMORY_TOOLS`), an answer may take rounds: Claude calls a tool,
//! the turn runs it for the caller (`tools`), tells the caller (`ToolUse`), and sends the result
//! back in a follow-up request whose answer streams on into the same channel. Every round goes
//! through the one `AnthropicClient::stream` (its retries before the first event, its counting).
//! After `CHAT_MAX_TOOL_ROUNDS` rounds the last request forbids tools (`tool_choice: none`), so
//! the answer ends with what it has. Text already shown is never sent again: a later round that
//! fails keeps everything before it as the partial answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use entity::enums::{MessageRole, MessageStatus};
use entity::{conversation, message, prelude::*, user};
use futures::StreamExt as _;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;
use uuid::Uuid;

use super::tools::{self, MEMORY_TOOLS};
use super::{context, conversations, summary, window};
use crate::db::{begin_write, new_id, now};
use crate::error::{AppError, AppResult};
use crate::llm::{
    Accumulated, ChatMessage, CompletedMessage, InputBlock, LlmError, MessageAccumulator, MessagesRequest, Role,
    ToolChoice, Usage,
};
use crate::services::account::auth;
use crate::services::learning;
use crate::services::learning::extraction::TurnFindings;
use crate::services::memory::retrieval::{self, ScoredMemory};
use crate::state::AppState;
use crate::store::ShortTermStore;

/// What the caller of a turn sees, in order: `Started`, any number of `Delta` and `ToolUse`, then
/// one of `Completed` or `Failed`.
#[derive(Debug)]
pub enum ChatEvent {
    Started {
        user_message: message::Model,
        assistant_message_id: Uuid,
    },
    Delta(String),
    /// Claude used a memory tool, and this is what came of it.
    ToolUse(ToolCallRecord),
    Completed {
        message: message::Model,
    },
    /// `partial` is the answer as far as it got, stored with status FAILED.
    Failed {
        error: AppError,
        partial: Option<message::Model>,
    },
}

/// One tool call of an answer, as the caller is shown it and the answer records it.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ToolCallRecord {
    pub name: String,
    pub input: serde_json::Value,
    /// In words for the user: "searched memories for 'x': 3 found".
    pub result: String,
    pub is_error: bool,
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
    context::assemble(state, &user, &conversation, &text, true, retrieval::embed_query(state, &text)).await
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
    state.llm.check_budget(user_id, "chat").await?;
    // The message's embedding (for the context's memory search), most of the work before the
    // upstream request, runs while the turn takes its slot and records the message. It starts
    // only once the conversation is the caller's and the budget allows the turn, so a refused
    // request costs no model time.
    let embedding = QueryEmbedding::start(state, text);

    let slot = StreamSlot::acquire(state.short_term.clone(), user_id, limits.max_concurrent_streams).await?;
    record_phase(Phase::Checks, began.elapsed());
    let writing = Instant::now();
    let (user_message, assistant_message) = record_start(state, &conversation, text).await?;
    window::push_turn(state.short_term.as_ref(), &user_message).await;
    record_phase(Phase::Writes, writing.elapsed());
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
        embedding: Some(embedding),
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

/// The parts of a turn before its upstream request, as `chat_turn_phase_seconds{phase}` tells
/// them apart (README lists them). Phases that run at the same time each count their own time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The message checked, the conversation and user read, the budget and a stream slot taken.
    Checks,
    /// The user's message and the empty answer stored, the message pushed to the short-term window.
    Writes,
    /// The context's SQL reads: preferences, style, interests, core memories, conditions, window.
    Context,
    /// The message's embedding (the query vector of the memory search).
    Embedding,
    /// The memory search: index candidates, ranking, the memories' rows.
    Search,
    /// The request built and sent, until its first event is back.
    Request,
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::Checks => "checks",
            Phase::Writes => "writes",
            Phase::Context => "context",
            Phase::Embedding => "embedding",
            Phase::Search => "search",
            Phase::Request => "request",
        }
    }
}

/// Records how long `phase` of a turn took.
pub fn record_phase(phase: Phase, took: Duration) {
    metrics::histogram!("chat_turn_phase_seconds", "phase" => phase.label()).record(took);
}

/// A turn's message being embedded in a task of its own, as the query of the context's memory
/// search; the task is aborted when the turn stops before using it.
struct QueryEmbedding(tokio::task::JoinHandle<Option<Vec<f32>>>);

impl QueryEmbedding {
    fn start(state: &AppState, text: &str) -> Self {
        let (state, text) = (state.clone(), text.to_owned());
        Self(tokio::spawn(
            async move {
                let embedding = Instant::now();
                let vector = retrieval::embed_query(&state, &text).await;
                record_phase(Phase::Embedding, embedding.elapsed());
                vector
            }
            .in_current_span(),
        ))
    }

    /// The vector; `None` when embedding failed (the search goes by words then).
    async fn vector(mut self) -> Option<Vec<f32>> {
        match (&mut self.0).await {
            Ok(vector) => vector,
            Err(error) => {
                tracing::warn!(error = %error, "the query embedding task ended abnormally; searching by words only");
                None
            }
        }
    }
}

impl Drop for QueryEmbedding {
    fn drop(&mut self) {
        self.0.abort();
    }
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
        tool_calls: Set(None),
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
    /// Where what the turn found and saved goes, for the message's learning.
    found_sender: Option<oneshot::Sender<TurnFindings>>,
    /// The user's message being embedded, for the context (taken by it).
    embedding: Option<QueryEmbedding>,
}

/// The answer across its rounds.
#[derive(Default)]
struct Answer {
    /// Text as shown (every round's), the last round's model, id and stop reason, and the usage
    /// of all rounds added up (each round is a call of its own).
    message: CompletedMessage,
    tool_calls: Vec<ToolCallRecord>,
    /// Whether a tool stored, changed or retired a memory.
    changed_memory: bool,
}

impl Answer {
    fn add_round(&mut self, round: &CompletedMessage) {
        if round.id.is_empty() {
            return;
        }
        let (total, this) = (&mut self.message.usage, round.usage);
        *total = Usage {
            input_tokens: total.input_tokens + this.input_tokens,
            output_tokens: total.output_tokens + this.output_tokens,
            cache_read_input_tokens: total.cache_read_input_tokens + this.cache_read_input_tokens,
            cache_creation_input_tokens: total.cache_creation_input_tokens + this.cache_creation_input_tokens,
        };
        self.message.id = round.id.clone();
        self.message.model = round.model.clone();
        self.message.stop_reason = round.stop_reason.clone();
    }
}

impl ActiveTurn {
    async fn run(mut self) {
        let started = ChatEvent::Started {
            user_message: self.user_message.clone(),
            assistant_message_id: self.assistant_message.id,
        };
        if self.sender.send(started).await.is_err() {
            self.finish(Answer::default(), Ending::Interrupted, None, None).await;
            return;
        }
        let embedding = self.embedding.take();
        let query_vector = async move {
            match embedding {
                Some(embedding) => embedding.vector().await,
                None => None,
            }
        };
        let assembled = context::assemble(
            &self.state,
            &self.user,
            &self.conversation,
            &self.user_message.content,
            false,
            query_vector,
        )
        .await;
        let requested = Instant::now();
        let (mut request, context_used, related) = match assembled {
            Ok(context) => {
                let used = context.describe();
                let mut request = MessagesRequest {
                    system: context.system,
                    metadata: Some(serde_json::json!({ "user_id": self.user.id })),
                    user: Some(self.user.id),
                    ..MessagesRequest::new(
                        self.state.config.anthropic.model.clone(),
                        self.state.config.anthropic.max_tokens,
                        context.messages,
                    )
                };
                if self.state.config.chat.memory_tools {
                    request.tools = MEMORY_TOOLS.clone();
                }
                (request, Some(used), context.related)
            }
            Err(error) => {
                self.fail_internally(error, "could not assemble the context").await;
                return;
            }
        };
        let mut answer = Answer::default();
        let ending = self.converse(&mut request, &mut answer, requested).await;
        self.finish(answer, ending, context_used, Some(related)).await;
    }

    /// The answer's rounds: each streamed to the caller; tool calls run and their results sent
    /// back, until Claude answers without tools or the round cap makes it.
    /// `requested`: when the first round's request began to be made (its phase counts from it).
    async fn converse(&self, request: &mut MessagesRequest, answer: &mut Answer, requested: Instant) -> Ending {
        let max_rounds = self.state.config.chat.max_tool_rounds;
        let mut round = 0;
        loop {
            let mut accumulator = MessageAccumulator::default();
            let first_round = (round == 0).then_some(requested);
            let ending = self.relay(request, &mut accumulator, answer, first_round).await;
            let reply = accumulator.into_message();
            answer.add_round(&reply);
            if !matches!(ending, Ending::Complete) {
                return ending;
            }
            let wants_tools = reply.stop_reason.as_deref() == Some("tool_use") && !reply.tool_calls.is_empty();
            if !wants_tools || request.tools.is_empty() || round >= max_rounds {
                return Ending::Complete;
            }
            round += 1;
            metrics::counter!("chat_tool_rounds_total").increment(1);
            let mut asked = Vec::new();
            if !reply.text.is_empty() {
                asked.push(InputBlock::Text { text: reply.text.clone() });
            }
            let mut results = Vec::new();
            for call in &reply.tool_calls {
                asked.push(InputBlock::ToolUse {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    input: tools::input_for_replay(call),
                });
                let outcome = match self.run_tool(call).await {
                    Ok(outcome) => outcome,
                    Err(ending) => return ending,
                };
                metrics::counter!("chat_tool_calls_total", "tool" => tool_label(&call.name), "error" => outcome.is_error.to_string())
                    .increment(1);
                answer.changed_memory |= outcome.changed_memory;
                let record = ToolCallRecord {
                    name: call.name.clone(),
                    input: call.input.clone(),
                    result: outcome.summary,
                    is_error: outcome.is_error,
                };
                answer.tool_calls.push(record.clone());
                if self.sender.send(ChatEvent::ToolUse(record)).await.is_err() {
                    return Ending::Interrupted;
                }
                results.push(InputBlock::ToolResult {
                    tool_use_id: call.id.clone(),
                    content: outcome.for_claude,
                    is_error: outcome.is_error,
                });
            }
            request.messages.push(ChatMessage::blocks(Role::Assistant, asked));
            request.messages.push(ChatMessage::blocks(Role::User, results));
            if round >= max_rounds {
                // The definitions stay (the history holds tool calls, and the cached prefix
                // holds them), but this answer must end now.
                request.tool_choice = Some(ToolChoice::None);
            }
        }
    }

    /// Runs one tool call in a task of its own, so a write it began completes (and reaches the
    /// index and `memoryEvents`) even when the caller leaves meanwhile; the turn does not wait
    /// for it then.
    async fn run_tool(&self, call: &crate::llm::ToolCall) -> Result<tools::ToolOutcome, Ending> {
        let (state, user_id, message_id, call) = (self.state.clone(), self.user.id, self.user_message.id, call.clone());
        let task = tokio::spawn(async move { tools::run(&state, user_id, message_id, &call).await }.in_current_span());
        tokio::select! {
            biased;
            () = self.sender.closed() => Err(Ending::Interrupted),
            () = self.state.lifecycle.ending.cancelled() => Err(Ending::Failed(AppError::ShuttingDown)),
            outcome = task => outcome.map_err(|error| {
                Ending::Failed(anyhow::anyhow!("a memory tool task ended abnormally: {error}").into())
            }),
        }
    }

    /// Streams one round of the answer to the caller as it arrives; returns how it ended.
    /// `requested`: for the first round, when its request began to be made.
    async fn relay(
        &self,
        request: &MessagesRequest,
        accumulator: &mut MessageAccumulator,
        answer: &mut Answer,
        requested: Option<Instant>,
    ) -> Ending {
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
        if let Some(requested) = requested {
            record_phase(Phase::Request, requested.elapsed());
        }
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
                    let mut shown = String::new();
                    if first_text {
                        first_text = false;
                        if answer.message.text.is_empty() {
                            metrics::histogram!("chat_time_to_first_token_seconds").record(self.began.elapsed());
                        } else {
                            // A later round goes on after a tool call: a paragraph of its own.
                            shown.push_str("\n\n");
                        }
                    }
                    shown.push_str(text);
                    answer.message.text.push_str(&shown);
                    let relayed = Instant::now();
                    if sender.send(ChatEvent::Delta(shown)).await.is_err() {
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
    async fn finish(
        &mut self,
        answer: Answer,
        ending: Ending,
        context_used: Option<serde_json::Value>,
        related: Option<Vec<ScoredMemory>>,
    ) {
        // Without a context (the caller left at once), learning looks the memories up itself.
        if let (Some(found_sender), Some(related)) = (self.found_sender.take(), related) {
            let _ = found_sender.send(TurnFindings { related, memory_changed: answer.changed_memory });
        }
        let Answer { message: answer, tool_calls, .. } = answer;
        let answer = &answer;
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
        let stored = match self.store_answer(answer, &tool_calls, status, &ending, context_used).await {
            Ok(stored) => stored,
            Err(error) => {
                self.fail_internally(error, "could not store the answer").await;
                return;
            }
        };
        window::push_turn(self.state.short_term.as_ref(), &stored).await;
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
        tool_calls: &[ToolCallRecord],
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
        row.tool_calls = Set(if tool_calls.is_empty() {
            None
        } else {
            Some(serde_json::to_value(tool_calls).map_err(anyhow::Error::from)?)
        });
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
            ChatEvent::Delta(_) | ChatEvent::ToolUse(_) => {}
            ChatEvent::Completed { message } => {
                let user_message = user_message.ok_or_else(|| anyhow::anyhow!("turn completed before it started"))?;
                return Ok((user_message, message));
            }
            ChatEvent::Failed { error, .. } => return Err(error),
        }
    }
    Err(anyhow::anyhow!("the chat turn ended without an outcome").into())
}

/// A tool's name as a metrics label: the known ones, else `other` (a model can make names up).
fn tool_label(name: &str) -> &'static str {
    match name {
        tools::SEARCH_MEMORIES => tools::SEARCH_MEMORIES,
        tools::REMEMBER => tools::REMEMBER,
        tools::UPDATE_MEMORY => tools::UPDATE_MEMORY,
        tools::FORGET_MEMORY => tools::FORGET_MEMORY,
        _ => "other",
    }
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
