use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};

use super::connection::{PageArgs, connection, parse_id};
use super::types::{
    ApiKey, ContextPreview, Conversation, EmbedderInfo, LearnedPattern, Memory, MemoryFilter, MemorySearchResult,
    Preference, PreferenceVersion, ServerInfo, StyleDimension, StyleProfile, User,
};
use super::{ContextExt as _, GqlResult};
use crate::services::account::{auth, privacy};
use crate::services::chat::{self, conversations};
use crate::services::learning::{patterns, preferences, style};
use crate::services::memory::{memories, retrieval};

pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// The user the API key belongs to.
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<User> {
        let user_id = ctx.user_id()?;
        Ok(auth::find_user(&ctx.state().db, user_id).await?.into())
    }

    /// The caller's API keys, live and revoked, oldest first.
    async fn api_keys(&self, ctx: &Context<'_>) -> GqlResult<Vec<ApiKey>> {
        let user_id = ctx.user_id()?;
        Ok(auth::list_keys(&ctx.state().db, user_id).await?.into_iter().map(ApiKey::from).collect())
    }

    /// The caller's conversations, newest first.
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, Conversation>> {
        let page = PageArgs { first, after, last, before }.decode()?;
        let user_id = ctx.user_id()?;
        let page = conversations::list(&ctx.state().db, user_id, page).await?;
        Ok(connection(page, Conversation::from))
    }

    /// One of the caller's conversations (NOT_FOUND when there is no such conversation).
    async fn conversation(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Conversation>> {
        let id = parse_id("id", &id)?;
        let user_id = ctx.user_id()?;
        Ok(Some(conversations::get(&ctx.state().db, user_id, id).await?.into()))
    }

    /// The caller's current memories, newest first.
    async fn memories(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<MemoryFilter>,
    ) -> GqlResult<Connection<String, Memory>> {
        let page = PageArgs { first, after, last, before }.decode()?;
        let user_id = ctx.user_id()?;
        let filter = filter.unwrap_or_default();
        let filter = memories::MemoryFilter { category: filter.category, since: filter.since };
        let page = memories::list(&ctx.state().db, user_id, filter, page).await?;
        Ok(connection(page, Memory::from))
    }

    /// The caller's memories most relevant to `query`, by meaning and by keywords, weighted by
    /// importance and recency. Memories unrelated to the query are not returned.
    async fn search_memories(
        &self,
        ctx: &Context<'_>,
        query: String,
        #[graphql(default = 10)] limit: i32,
    ) -> GqlResult<Vec<MemorySearchResult>> {
        let user_id = ctx.user_id()?;
        let state = ctx.state();
        let limit = usize::try_from(limit).unwrap_or(0);
        let found = retrieval::search(state, user_id, &query, limit).await?;
        Ok(found.into_iter().map(MemorySearchResult::from).collect())
    }

    /// One of the caller's memories (NOT_FOUND when there is no such memory).
    async fn memory(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Memory>> {
        let id = parse_id("id", &id)?;
        let user_id = ctx.user_id()?;
        Ok(Some(memories::get(&ctx.state().db, user_id, id).await?.into()))
    }

    /// The caller's preferences, by key.
    async fn preferences(&self, ctx: &Context<'_>) -> GqlResult<Vec<Preference>> {
        let user_id = ctx.user_id()?;
        Ok(preferences::list(&ctx.state().db, user_id).await?.into_iter().map(Preference::from).collect())
    }

    /// What the assistant has learned about how the caller behaves, most certain first.
    async fn learned_patterns(&self, ctx: &Context<'_>) -> GqlResult<Vec<LearnedPattern>> {
        let user_id = ctx.user_id()?;
        Ok(patterns::list(&ctx.state().db, user_id, chrono::Utc::now())
            .await?
            .into_iter()
            .map(LearnedPattern::from)
            .collect())
    }

    /// Former values of the caller's preferences (of one key, or all), oldest first: replaced,
    /// rejected or deleted.
    async fn preference_history(&self, ctx: &Context<'_>, key: Option<String>) -> GqlResult<Vec<PreferenceVersion>> {
        let user_id = ctx.user_id()?;
        let rows = preferences::history(&ctx.state().db, user_id, key.as_deref()).await?;
        Ok(rows.into_iter().map(PreferenceVersion::from).collect())
    }

    /// How the caller likes answers, learned from what they say and how they rate answers.
    async fn style_profile(&self, ctx: &Context<'_>) -> GqlResult<StyleProfile> {
        let user_id = ctx.user_id()?;
        let dimensions = style::profile(&ctx.state().db, user_id).await?;
        Ok(StyleProfile { dimensions: dimensions.into_iter().map(StyleDimension::from).collect() })
    }

    /// Exactly what Claude would be given if `message` were sent in the conversation now, and
    /// why (memory scores, preference confidences, style instructions). Nothing is stored or sent.
    async fn context_preview(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        message: String,
    ) -> GqlResult<ContextPreview> {
        let conversation_id = parse_id("conversationId", &conversation_id)?;
        let user_id = ctx.user_id()?;
        Ok(chat::turn::preview(ctx.state(), user_id, conversation_id, &message).await?.into())
    }

    /// Everything stored about the caller, as one JSON document: profile, API keys (never their
    /// secrets), conversations and messages, memories with their history, preferences with
    /// theirs, style profile, learned patterns and ratings.
    async fn export_my_data(&self, ctx: &Context<'_>) -> GqlResult<async_graphql::Json<serde_json::Value>> {
        let user_id = ctx.user_id()?;
        Ok(async_graphql::Json(privacy::export(ctx.state(), user_id).await?))
    }

    /// What this server runs on. Needs no key.
    async fn server_info(&self, ctx: &Context<'_>) -> ServerInfo {
        let state = ctx.state();
        ServerInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            database: if state.config.is_sqlite() { "sqlite" } else { "postgres" }.into(),
            short_term_store: state.short_term.name().into(),
            embedder: {
                let info = state.embedder.info();
                EmbedderInfo { name: info.name.clone(), dimensions: info.dimensions as i32, degraded: info.degraded }
            },
        }
    }
}
