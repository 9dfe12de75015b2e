//! Conversations, their messages, the chat turn (streamed or not) and the preview of the context
//! an answer would be given.

use async_graphql::{ComplexObject, Context, ID, InputObject, Json, Object, SimpleObject, Subscription, Union};
use chrono::{DateTime, Utc};
use entity::enums::{MessageRole, MessageStatus};
use entity::{conversation, message};
use futures::Stream;
use tokio::sync::mpsc;

use super::connection::{Connection, PageArgs, connection, connection_types, page_cost, parse_id};
use super::learning::{LearnedPattern, Preference, StyleDimension};
use super::memory::{Memory, MemorySearchResult};
use super::{ContextExt as _, GqlResult};
use crate::llm::Role;
use crate::services::chat::{self, ChatEvent as TurnEvent, ToolCallRecord, context, conversations};

/// A thread of messages between the user and the assistant.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Conversation {
    /// The conversation's id.
    pub id: ID,
    /// The title (at most 200 characters); null when none was given.
    pub title: Option<String>,
    /// When the conversation was started.
    pub created_at: DateTime<Utc>,
    /// When the conversation last changed: a message was sent in it, or it was renamed.
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub uuid: uuid::Uuid,
}

impl From<conversation::Model> for Conversation {
    fn from(model: conversation::Model) -> Self {
        Self {
            id: model.id.into(),
            uuid: model.id,
            title: model.title,
            created_at: model.created_at,
            updated_at: model.updated_at,
        }
    }
}

#[ComplexObject]
impl Conversation {
    /// The conversation's messages, oldest first (reading order), answers still being written
    /// included: `last: 20` is the latest twenty. Errors: BAD_USER_INPUT (`first` with `last`, a
    /// page size outside 0 to 100, a cursor this API did not give).
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page forward: at most this many messages from the start (the oldest), \
                          or from just after `after` (0 to 100; 20 when neither `first` nor \
                          `last` is given). Not with `last`.")]
        first: Option<i32>,
        #[graphql(desc = "Page forward from just after this cursor (`endCursor`, or an edge's \
                          `cursor`).")]
        after: Option<String>,
        #[graphql(desc = "Page backward: at most this many messages from the end (the latest), \
                          or from just before `before` (0 to 100). Not with `first`.")]
        last: Option<i32>,
        #[graphql(desc = "Page backward from just before this cursor (`startCursor`, or an \
                          edge's `cursor`).")]
        before: Option<String>,
    ) -> GqlResult<Connection<Message>> {
        let page = PageArgs { first, after, last, before }.decode()?;
        let user_id = ctx.user_id()?;
        let page = conversations::messages(&ctx.state().db, user_id, self.uuid, page).await?;
        Ok(connection(page, Message::from))
    }
}

connection_types!(
    Conversation,
    "ConversationConnection",
    "A page of the caller's conversations, newest first (by when they were started, not by their \
     latest message).",
    "ConversationEdge",
    "One conversation of a page, with its cursor."
);

/// Token counts Claude reported for an answer.
#[derive(SimpleObject, Clone)]
pub struct Usage {
    /// Tokens of input (system prompt and conversation) that were not read from the prompt cache.
    pub input_tokens: i64,
    /// Tokens Claude wrote (at most `ANTHROPIC_MAX_TOKENS`, 4096 by default).
    pub output_tokens: i64,
    /// Input tokens read from Anthropic's prompt cache (billed at a fraction of the price).
    pub cache_read_input_tokens: i64,
    /// Input tokens written to Anthropic's prompt cache.
    pub cache_creation_input_tokens: i64,
}

