//! The object types clients see. Each wraps a stored row; doc comments are the descriptions
//! GraphiQL shows.

use async_graphql::{ComplexObject, Context, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};
use entity::enums::{
    MemoryCategory, MemoryChange, MemorySource, MessageRole, MessageStatus, PatternKind, PreferenceSource,
};
use entity::{api_key, conversation, learned_pattern, memory, memory_history, message, preference, user};

use super::connection::{PageArgs, connection};
use super::{ContextExt as _, GqlResult};
use crate::services::memory::memories;
use crate::services::{chat, learning};

/// A person who has an assistant.
#[derive(SimpleObject)]
pub struct User {
    /// The user's id.
    pub id: ID,
    /// The name the assistant uses for the user.
    pub display_name: String,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

impl From<user::Model> for User {
    fn from(model: user::Model) -> Self {
        Self { id: model.id.into(), display_name: model.display_name, created_at: model.created_at }
    }
}

/// An API key, without its secret (which is shown only once, when the key is made).
#[derive(SimpleObject)]
pub struct ApiKey {
    /// The key's id (use it to revoke the key).
    pub id: ID,
    /// A label to tell keys apart.
    pub name: String,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    /// When the key was made.
    pub created_at: DateTime<Utc>,
    /// When the key was last used (updated at most every few minutes).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the key was revoked; a revoked key no longer works.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_key::Model> for ApiKey {
    fn from(model: api_key::Model) -> Self {
        Self {
            id: model.id.into(),
            name: model.name,
            prefix: model.prefix,
            created_at: model.created_at,
            last_used_at: model.last_used_at,
            revoked_at: model.revoked_at,
        }
    }
}

/// A thread of messages between the user and the assistant.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Conversation {
    /// The conversation's id.
    pub id: ID,
    /// The title, if one was given.
    pub title: Option<String>,
    /// When the conversation was started.
    pub created_at: DateTime<Utc>,
    /// When the conversation last changed.
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
    /// The conversation's messages, oldest first. Use `last` for the most recent ones.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<async_graphql::connection::Connection<String, Message>> {
        let page = PageArgs { first, after, last, before }.decode()?;
        let user_id = ctx.user_id()?;
        let page = chat::conversations::messages(&ctx.state().db, user_id, self.uuid, page).await?;
        Ok(connection(page, Message::from))
    }
}

/// Token counts the model reported for an answer.
#[derive(SimpleObject, Clone)]
pub struct Usage {
    /// Tokens of input (prompt) that were not read from the prompt cache.
    pub input_tokens: i64,
    /// Tokens the model wrote.
    pub output_tokens: i64,
    /// Input tokens read from the prompt cache.
    pub cache_read_input_tokens: i64,
    /// Input tokens written to the prompt cache.
    pub cache_creation_input_tokens: i64,
}

/// One message of a conversation.
#[derive(SimpleObject)]
pub struct Message {
    /// The message's id.
    pub id: ID,
    /// The conversation it belongs to.
    pub conversation_id: ID,
    /// Who wrote it.
    pub role: MessageRole,
    /// The text. For an answer that failed or was interrupted, what arrived until then.
    pub content: String,
    /// Whether the message is complete, still being written, failed or interrupted.
    pub status: MessageStatus,
    /// Why the model stopped (`end_turn`, `max_tokens`, ...), for answers.
    pub stop_reason: Option<String>,
    /// The model that wrote it, for answers.
    pub model: Option<String>,
    /// Token counts, for answers.
    pub usage: Option<Usage>,
    /// The error code, when the answer failed.
    pub error_code: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
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
            created_at: model.created_at,
        }
    }
}

/// Something about the user worth knowing in later conversations.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Memory {
    /// The memory's id.
    pub id: ID,
    /// What is remembered, as a sentence.
    pub content: String,
    /// What kind of thing it is.
    pub category: MemoryCategory,
    /// 0 (trivia) to 1 (must never be forgotten).
    pub importance: f64,
    /// How the memory came to be.
    pub source: MemorySource,
    /// When it became true.
    pub valid_from: DateTime<Utc>,
    /// When it stopped being true (null while it holds).
    pub valid_to: Option<DateTime<Utc>>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub uuid: uuid::Uuid,
}

