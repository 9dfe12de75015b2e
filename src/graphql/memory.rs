//! Long-term memories: listing, search, changes with their history, and the live feed of changes.

use async_graphql::{
    ComplexObject, Context, Enum, ErrorExtensions as _, ID, InputObject, Object, SimpleObject, Subscription,
};
use chrono::{DateTime, Utc};
use entity::enums::{MemoryCategory, MemoryChange, MemorySource};
use entity::{memory, memory_history};
use futures::Stream;

use super::connection::{
    Connection, PageArgs, connection, connection_types, history_size, list_cost, page_cost, parse_id,
};
use super::{ContextExt as _, GqlResult};
use crate::error::AppError;
use crate::error::code;
use crate::services::memory::{memories, retrieval};
use crate::store::memory_events;
use crate::store::pubsub::Lagged;

/// Something about the user worth knowing in later conversations, stated by the user
/// (`remember`) or learned from what they said.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Memory {
    /// The memory's id.
    pub id: ID,
    /// What is remembered, as a sentence (at most 2000 characters).
    pub content: String,
    /// What kind of thing it is.
    pub category: MemoryCategory,
    /// How much it matters, from 0 (trivia) to 1 (must never be missed). Memories of 0.9 or
    /// more (up to 8, the most important first) go into every answer's context, whatever the
    /// message.
    pub importance: f64,
    /// How the memory came to be.
    pub source: MemorySource,
    /// When it became true: when it was stored.
    pub valid_from: DateTime<Utc>,
    /// When it stopped being true: null while it holds; set when it was retired (superseded or
    /// contradicted). A retired memory is out of `memories`, search and context, and can still
    /// be read with `memory(id)`.
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
    /// Former versions of this memory, oldest first: one for each update, and the last one
    /// when it was retired; the latest `last` of them. Empty for a memory that never changed.
    /// Errors: BAD_USER_INPUT (`last` outside 1 to 100).
    #[graphql(complexity = "list_cost(Some(last), 20, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many versions, the latest ones (1 to 100).", default = 20)] last: i32,
    ) -> GqlResult<Vec<MemoryVersion>> {
        let last = history_size(last)?;
        let user_id = ctx.user_id()?;
        let rows = memories::history(&ctx.state().db, user_id, self.uuid, last).await?;
        Ok(rows.into_iter().map(MemoryVersion::from).collect())
    }
}

connection_types!(
    Memory,
    "MemoryConnection",
    "A page of the caller's memories that still hold, newest first (by when they were stored).",
    "MemoryEdge",
    "One memory of a page, with its cursor."
);

