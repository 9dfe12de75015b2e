//! Users, their API keys, and what a user owns as a whole (export, deletion).

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{api_key, user};

use super::connection::parse_id;
use super::{ContextExt as _, GqlResult};
use crate::services::account::{auth, privacy};

/// A person who has an assistant. Everything else in the schema belongs to one user and is
/// seen only through that user's API keys.
#[derive(SimpleObject)]
pub struct User {
    /// The user's id.
    pub id: ID,
    /// The name the assistant calls the user by (1 to 100 characters).
    pub display_name: String,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

impl From<user::Model> for User {
    fn from(model: user::Model) -> Self {
        Self { id: model.id.into(), display_name: model.display_name, created_at: model.created_at }
    }
}

/// An API key, without its secret: the secret is shown only once, when the key is made, and
/// only its hash is stored.
#[derive(SimpleObject)]
pub struct ApiKey {
    /// The key's id, for `revokeApiKey`.
    pub id: ID,
    /// A label to tell keys apart (`default` for the first key, `unnamed` when none was given).
    pub name: String,
    /// The first 9 characters of the secret (`pa_` and 6 more), to recognise it.
    pub prefix: String,
    /// When the key was made.
    pub created_at: DateTime<Utc>,
    /// When the key was last used; updated at most every 5 minutes, so it can lag that much.
    /// Null while the key has never been used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the key was revoked (null while it works). A revoked key is refused with
    /// UNAUTHENTICATED.
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

/// Input of `createUser`.
#[derive(InputObject)]
pub struct CreateUserInput {
    /// The name the assistant calls the user by: 1 to 100 characters after trimming spaces.
    pub display_name: String,
}

/// What `createUser` returns.
#[derive(SimpleObject)]
pub struct CreateUserPayload {
    /// The new user.
    pub user: User,
    /// The user's first API key (named `default`), starting with `pa_`. Shown only now: it
    /// cannot be read again, only revoked.
    pub api_key: String,
}

/// Input of `createApiKey`.
#[derive(InputObject, Default)]
pub struct CreateApiKeyInput {
    /// A label to tell keys apart, e.g. "laptop": at most 100 characters; absent or blank
    /// gives `unnamed`.
    pub name: Option<String>,
}

/// What `createApiKey` returns.
#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    /// The new key's secret, starting with `pa_`. Shown only now: it cannot be read again,
    /// only revoked.
    pub api_key: String,
    /// The new key's record.
    pub key: ApiKey,
}

/// The account part of `Query`.
#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
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

    /// Everything stored about the caller, as one JSON document with camelCase keys and RFC
    /// 3339 times: `exportedAt`, `user`, `apiKeys` (never their secrets or hashes),
    /// `conversations` (each with its `messages` and running `summary`), `memories` (retired
    /// ones too, each with its `history`), `preferences`, `preferenceHistory`, `styleProfile`,
    /// `learnedPatterns`, `ratings` and `claudeUsage` (as `usage` gives it). Conversations,
    /// messages and memories are oldest first. At most once per request.
    async fn export_my_data(&self, ctx: &Context<'_>) -> GqlResult<Json<serde_json::Value>> {
        let user_id = ctx.user_id()?;
        Ok(Json(privacy::export(ctx.state(), user_id).await?))
    }
}

/// The account part of `Mutation`.
#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Creates a user and their first API key. Needs the admin token (`ADMIN_TOKEN`) rather
    /// than a user's key: without it UNAUTHENTICATED, with a user's key FORBIDDEN. Errors:
    /// BAD_USER_INPUT when `displayName` is blank or longer than 100 characters.
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new user's name.")] input: CreateUserInput,
    ) -> GqlResult<CreateUserPayload> {
        ctx.caller().require_admin()?;
        let (user, key) = auth::create_user(&ctx.state().db, &input.display_name).await?;
        Ok(CreateUserPayload { user: user.into(), api_key: key.secret })
    }

    /// Makes another API key for the caller (e.g. one per device); the caller's other keys keep
    /// working. Errors: BAD_USER_INPUT when the name is longer than 100 characters, or when the
    /// caller already holds the most keys one user may (20 unless the operator set
    /// MAX_API_KEYS_PER_USER; revoked keys do not count); FORBIDDEN over WebSocket (keys are
    /// managed over HTTP only).
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key's label; may be omitted.")] input: Option<CreateApiKeyInput>,
    ) -> GqlResult<CreateApiKeyPayload> {
        let user_id = ctx.user_id()?;
        ctx.require_http()?;
        let state = ctx.state();
        let input = input.unwrap_or_default();
        let key =
            auth::create_key(&state.db, user_id, input.name.as_deref(), state.config.limits.quotas.api_keys_per_user)
                .await?;
        Ok(CreateApiKeyPayload { api_key: key.secret, key: key.record.into() })
    }

    /// Revokes one of the caller's API keys: requests with it fail with UNAUTHENTICATED from
    /// now on, this very key included. Revoking a revoked key changes nothing and returns it.
    /// Sockets and event streams open with the key close at once, on every replica.
    /// Errors: NOT_FOUND (no such key of the caller's), BAD_USER_INPUT (not an id), FORBIDDEN
    /// over WebSocket (keys are managed over HTTP only).
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key's `id` (from `apiKeys`), not its secret.")] id: ID,
    ) -> GqlResult<ApiKey> {
        let id = parse_id("id", &id)?;
        let user_id = ctx.user_id()?;
        ctx.require_http()?;
        Ok(auth::revoke_key(ctx.state(), user_id, id).await?.into())
    }

    /// Deletes the caller and everything stored about them (conversations, memories and their
    /// index entries, preferences, style, patterns, ratings, short-term windows, API keys), on
    /// every replica. Returns true. The key used for this call, like every other key of the
    /// caller, is refused with UNAUTHENTICATED afterwards. The caller's index files are removed
    /// even while Redis is unreachable, and their open sockets and event streams close at once.
    /// Cannot be undone: `exportMyData` first to keep a copy.
    /// Errors: FORBIDDEN over WebSocket (deletion is asked for over HTTP only).
    async fn delete_my_data(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        let user_id = ctx.user_id()?;
        ctx.require_http()?;
        privacy::delete(ctx.state(), user_id).await?;
        Ok(true)
    }
}