/// One message of a conversation: the user's, or the assistant's answer.
#[derive(SimpleObject)]
pub struct Message {
    /// The message's id.
    pub id: ID,
    /// The conversation it belongs to.
    pub conversation_id: ID,
    /// Who wrote it.
    pub role: MessageRole,
    /// The text. For an answer still being written, failed or interrupted: what had arrived.
    pub content: String,
    /// Whether the message is complete, still being written, failed or interrupted (the user's
    /// messages are always COMPLETE).
    pub status: MessageStatus,
    /// Why Claude stopped, as Anthropic reports it: `end_turn`, `max_tokens` (cut at
    /// `ANTHROPIC_MAX_TOKENS`), `stop_sequence`, ... Null for the user's messages and for
    /// answers that did not finish.
    pub stop_reason: Option<String>,
    /// The Claude model that wrote the answer; null for the user's messages and for answers
    /// Claude never started.
    pub model: Option<String>,
    /// Token counts Claude reported (added up over the answer's tool rounds, each its own call);
    /// null for the user's messages and for answers Claude never started.
    pub usage: Option<Usage>,
    /// Why the answer failed, as an `extensions.code`: UPSTREAM_ERROR (Claude failed),
    /// UNAVAILABLE (the server restarted mid-answer) or INTERNAL (this server failed). Null unless
    /// the status is FAILED.
    pub error_code: Option<String>,
    /// The memory tools Claude called while writing the answer, in order (empty for the user's
    /// messages and for answers that used none).
    pub tool_calls: Vec<ToolCall>,
    /// When it was written (for an answer: when it started).
    pub created_at: DateTime<Utc>,
}

/// A memory tool Claude called while writing an answer.
#[derive(SimpleObject, Clone)]
pub struct ToolCall {
    /// The tool: `search_memories`, `remember`, `update_memory` or `forget_memory`.
    pub name: String,
    /// What Claude asked for, as it sent it (e.g. `{"query": "sister wedding"}`).
    pub input: Json<serde_json::Value>,
    /// What came of it, in words: "searched memories for 'sister wedding': 3 found",
    /// "remembered: Has a sister named Eva", or why it was refused.
    pub result: String,
    /// Whether the tool refused the call (an id that is not one of the user's memories, input
    /// that does not fit); Claude was told why and went on.
    pub is_error: bool,
}

impl From<ToolCallRecord> for ToolCall {
    fn from(record: ToolCallRecord) -> Self {
        Self { name: record.name, input: Json(record.input), result: record.result, is_error: record.is_error }
    }
}

impl From<message::Model> for Message {
    fn from(model: message::Model) -> Self {
        let usage = match (model.input_tokens, model.output_tokens) {
            (None, None) => None,
            (input, output) => Some(Usage {
                input_tokens: input.unwrap_or(0),
                output_tokens: output.unwrap_or(0),
                cache_read_input_tokens: model.cache_read_input_tokens.unwrap_or(0),
                cache_creation_input_tokens: model.cache_creation_input_tokens.unwrap_or(0),
            }),
        };
        Self {
            id: model.id.into(),
            conversation_id: model.conversation_id.into(),
            role: model.role,
            content: model.content,
            status: model.status,
            stop_reason: model.stop_reason,
            model: model.model,
            usage,
            error_code: model.error_code,
            tool_calls: model
                .tool_calls
                .and_then(|calls| serde_json::from_value::<Vec<ToolCallRecord>>(calls).ok())
                .unwrap_or_default()
                .into_iter()
                .map(ToolCall::from)
                .collect(),
            created_at: model.created_at,
        }
    }
}

connection_types!(
    Message,
    "MessageConnection",
    "A page of a conversation's messages, oldest first (reading order).",
    "MessageEdge",
    "One message of a page, with its cursor."
);

/// Input of `createConversation`.
#[derive(InputObject, Default)]
pub struct CreateConversationInput {
    /// A title: at most 200 characters; absent or blank means none.
    pub title: Option<String>,
}

/// Input of the `chat` subscription and of `sendMessage`.
#[derive(InputObject)]
pub struct ChatInput {
    /// One of the caller's conversations.
    pub conversation_id: ID,
    /// What the user says: not blank, at most `CHAT_MAX_MESSAGE_CHARS` characters (32000 by
    /// default) after trimming spaces.
    pub message: String,
}

/// The turn has begun: both messages are stored, the answer with status STREAMING.
#[derive(SimpleObject)]
pub struct ChatStarted {
    /// The id of the user's message, as stored.
    pub user_message_id: ID,
    /// The id of the answer being written; `ChatCompleted.message` and
    /// `ChatFailed.partialMessage` carry the same id.
    pub assistant_message_id: ID,
}

