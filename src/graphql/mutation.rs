use async_graphql::{Context, ID, Object};

use super::connection::parse_id;
use super::types::{
    ApiKey, ChatInput, Conversation, CreateApiKeyInput, CreateApiKeyPayload, CreateConversationInput, CreateUserInput,
    CreateUserPayload, Memory, MessageRating, Preference, RateMessageInput, RememberInput, SendMessagePayload,
    SetPreferenceInput, StyleDimension, StyleProfile, UpdateMemoryInput,
};
use super::{ContextExt as _, GqlResult};
use crate::services::account::{auth, privacy};
use crate::services::chat::{self, conversations};
use crate::services::learning::{feedback, preferences, style};
use crate::services::memory::memories;

pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Creates a user and their first API key. Needs the admin token.
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> GqlResult<CreateUserPayload> {
        ctx.caller().require_admin()?;
        let (user, key) = auth::create_user(&ctx.state().db, &input.display_name).await?;
        Ok(CreateUserPayload { user: user.into(), api_key: key.secret })
    }

    /// Makes another API key for the caller (e.g. one per device).
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: Option<CreateApiKeyInput>,
    ) -> GqlResult<CreateApiKeyPayload> {
        let user_id = ctx.user_id()?;
        let input = input.unwrap_or_default();
        let key = auth::create_key(&ctx.state().db, user_id, input.name.as_deref()).await?;
        Ok(CreateApiKeyPayload { api_key: key.secret, key: key.record.into() })
    }

    /// Revokes one of the caller's API keys; it stops working at once.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ApiKey> {
        let id = parse_id("id", &id)?;
        let user_id = ctx.user_id()?;
        Ok(auth::revoke_key(&ctx.state().db, user_id, id).await?.into())
    }

    /// Starts a conversation.
    async fn create_conversation(
        &self,
        ctx: &Context<'_>,
        input: Option<CreateConversationInput>,
    ) -> GqlResult<Conversation> {
        let user_id = ctx.user_id()?;
        let input = input.unwrap_or_default();
        Ok(conversations::create(&ctx.state().db, user_id, input.title.as_deref()).await?.into())
    }

    /// Changes a conversation's title (null or blank removes it).
    async fn rename_conversation(&self, ctx: &Context<'_>, id: ID, title: Option<String>) -> GqlResult<Conversation> {
        let id = parse_id("id", &id)?;
        let user_id = ctx.user_id()?;
        Ok(conversations::rename(&ctx.state().db, user_id, id, title.as_deref()).await?.into())
    }

    /// Deletes a conversation and all its messages.
    async fn delete_conversation(&self, ctx: &Context<'_>, id: ID) -> GqlResult<bool> {
        let id = parse_id("id", &id)?;
        let user_id = ctx.user_id()?;
        let state = ctx.state();
        conversations::delete(&state.db, state.short_term.as_ref(), user_id, id).await?;
        Ok(true)
    }

    /// Sends a message and waits for the whole answer (for clients that do not stream; the
    /// `chat` subscription streams the same turn). Fails with UPSTREAM_ERROR when Claude fails;
    /// the partial answer is kept in the conversation.
    async fn send_message(&self, ctx: &Context<'_>, input: ChatInput) -> GqlResult<SendMessagePayload> {
        let conversation_id = parse_id("conversationId", &input.conversation_id)?;
        let user_id = ctx.user_id()?;
        let (user_message, message) = chat::send_message(ctx.state(), user_id, conversation_id, &input.message).await?;
        Ok(SendMessagePayload { user_message: user_message.into(), message: message.into() })
    }

    /// Stores something the assistant should remember. Saying the same thing twice keeps one memory.
    async fn remember(&self, ctx: &Context<'_>, input: RememberInput) -> GqlResult<Memory> {
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

    /// Changes a memory; the former version is kept in its history.
    async fn update_memory(&self, ctx: &Context<'_>, id: ID, input: UpdateMemoryInput) -> GqlResult<Memory> {
        let id = parse_id("id", &id)?;
        let user_id = ctx.user_id()?;
        let changes = memories::MemoryChanges {
            content: input.content.as_deref(),
            category: input.category,
            importance: input.importance,
        };
        Ok(memories::update(ctx.state(), user_id, id, changes).await?.into())
    }

    /// Forgets a memory for good, with its history.
    async fn forget_memory(&self, ctx: &Context<'_>, id: ID) -> GqlResult<bool> {
        let id = parse_id("id", &id)?;
        let user_id = ctx.user_id()?;
        memories::forget(ctx.state(), user_id, id).await?;
        Ok(true)
    }

    /// Sets a preference; what the user sets always wins over what was inferred.
    async fn set_preference(&self, ctx: &Context<'_>, input: SetPreferenceInput) -> GqlResult<Preference> {
        let user_id = ctx.user_id()?;
        Ok(preferences::set_explicit(&ctx.state().db, user_id, &input.key, &input.value).await?.into())
    }

    /// Confirms an inferred preference: it becomes the caller's own (explicit, confidence 1).
    async fn confirm_preference(&self, ctx: &Context<'_>, key: String) -> GqlResult<Preference> {
        let user_id = ctx.user_id()?;
        Ok(preferences::confirm(&ctx.state().db, user_id, &key).await?.into())
    }

    /// Rejects an inferred preference: it is removed (kept in `preferenceHistory` as REJECTED)
    /// and that value is not inferred again.
    async fn reject_preference(&self, ctx: &Context<'_>, key: String) -> GqlResult<bool> {
        let user_id = ctx.user_id()?;
        preferences::reject(&ctx.state().db, user_id, &key).await?;
        Ok(true)
    }

    /// Rates one of the assistant's answers (rating again replaces the rating). A reason such as
    /// "too long" or "too technical" teaches the style profile; UP reinforces what the answer
    /// looked like.
    async fn rate_message(&self, ctx: &Context<'_>, input: RateMessageInput) -> GqlResult<MessageRating> {
        let message_id = parse_id("messageId", &input.message_id)?;
        let user_id = ctx.user_id()?;
        let state = ctx.state();
        let rating = feedback::rate_message(state, user_id, message_id, input.rating, input.reason.as_deref()).await?;
        let profile = style::profile(&state.db, user_id).await?;
        Ok(MessageRating {
            message_id: rating.message_id.into(),
            rating: rating.rating,
            reason: rating.reason,
            created_at: rating.created_at,
            style_profile: StyleProfile { dimensions: profile.into_iter().map(StyleDimension::from).collect() },
        })
    }

    /// Deletes the caller and everything stored about them (conversations, memories and their
    /// index entries, preferences, style, patterns, ratings, short-term windows, API keys). The
    /// key used for this call stops working. Cannot be undone: `exportMyData` first to keep a copy.
    async fn delete_my_data(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        let user_id = ctx.user_id()?;
        privacy::delete(ctx.state(), user_id).await?;
        Ok(true)
    }

    /// Deletes a preference.
    async fn delete_preference(&self, ctx: &Context<'_>, key: String) -> GqlResult<bool> {
        let user_id = ctx.user_id()?;
        preferences::delete(&ctx.state().db, user_id, &key).await?;
        Ok(true)
    }
}