/// A former version of a memory.
#[derive(SimpleObject)]
pub struct MemoryVersion {
    /// What the memory said then.
    pub content: String,
    /// Its category then.
    pub category: MemoryCategory,
    /// Its importance then, 0 to 1.
    pub importance: f64,
    /// Why this version ended: the memory was updated, or retired.
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

/// A memory found for a text (`searchMemories`, or the context of an answer), with why it was
/// found.
#[derive(SimpleObject)]
pub struct MemorySearchResult {
    /// The relevance the results are ordered by, higher first: meaning and keyword ranks fused,
    /// nudged by importance and recency. Positive; comparable only within one search.
    pub score: f64,
    /// Cosine similarity of meaning to the query, -1 to 1 (unrelated sentences score about 0 to
    /// 0.15). Null when the memory was not among the nearest by meaning and was found by its
    /// words.
    pub similarity: Option<f64>,
    /// BM25 keyword relevance among the caller's memories: 0 when no word is shared, higher for
    /// more and rarer shared words (unbounded).
    pub keyword_score: f64,
    /// The memory.
    pub memory: Memory,
}

impl From<retrieval::ScoredMemory> for MemorySearchResult {
    fn from(found: retrieval::ScoredMemory) -> Self {
        Self {
            score: found.score,
            similarity: found.similarity.map(f64::from),
            keyword_score: found.keyword,
            memory: found.memory.into(),
        }
    }
}

/// Which memories to list; the conditions given must all hold.
#[derive(InputObject, Default)]
pub struct MemoryFilter {
    /// Only memories of this category.
    pub category: Option<MemoryCategory>,
    /// Only memories stored at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// Input of `remember`.
#[derive(InputObject)]
pub struct RememberInput {
    /// What to remember, as a sentence: 1 to 2000 characters after trimming spaces.
    pub content: String,
    /// What kind of thing it is; FACT when absent.
    pub category: Option<MemoryCategory>,
    /// How much it matters, 0 to 1; 0.5 when absent. 0.9 or more puts it in every answer's
    /// context.
    pub importance: Option<f64>,
    /// EXPLICIT (default): the user states it. IMPORTED: brought in from elsewhere, e.g. a line
    /// of a chat with other people; searched like the rest, ranked below the user's own facts.
    /// Other sources are the assistant's own and refused here (BAD_USER_INPUT).
    pub source: Option<MemorySource>,
}

/// Input of `updateMemory`: only the fields given change, and at least one must be given.
#[derive(InputObject)]
pub struct UpdateMemoryInput {
    /// The new content: 1 to 2000 characters after trimming spaces.
    pub content: Option<String>,
    /// The new category.
    pub category: Option<MemoryCategory>,
    /// The new importance, 0 to 1.
    pub importance: Option<f64>,
}

/// What happened to a memory.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryEventKind {
    /// A new memory was stored.
    Added,
    /// A memory's content, category or importance changed (its history has the former version).
    Updated,
    /// A memory was forgotten, or retired because it no longer holds.
    Removed,
}

/// A change to one of the caller's memories, from `remember`, `updateMemory` or `forgetMemory`
/// (on any replica) or from what the assistant learned in a conversation.
#[derive(SimpleObject)]
pub struct MemoryEvent {
    /// What happened.
    pub kind: MemoryEventKind,
    /// The memory as it is now (for REMOVED: as it was last).
    pub memory: Memory,
}

impl From<memory_events::MemoryEvent> for MemoryEvent {
    fn from(event: memory_events::MemoryEvent) -> Self {
        use memory_events::MemoryEventKind as Kind;
        let kind = match event.kind {
            Kind::Added => MemoryEventKind::Added,
            Kind::Updated => MemoryEventKind::Updated,
            Kind::Removed => MemoryEventKind::Removed,
        };
        Self { kind, memory: event.memory.into() }
    }
}

/// The memory part of `Query`.
#[derive(Default)]
pub struct MemoryQuery;

#[Object]
impl MemoryQuery {
    /// The caller's memories that still hold (retired ones are left out), newest first.
    /// Errors: BAD_USER_INPUT (`first` with `last`, a page size outside 0 to 100, a cursor this
    /// API did not give).
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn memories(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page forward: at most this many memories (0 to 100; 20 when neither \
                          `first` nor `last` is given). Not with `last`.")]
        first: Option<i32>,
        #[graphql(desc = "Page forward from just after this cursor (`endCursor`, or an edge's \
                          `cursor`).")]
        after: Option<String>,
        #[graphql(desc = "Page backward: at most this many memories from the end of the list (its \
                          oldest), or from just before `before` (0 to 100). Not with `first`.")]
        last: Option<i32>,
        #[graphql(desc = "Page backward from just before this cursor (`startCursor`, or an \
                          edge's `cursor`).")]
        before: Option<String>,
        #[graphql(desc = "Only the memories that match; all when absent.")] filter: Option<MemoryFilter>,
    ) -> GqlResult<Connection<Memory>> {
        let page = PageArgs { first, after, last, before }.decode()?;
        let user_id = ctx.user_id()?;
        let filter = filter.unwrap_or_default();
        let filter = memories::MemoryFilter { category: filter.category, since: filter.since };
        let page = memories::list(&ctx.state().db, user_id, filter, page).await?;
        Ok(connection(page, Memory::from))
    }

    /// The caller's memories most relevant to `query`, best first, by meaning and by keywords,
    /// nudged by importance and recency. Memories unrelated to the query (neither close in
    /// meaning nor sharing a word) are left out, so the list may be shorter than `limit`, or
    /// empty; retired memories are never returned. Errors: BAD_USER_INPUT (blank `query`, one
    /// longer than 1000 characters (SEARCH_MAX_QUERY_CHARS), `limit` outside 1 to 50).
    #[graphql(complexity = "list_cost(Some(limit), 10, child_complexity)")]
    async fn search_memories(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to look for, in the user's words (a question or a phrase); must \
                          not be blank.")]
        query: String,
        #[graphql(desc = "The most results to return, 1 to 50.", default = 10)] limit: i32,
    ) -> GqlResult<Vec<MemorySearchResult>> {
        let user_id = ctx.user_id()?;
        let state = ctx.state();
        let most = state.config.limits.quotas.search_query_chars;
        let length = query.chars().count();
        if length > most {
            return Err(AppError::bad_input(format!(
                "query is too long ({length} characters; at most {most}, SEARCH_MAX_QUERY_CHARS)"
            ))
            .into());
        }
        let limit = usize::try_from(limit).unwrap_or(0);
        let found = retrieval::search(state, user_id, &query, limit).await?;
        Ok(found.into_iter().map(MemorySearchResult::from).collect())
    }

    /// One of the caller's memories, retired ones included (`validTo` says when it stopped
    /// holding). Never null: an unknown id, or another user's memory, is NOT_FOUND. Errors:
    /// NOT_FOUND, BAD_USER_INPUT (not an id).
    async fn memory(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The memory's id.")] id: ID,
    ) -> GqlResult<Option<Memory>> {
        let id = parse_id("id", &id)?;
        let user_id = ctx.user_id()?;
        Ok(Some(memories::get(&ctx.state().db, user_id, id).await?.into()))
    }
}