/// A piece of the answer, in order. Concatenated, the pieces are the answer's text.
#[derive(SimpleObject)]
pub struct ChatDelta {
    /// Text to append. Pieces that queued up while the client was slow arrive joined as one.
    pub text: String,
}

/// Claude used a memory tool while writing the answer (searched the user's memories, saved,
/// changed or forgot one); the answer goes on after it with more `ChatDelta`s.
#[derive(SimpleObject)]
pub struct ChatToolUse {
    /// The tool: `search_memories`, `remember`, `update_memory` or `forget_memory`.
    pub name: String,
    /// What Claude asked for, as it sent it (e.g. `{"query": "sister wedding"}`).
    pub input: Json<serde_json::Value>,
    /// What came of it, in words to show the user: "searched memories for 'sister wedding': 3
    /// found", "remembered: Has a sister named Eva", or why it was refused.
    pub result: String,
    /// Whether the tool refused the call; Claude was told why and goes on.
    pub is_error: bool,
}

/// The answer is complete and stored; the last event of the turn.
#[derive(SimpleObject)]
pub struct ChatCompleted {
    /// The stored answer (status COMPLETE): its content is the deltas joined.
    pub message: Message,
    /// Why Claude stopped: `end_turn`, or `max_tokens` when the answer was cut at
    /// `ANTHROPIC_MAX_TOKENS`, ...
    pub stop_reason: Option<String>,
    /// Token counts of the answer (null if Claude reported none).
    pub usage: Option<Usage>,
}

/// The answer failed; the last event of the turn. What arrived before the failure is kept in
/// `partialMessage`. Failures before the turn starts (bad input, unknown conversation, too many
/// streams) come as GraphQL errors instead, and store nothing.
#[derive(SimpleObject)]
pub struct ChatFailed {
    /// An `extensions.code`: UPSTREAM_ERROR (Claude failed, or is not configured on this
    /// server), UNAVAILABLE (this replica is restarting and ended the answer after its grace
    /// period; send the message again) or INTERNAL (this server failed; the detail is in its log).
    pub code: String,
    /// What went wrong, in words to show the user; never internal details.
    pub message: String,
    /// Whether sending the message again may work (Claude overloaded or rate-limiting, a
    /// connection or stream cut, a passing failure here); false when it would fail the same way.
    pub retryable: bool,
    /// The answer as far as it got, stored with status FAILED (null only if even that could not
    /// be stored).
    pub partial_message: Option<Message>,
}

/// One event of a streamed answer: `ChatStarted` first, then any number of `ChatDelta` (and
/// `ChatToolUse` between them, when Claude uses a memory tool), then exactly one of
/// `ChatCompleted` or `ChatFailed`, after which the subscription ends.
#[derive(Union)]
pub enum ChatEvent {
    Started(ChatStarted),
    Delta(ChatDelta),
    ToolUse(ChatToolUse),
    Completed(ChatCompleted),
    Failed(ChatFailed),
}

impl From<TurnEvent> for ChatEvent {
    fn from(event: TurnEvent) -> Self {
        match event {
            TurnEvent::Started { user_message, assistant_message_id } => Self::Started(ChatStarted {
                user_message_id: user_message.id.into(),
                assistant_message_id: assistant_message_id.into(),
            }),
            TurnEvent::Delta(text) => Self::Delta(ChatDelta { text }),
            TurnEvent::ToolUse(record) => Self::ToolUse(ChatToolUse {
                name: record.name,
                input: Json(record.input),
                result: record.result,
                is_error: record.is_error,
            }),
            TurnEvent::Completed { message } => {
                let message = Message::from(message);
                Self::Completed(ChatCompleted {
                    stop_reason: message.stop_reason.clone(),
                    usage: message.usage.clone(),
                    message,
                })
            }
            // The turn has logged its own internal failures; the client sees only the code.
            TurnEvent::Failed { error, partial } => Self::Failed(ChatFailed {
                code: error.code().to_owned(),
                message: error.client_message(),
                retryable: error.is_retryable(),
                partial_message: partial.map(Message::from),
            }),
        }
    }
}

/// What `sendMessage` returns.
#[derive(SimpleObject)]
pub struct SendMessagePayload {
    /// The user's message, as stored.
    pub user_message: Message,
    /// The complete answer, as stored.
    pub message: Message,
}