impl From<memory::Model> for Memory {
    fn from(model: memory::Model) -> Self {
        Self {
            id: model.id.into(),
            uuid: model.id,
            content: model.content,
            category: model.category,
            importance: model.importance,
            source: model.source,
            valid_from: model.valid_from,
            valid_to: model.valid_to,
            created_at: model.created_at,
            updated_at: model.updated_at,
        }
    }
}

#[ComplexObject]
impl Memory {
    /// Former versions of this memory, oldest first.
    async fn history(&self, ctx: &Context<'_>) -> GqlResult<Vec<MemoryVersion>> {
        let user_id = ctx.user_id()?;
        let rows = memories::history(&ctx.state().db, user_id, self.uuid).await?;
        Ok(rows.into_iter().map(MemoryVersion::from).collect())
    }
}

/// A former version of a memory.
#[derive(SimpleObject)]
pub struct MemoryVersion {
    /// What the memory said then.
    pub content: String,
    /// Its category then.
    pub category: MemoryCategory,
    /// Its importance then.
    pub importance: f64,
    /// Why this version ended.
    pub change: MemoryChange,
    /// When this version started to hold.
    pub valid_from: DateTime<Utc>,
    /// When this version stopped holding.
    pub valid_to: DateTime<Utc>,
}

impl From<memory_history::Model> for MemoryVersion {
    fn from(model: memory_history::Model) -> Self {
        Self {
            content: model.content,
            category: model.category,
            importance: model.importance,
            change: model.change,
            valid_from: model.valid_from,
            valid_to: model.valid_to,
        }
    }
}

/// How the user wants to be helped, as a key and a value.
#[derive(SimpleObject)]
pub struct Preference {
    /// The preference's name, e.g. `response_length`.
    pub key: String,
    /// Its value, e.g. `short`.
    pub value: String,
    /// Whether the user set it, or it was inferred or learned from feedback.
    pub source: PreferenceSource,
    /// How sure the assistant is, 0 to 1 (explicit preferences are 1).
    pub confidence: f64,
    /// How many times it has been stated or observed.
    pub evidence_count: i32,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<preference::Model> for Preference {
    fn from(model: preference::Model) -> Self {
        Self {
            key: model.key,
            value: model.value,
            source: model.source,
            confidence: model.confidence,
            evidence_count: model.evidence_count,
            updated_at: model.updated_at,
        }
    }
}

/// Something learned about how the user behaves.
#[derive(SimpleObject)]
pub struct LearnedPattern {
    /// The family of pattern.
    pub kind: PatternKind,
    /// What it is about, e.g. a topic for an interest.
    pub key: String,
    /// What was learned.
    pub value: String,
    /// How sure the assistant is, 0 to 1.
    pub confidence: f64,
    /// How many observations support it.
    pub evidence_count: i32,
    /// When it was first observed.
    pub first_seen_at: DateTime<Utc>,
    /// When it was last observed.
    pub last_seen_at: DateTime<Utc>,
}

impl From<learned_pattern::Model> for LearnedPattern {
    fn from(model: learned_pattern::Model) -> Self {
        Self {
            kind: model.kind,
            key: model.key,
            value: model.value,
            confidence: model.confidence,
            evidence_count: model.evidence_count,
            first_seen_at: model.first_seen_at,
            last_seen_at: model.last_seen_at,
        }
    }
}

/// What this server runs on.
#[derive(SimpleObject)]
pub struct ServerInfo {
    /// The server's version.
    pub version: String,
    /// The SQL database in use: `sqlite` or `postgres`.
    pub database: String,
    /// Where short-term conversation windows live: `redis` or `in-process`.
    pub short_term_store: String,
    /// What turns memories into vectors for search by meaning.
    pub embedder: EmbedderInfo,
}

/// The embedding model in use.
#[derive(SimpleObject)]
pub struct EmbedderInfo {
    /// The model's name (`all-MiniLM-L6-v2`, an API model, or `hashing-fallback`).
    pub name: String,
    /// The size of its vectors.
    pub dimensions: i32,
    /// True when no real model is available and a word-hashing fallback stands in: search by
    /// meaning then only finds shared words. Install the model (`scripts/fetch-model.sh`).
    pub degraded: bool,
}

/// Input of `createUser`.
#[derive(InputObject)]
pub struct CreateUserInput {
    /// The name the assistant uses for the user (1-100 characters).
    pub display_name: String,
}

/// What `createUser` returns.
#[derive(SimpleObject)]
pub struct CreateUserPayload {
    /// The new user.
    pub user: User,
    /// The user's first API key. Shown only now: store it.
    pub api_key: String,
}

/// Input of `createApiKey`.
#[derive(InputObject, Default)]
pub struct CreateApiKeyInput {
    /// A label to tell keys apart (e.g. "laptop").
    pub name: Option<String>,
}

/// What `createApiKey` returns.
#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    /// The new key's secret. Shown only now: store it.
    pub api_key: String,
    /// The new key's record.
    pub key: ApiKey,
}