/// The memory part of `Mutation`.
#[derive(Default)]
pub struct MemoryMutation;

#[Object]
impl MemoryMutation {
    /// Stores something the assistant should remember, and returns it. If a memory that still
    /// holds already says the same (ignoring case), that memory is returned unchanged instead of
    /// a second one. `memoryEvents` reports a new memory as ADDED. Errors: BAD_USER_INPUT (blank or longer
    /// than 2000 characters, importance outside 0 to 1, the caller already keeps the most memories one
    /// user may: 100000 that still hold unless the operator set MAX_MEMORIES_PER_USER).
    async fn remember(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to remember.")] input: RememberInput,
    ) -> GqlResult<Memory> {
        let user_id = ctx.user_id()?;
        let new = memories::NewMemory {
            content: &input.content,
            category: input.category,
            importance: input.importance,
            source: memories::source_for_remember(input.source)?,
            source_message_id: None,
        };
        Ok(memories::remember(ctx.state(), user_id, new).await?.into())
    }

    /// Changes a memory that still holds and returns it; the former version goes into its
    /// `history` (change UPDATED) and `memoryEvents` reports it as UPDATED. Errors: NOT_FOUND (no
    /// such memory of the caller's, or it was retired), BAD_USER_INPUT (not an id, nothing to
    /// change, content blank or longer than 2000 characters, importance outside 0 to 1).
    async fn update_memory(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The memory's id.")] id: ID,
        #[graphql(desc = "What changes.")] input: UpdateMemoryInput,
    ) -> GqlResult<Memory> {
        let id = parse_id("id", &id)?;
        let user_id = ctx.user_id()?;
        let changes = memories::MemoryChanges {
            content: input.content.as_deref(),
            category: input.category,
            importance: input.importance,
        };
        Ok(memories::update(ctx.state(), user_id, id, changes).await?.into())
    }

    /// Forgets a memory for good, with its history (retired memories too), and returns true.
    /// `memoryEvents` reports it as REMOVED. Errors: NOT_FOUND (no such memory of the
    /// caller's), BAD_USER_INPUT (not an id).
    async fn forget_memory(&self, ctx: &Context<'_>, #[graphql(desc = "The memory's id.")] id: ID) -> GqlResult<bool> {
        let id = parse_id("id", &id)?;
        let user_id = ctx.user_id()?;
        memories::forget(ctx.state(), user_id, id).await?;
        Ok(true)
    }
}

/// The memory part of `Subscription`.
#[derive(Default)]
pub struct MemorySubscription;

#[Subscription]
impl MemorySubscription {
    /// The caller's memories as they change, from the moment of subscribing (nothing is
    /// replayed): added, updated or removed, whether by the caller's mutations on any replica or
    /// by what the assistant learned in a conversation. Never ends by itself, but for this: a
    /// subscriber that falls more than 256 events behind gets one error (code UNAVAILABLE,
    /// saying how many it missed) and the subscription ends; re-read `memories` and subscribe
    /// again. Over WebSocket, authenticate in the `connection_init` payload.
    async fn memory_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = GqlResult<MemoryEvent>> + use<>> {
        let user_id = ctx.user_id()?;
        let subscription = ctx.state().memory_events.subscribe(user_id);
        Ok(futures::stream::unfold(Some(subscription), move |subscription| async move {
            let mut subscription = subscription?;
            match subscription.recv().await {
                Ok(event) => Some((Ok(MemoryEvent::from(event)), Some(subscription))),
                Err(Lagged(missed)) => {
                    tracing::warn!(user = %user_id, missed, "a memoryEvents subscriber fell behind; ending it");
                    let message = format!(
                        "this subscription fell behind and missed {missed} memory events; re-read `memories` and subscribe again"
                    );
                    let error = async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code::UNAVAILABLE));
                    Some((Err(error), None))
                }
            }
        }))
    }
}