/// A message as it would be sent to Claude.
#[derive(SimpleObject)]
pub struct ContextMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// The text; consecutive messages of one role (e.g. around an answer that failed before
    /// any text) are joined by a blank line.
    pub content: String,
}

/// One block of the system prompt.
#[derive(SimpleObject)]
pub struct ContextBlock {
    /// The block's text.
    pub text: String,
    /// Whether the block is marked for Anthropic's prompt cache: the stable prefix (persona,
    /// style, preferences, core memories, interests), reused from turn to turn.
    pub cached: bool,
}

/// Exactly what the next answer in a conversation would be given, and why.
#[derive(SimpleObject)]
pub struct ContextPreview {
    /// The whole system prompt as Claude reads it: the blocks of `systemBlocks` joined by a
    /// blank line.
    pub system_prompt: String,
    /// The system prompt in its blocks: the stable, cached one first, then the memories found
    /// for this message, then the running summary of the conversation's older messages.
    pub system_blocks: Vec<ContextBlock>,
    /// The conversation as sent, oldest first: its recent window (`CHAT_WINDOW_TURNS` messages,
    /// 20 by default) with the new message last. Older messages reach Claude only through the
    /// running summary.
    pub messages: Vec<ContextMessage>,
    /// The long-term memories found for this message and included (up to 5, best first), with
    /// their scores.
    pub memories: Vec<MemorySearchResult>,
    /// The memories always included, whatever the message: importance 0.9 or more (name,
    /// allergies, diet, ...), up to 8.
    pub core_memories: Vec<Memory>,
    /// The preferences stated: confidence 0.5 or more, most certain first.
    pub preferences: Vec<Preference>,
    /// Every style dimension; those with an `instruction` are stated.
    pub style: Vec<StyleDimension>,
    /// The interests mentioned: up to 3, confidence 0.4 or more.
    pub interests: Vec<LearnedPattern>,
    /// Estimated tokens of the system prompt (about 4 characters per token).
    pub estimated_system_tokens: i32,
    /// The most the system prompt may take, in estimated tokens. Beyond it the least relevant
    /// parts are left out: memories found for the message first, then interests, then the least
    /// certain preferences.
    pub system_token_budget: i32,
}

impl From<context::AssembledContext> for ContextPreview {
    fn from(context: context::AssembledContext) -> Self {
        Self {
            system_prompt: context.system_prompt(),
            system_blocks: context
                .system
                .iter()
                .map(|b| ContextBlock { text: b.text.clone(), cached: b.cache_control.is_some() })
                .collect(),
            messages: context
                .messages
                .iter()
                .map(|m| ContextMessage {
                    role: match m.role {
                        Role::User => "user".into(),
                        Role::Assistant => "assistant".into(),
                    },
                    content: m.content.text(),
                })
                .collect(),
            memories: context.memories.into_iter().map(MemorySearchResult::from).collect(),
            core_memories: context.core_memories.into_iter().map(Memory::from).collect(),
            preferences: context.preferences.into_iter().map(Preference::from).collect(),
            style: context.style.into_iter().map(StyleDimension::from).collect(),
            interests: context.interests.into_iter().map(LearnedPattern::from).collect(),
            estimated_system_tokens: context.estimated_system_tokens as i32,
            system_token_budget: context::SYSTEM_TOKEN_BUDGET as i32,
        }
    }
}

/// The chat part of `Query`.
#[derive(Default)]
pub struct ChatQuery;