/// Input of `createConversation`.
#[derive(InputObject, Default)]
pub struct CreateConversationInput {
    /// An optional title (at most 200 characters).
    pub title: Option<String>,
}

/// Input of `remember`.
#[derive(InputObject)]
pub struct RememberInput {
    /// What to remember, as a sentence (at most 2000 characters).
    pub content: String,
    /// What kind of thing it is (default FACT).
    pub category: Option<MemoryCategory>,
    /// 0 to 1 (default 0.5).
    pub importance: Option<f64>,
    /// EXPLICIT (default): the user states it. IMPORTED: brought in from elsewhere, e.g. a line
    /// of a chat with other people; searched like the rest, ranked below the user's own facts.
    pub source: Option<MemorySource>,
}

/// Input of `updateMemory`: only the fields given change.
#[derive(InputObject)]
pub struct UpdateMemoryInput {
    /// New content.
    pub content: Option<String>,
    /// New category.
    pub category: Option<MemoryCategory>,
    /// New importance, 0 to 1.
    pub importance: Option<f64>,
}

/// Which memories to list.
#[derive(InputObject, Default)]
pub struct MemoryFilter {
    /// Only this category.
    pub category: Option<MemoryCategory>,
    /// Only memories stored at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// Input of `setPreference`.
#[derive(InputObject)]
pub struct SetPreferenceInput {
    /// The preference's name: letters, digits, '_', '.', '-' (e.g. `response_length`).
    pub key: String,
    /// Its value (at most 1000 characters).
    pub value: String,
}

/// Input of the `chat` subscription and of `sendMessage`.
#[derive(InputObject)]
pub struct ChatInput {
    /// One of the caller's conversations.
    pub conversation_id: ID,
    /// What the user says.
    pub message: String,
}

/// The turn has begun: both messages exist (the answer with status STREAMING).
#[derive(SimpleObject)]
pub struct ChatStarted {
    /// The stored user message.
    pub user_message_id: ID,
    /// The answer being written.
    pub assistant_message_id: ID,
}

/// A piece of the answer, in order. Concatenated, the pieces are the answer.
#[derive(SimpleObject)]
pub struct ChatDelta {
    /// Text to append.
    pub text: String,
}

/// The answer is complete.
#[derive(SimpleObject)]
pub struct ChatCompleted {
    /// The stored answer.
    pub message: Message,
    /// Why the model stopped (`end_turn`, `max_tokens`, ...).
    pub stop_reason: Option<String>,
    /// Token counts of the answer.
    pub usage: Option<Usage>,
}

/// The answer failed. What arrived before the failure is kept in `partialMessage`.
#[derive(SimpleObject)]
pub struct ChatFailed {
    /// `UPSTREAM_ERROR` (Claude failed) or `INTERNAL`.
    pub code: String,
    /// What went wrong, for the user.
    pub message: String,
    /// Whether sending the message again may work.
    pub retryable: bool,
    /// The answer as far as it got (status FAILED).
    pub partial_message: Option<Message>,
}

/// One event of a streamed answer.
#[derive(async_graphql::Union)]
pub enum ChatEvent {
    Started(ChatStarted),
    Delta(ChatDelta),
    Completed(ChatCompleted),
    Failed(ChatFailed),
}

impl From<crate::services::chat::ChatEvent> for ChatEvent {
    fn from(event: crate::services::chat::ChatEvent) -> Self {
        use crate::services::chat::ChatEvent as Event;
        match event {
            Event::Started { user_message, assistant_message_id } => Self::Started(ChatStarted {
                user_message_id: user_message.id.into(),
                assistant_message_id: assistant_message_id.into(),
            }),
            Event::Delta(text) => Self::Delta(ChatDelta { text }),
            Event::Completed { message } => {
                let message = Message::from(message);
                Self::Completed(ChatCompleted {
                    stop_reason: message.stop_reason.clone(),
                    usage: message.usage.clone(),
                    message,
                })
            }
            // The turn has logged its own internal failures; the client sees only the code.
            Event::Failed { error, partial } => Self::Failed(ChatFailed {
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
    /// The stored user message.
    pub user_message: Message,
    /// The stored answer.
    pub message: Message,
}

/// A memory found by `searchMemories`, with why it was found.
#[derive(SimpleObject)]
pub struct MemorySearchResult {
    /// The fused relevance the results are ordered by (higher is better).
    pub score: f64,
    /// Cosine similarity of meaning to the query (null when found by its words only).
    pub similarity: Option<f64>,
    /// BM25 keyword relevance (0 when no word is shared).
    pub keyword_score: f64,
    /// The memory.
    pub memory: Memory,
}

impl From<crate::services::memory::retrieval::ScoredMemory> for MemorySearchResult {
    fn from(found: crate::services::memory::retrieval::ScoredMemory) -> Self {
        Self {
            score: found.score,
            similarity: found.similarity.map(f64::from),
            keyword_score: found.keyword,
            memory: found.memory.into(),
        }
    }
}

/// What happened to a memory.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryEventKind {
    /// A new memory was stored.
    Added,
    /// A memory's content, category or importance changed (its history has the former version).
    Updated,
    /// A memory was forgotten, or retired because it no longer holds.
    Removed,
}

/// A change to one of the caller's memories, from `remember`/`updateMemory`/`forgetMemory` or
/// from what the assistant learned in a conversation.
#[derive(SimpleObject)]
pub struct MemoryEvent {
    pub kind: MemoryEventKind,
    /// The memory as it is now (for REMOVED: as it was last).
    pub memory: Memory,
}

impl From<crate::store::memory_events::MemoryEvent> for MemoryEvent {
    fn from(event: crate::store::memory_events::MemoryEvent) -> Self {
        use crate::store::memory_events::MemoryEventKind as Kind;
        let kind = match event.kind {
            Kind::Added => MemoryEventKind::Added,
            Kind::Updated => MemoryEventKind::Updated,
            Kind::Removed => MemoryEventKind::Removed,
        };
        Self { kind, memory: event.memory.into() }
    }
}

/// How the user likes answers, learned from what they say and how they rate answers.
#[derive(SimpleObject)]
pub struct StyleProfile {
    /// Each dimension: a value from 0 to 1 with how sure the assistant is.
    pub dimensions: Vec<StyleDimension>,
}

/// One dimension of the style profile (a Beta posterior: its mean and the evidence behind it).
#[derive(SimpleObject)]
pub struct StyleDimension {
    /// `verbosity`, `formality`, `technical_depth`, `examples` or `structure`.
    pub name: String,
    /// 0 to 1; 0.5 is no lean either way.
    pub value: f64,
    /// How sure the assistant is, 0 (nothing learned) to 1.
    pub confidence: f64,
    /// How many signals (statements, ratings, messages) shaped it.
    pub evidence_count: i32,
    /// What 0 and 1 mean.
    pub description: String,
    /// The instruction Claude gets from it now (null while unsure or near the middle).
    pub instruction: Option<String>,
    /// When it last changed (null while never).
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<learning::style::StyleValue> for StyleDimension {
    fn from(value: learning::style::StyleValue) -> Self {
        Self {
            name: value.dimension.name().into(),
            value: value.value,
            confidence: value.confidence,
            evidence_count: value.evidence_count,
            description: value.dimension.description().into(),
            instruction: value.instruction().map(str::to_owned),
            updated_at: value.updated_at,
        }
    }
}

/// A former value of a preference.
#[derive(SimpleObject)]
pub struct PreferenceVersion {
    pub key: String,
    pub value: String,
    pub source: PreferenceSource,
    pub confidence: f64,
    /// Why this value ended.
    pub change: entity::enums::PreferenceChange,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
}

impl From<entity::preference_history::Model> for PreferenceVersion {
    fn from(model: entity::preference_history::Model) -> Self {
        Self {
            key: model.key,
            value: model.value,
            source: model.source,
            confidence: model.confidence,
            change: model.change,
            valid_from: model.valid_from,
            valid_to: model.valid_to,
        }
    }
}

#[derive(InputObject)]
pub struct RateMessageInput {
    /// An answer of the assistant.
    pub message_id: ID,
    pub rating: entity::enums::Rating,
    /// Why, in the user's words ("too long", "too technical", "perfect"): the assistant learns from it.
    pub reason: Option<String>,
}

/// A rating of an answer.
#[derive(SimpleObject)]
pub struct MessageRating {
    pub message_id: ID,
    pub rating: entity::enums::Rating,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The style profile after learning from this rating.
    pub style_profile: StyleProfile,
}

/// A message as it would be sent to Claude.
#[derive(SimpleObject)]
pub struct ContextMessage {
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
}

/// One block of the system prompt.
#[derive(SimpleObject)]
pub struct ContextBlock {
    pub text: String,
    /// Marked for Anthropic's prompt cache (the stable prefix).
    pub cached: bool,
}

/// Exactly what the next answer in a conversation would be given, and why.
#[derive(SimpleObject)]
pub struct ContextPreview {
    /// The whole system prompt, as Claude reads it.
    pub system_prompt: String,
    /// The system prompt in its blocks, stable (cached) first.
    pub system_blocks: Vec<ContextBlock>,
    /// The conversation as sent: running window plus the new message.
    pub messages: Vec<ContextMessage>,
    /// The long-term memories included for this message, with their scores.
    pub memories: Vec<MemorySearchResult>,
    /// The memories always included (importance 0.9 or more: name, allergies, diet, ...).
    pub core_memories: Vec<Memory>,
    /// The preferences stated, with their confidence.
    pub preferences: Vec<Preference>,
    /// Every style dimension; those with an instruction are stated.
    pub style: Vec<StyleDimension>,
    /// The interests mentioned.
    pub interests: Vec<LearnedPattern>,
    /// Estimated tokens of the system prompt (about 4 characters per token).
    pub estimated_system_tokens: i32,
    /// The most the system prompt may take; the least relevant parts are cut beyond it.
    pub system_token_budget: i32,
}

impl From<chat::context::AssembledContext> for ContextPreview {
    fn from(context: chat::context::AssembledContext) -> Self {
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
                        crate::llm::Role::User => "user".into(),
                        crate::llm::Role::Assistant => "assistant".into(),
                    },
                    content: m.content.clone(),
                })
                .collect(),
            memories: context.memories.into_iter().map(MemorySearchResult::from).collect(),
            core_memories: context.core_memories.into_iter().map(Memory::from).collect(),
            preferences: context.preferences.into_iter().map(Preference::from).collect(),
            style: context.style.into_iter().map(StyleDimension::from).collect(),
            interests: context.interests.into_iter().map(LearnedPattern::from).collect(),
            estimated_system_tokens: context.estimated_system_tokens as i32,
            system_token_budget: chat::context::SYSTEM_TOKEN_BUDGET as i32,
        }
    }
}