#[Object]
impl ChatQuery {
    /// The caller's conversations, newest first (by when they were started). Errors:
    /// BAD_USER_INPUT (`first` with `last`, a page size outside 0 to 100, a cursor this API did
    /// not give).
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page forward: at most this many conversations from the start (the \
                          newest), or from just after `after` (0 to 100; 20 when neither \
                          `first` nor `last` is given). Not with `last`.")]
        first: Option<i32>,
        #[graphql(desc = "Page forward from just after this cursor (`endCursor`, or an edge's \
                          `cursor`).")]
        after: Option<String>,
        #[graphql(desc = "Page backward: at most this many conversations from the end (the \
                          oldest), or from just before `before` (0 to 100). Not with `first`.")]
        last: Option<i32>,
        #[graphql(desc = "Page backward from just before this cursor (`startCursor`, or an \
                          edge's `cursor`).")]
        before: Option<String>,
    ) -> GqlResult<Connection<Conversation>> {
        let page = PageArgs { first, after, last, before }.decode()?;
        let user_id = ctx.user_id()?;
        let page = conversations::list(&ctx.state().db, user_id, page).await?;
        Ok(connection(page, Conversation::from))
    }

    /// One of the caller's conversations. Never null: an unknown id, or another user's
    /// conversation, is NOT_FOUND. Errors: NOT_FOUND, BAD_USER_INPUT (not an id).
    async fn conversation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation's id.")] id: ID,
    ) -> GqlResult<Option<Conversation>> {
        let id = parse_id("id", &id)?;
        let user_id = ctx.user_id()?;
        Ok(Some(conversations::get(&ctx.state().db, user_id, id).await?.into()))
    }

    /// Exactly what Claude would be given if `message` were sent in the conversation now, and
    /// why (memory scores, preference confidences, style instructions). Nothing is stored, sent
    /// to Claude or learned. Errors: NOT_FOUND (no such conversation of the caller's),
    /// BAD_USER_INPUT (not an id; message blank or longer than `CHAT_MAX_MESSAGE_CHARS`).
    async fn context_preview(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One of the caller's conversations.")] conversation_id: ID,
        #[graphql(desc = "The message the user would send, checked like one that is sent.")] message: String,
    ) -> GqlResult<ContextPreview> {
        let conversation_id = parse_id("conversationId", &conversation_id)?;
        let user_id = ctx.user_id()?;
        Ok(chat::turn::preview(ctx.state(), user_id, conversation_id, &message).await?.into())
    }
}

/// The chat part of `Mutation`.
#[derive(Default)]
pub struct ChatMutation;

#[Object]
impl ChatMutation {
    /// Starts a conversation and returns it. Errors: BAD_USER_INPUT (a title longer than 200
    /// characters; the caller already has the most conversations one user may, 10000 unless the
    /// operator set MAX_CONVERSATIONS_PER_USER).
    async fn create_conversation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation's title; may be omitted.")] input: Option<CreateConversationInput>,
    ) -> GqlResult<Conversation> {
        let user_id = ctx.user_id()?;
        let state = ctx.state();
        let input = input.unwrap_or_default();
        Ok(conversations::create(
            &state.db,
            user_id,
            input.title.as_deref(),
            state.config.limits.quotas.conversations_per_user,
        )
        .await?
        .into())
    }

    /// Changes a conversation's title and returns the conversation. Errors: NOT_FOUND (no such
    /// conversation of the caller's), BAD_USER_INPUT (not an id, a title longer than 200
    /// characters).
    async fn rename_conversation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation's id.")] id: ID,
        #[graphql(desc = "The new title, at most 200 characters; null or blank removes it.")] title: Option<String>,
    ) -> GqlResult<Conversation> {
        let id = parse_id("id", &id)?;
        let user_id = ctx.user_id()?;
        Ok(conversations::rename(&ctx.state().db, user_id, id, title.as_deref()).await?.into())
    }

    /// Deletes a conversation with all its messages and returns true. The
    /// memories and preferences learned from it stay. Errors: NOT_FOUND (no such conversation
    /// of the caller's), BAD_USER_INPUT (not an id).
    async fn delete_conversation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation's id.")] id: ID,
    ) -> GqlResult<bool> {
        let id = parse_id("id", &id)?;
        let user_id = ctx.user_id()?;
        let state = ctx.state();
        conversations::delete(&state.db, state.short_term.as_ref(), user_id, id).await?;
        Ok(true)
    }

    /// Sends a message and waits for the whole answer, for clients that do not stream; the
    /// `chat` subscription runs the same turn and streams it. Errors, with nothing stored:
    /// BAD_USER_INPUT (not an id; message blank or longer than `CHAT_MAX_MESSAGE_CHARS`, 32000
    /// by default), NOT_FOUND (no such conversation of the caller's), RATE_LIMITED (the caller
    /// already has `CHAT_MAX_CONCURRENT_STREAMS` answers being written, 3 by default, or their
    /// Claude budget is spent: `extensions.retryAfter` says in how many seconds it refills),
    /// UNAVAILABLE (the replica is restarting). At most once per request. After the message is stored: UPSTREAM_ERROR when
    /// Claude fails (or is not configured), UNAVAILABLE when the restart ends the answer; the
    /// partial answer stays in the conversation with status FAILED.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation and the message.")] input: ChatInput,
    ) -> GqlResult<SendMessagePayload> {
        let conversation_id = parse_id("conversationId", &input.conversation_id)?;
        let user_id = ctx.user_id()?;
        let (user_message, message) = chat::send_message(ctx.state(), user_id, conversation_id, &input.message).await?;
        Ok(SendMessagePayload { user_message: user_message.into(), message: message.into() })
    }
}

/// The chat part of `Subscription`.
#[derive(Default)]
pub struct ChatSubscription;

#[Subscription]
impl ChatSubscription {
    /// Sends a message and streams the answer as Claude writes it: `ChatStarted` first, then
    /// `ChatDelta` pieces to append in order (with a `ChatToolUse` between them each time Claude
    /// searches or changes the user's memories), then `ChatCompleted` or `ChatFailed`, and the
    /// subscription ends. Stopping the subscription (or disconnecting) stops the answer; what
    /// arrived is kept with status INTERRUPTED. Over WebSocket, authenticate in the
    /// `connection_init` payload: `{"authorization": "Bearer <key>"}`. Errors before anything is
    /// stored, as GraphQL errors: BAD_USER_INPUT (not an id; message blank or longer than
    /// `CHAT_MAX_MESSAGE_CHARS`, 32000 by default), NOT_FOUND (no such conversation of the
    /// caller's), RATE_LIMITED (the caller already has `CHAT_MAX_CONCURRENT_STREAMS` answers
    /// being written, 3 by default, or their Claude budget is spent, with
    /// `extensions.retryAfter`). Later failures arrive as `ChatFailed`.
    async fn chat(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation and the message.")] input: ChatInput,
    ) -> async_graphql::Result<impl Stream<Item = ChatEvent> + use<>> {
        let conversation_id = parse_id("conversationId", &input.conversation_id)?;
        let user_id = ctx.user_id()?;
        let receiver = chat::start_turn(ctx.state(), user_id, conversation_id, &input.message).await?;
        Ok(futures::stream::unfold((receiver, None), |(mut receiver, held)| async move {
            let event = match held {
                Some(event) => event,
                None => receiver.recv().await?,
            };
            let (event, held) = coalesce(event, &mut receiver);
            Some((ChatEvent::from(event), (receiver, held)))
        }))
    }
}

/// Deltas already waiting behind a delta go out as one: a client that falls behind (or a burst
/// from upstream) costs one message instead of many, and nothing waits that was not already late.
/// Returns the event to send and the next one, if reading ahead found a non-delta.
fn coalesce(event: TurnEvent, receiver: &mut mpsc::Receiver<TurnEvent>) -> (TurnEvent, Option<TurnEvent>) {
    let TurnEvent::Delta(mut text) = event else { return (event, None) };
    while let Ok(next) = receiver.try_recv() {
        match next {
            TurnEvent::Delta(more) => text.push_str(&more),
            other => return (TurnEvent::Delta(text), Some(other)),
        }
    }
    (TurnEvent::Delta(text), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_deltas_are_joined_and_order_is_kept() {
        let (sender, mut receiver) = mpsc::channel(8);
        for piece in ["b", "c"] {
            sender.send(TurnEvent::Delta(piece.into())).await.unwrap();
        }
        sender.send(TurnEvent::Failed { error: crate::error::AppError::bad_input("m"), partial: None }).await.unwrap();
        let (event, held) = coalesce(TurnEvent::Delta("a".into()), &mut receiver);
        assert!(matches!(event, TurnEvent::Delta(text) if text == "abc"));
        assert!(matches!(held, Some(TurnEvent::Failed { .. })));
        let (event, held) = coalesce(TurnEvent::Delta("z".into()), &mut receiver);
        assert!(matches!(event, TurnEvent::Delta(text) if text == "z"));
        assert!(held.is_none());
    }
}
