//! The GraphQL API: one schema, split by domain. Each domain module (`account`, `chat`,
//! `memory`, `learning`, `server`) holds its object types and its part of the roots; the roots
//! here merge them. Resolvers stay thin: they parse arguments, call the services and convert.
//! Doc comments and `desc` attributes are the descriptions clients read in introspection.

mod account;
mod chat;
mod connection;
mod errors;
mod learning;
mod memory;
mod metrics;
pub mod persisted_queries;
mod prepare;
mod server;
mod usage;
mod variables;

use async_graphql::{Context, MergedObject, MergedSubscription, Schema};

pub use errors::{ErrorCodes, client_message, error_response};

use crate::error::AppResult;
use crate::services::account::auth::Caller;
use crate::state::AppState;

/// What a client can read. Every field needs a user's API key (`Authorization: Bearer <key>`)
/// and sees only that user's data, unless its description says otherwise: without a key, or
/// with an unknown or revoked one, a field fails with `extensions.code` UNAUTHENTICATED; with
/// the admin token, FORBIDDEN. Any field may fail with INTERNAL (the detail goes to the server's
/// log, never to the client). Another user's object reads exactly like one that does not exist:
/// NOT_FOUND. Malformed queries, and queries nested deeper than 16 levels or more complex than
/// 5000, are refused with BAD_USER_INPUT before anything runs. A field costs 1 plus what it
/// selects, and a list costs what it selects once per item it may return (`first`, `last` or
/// `limit`; 20 when none is given): `memories(first: 100) { edges { node { id } } }` costs
/// about 300. `exportMyData` and `sendMessage` may appear once per request. A response larger
/// than the operator's GRAPHQL_MAX_RESPONSE_BYTES (16 MiB by default) is replaced by an error
/// (BAD_USER_INPUT) asking for less.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    account::AccountQuery,
    chat::ChatQuery,
    memory::MemoryQuery,
    learning::LearningQuery,
    server::ServerQuery,
    usage::UsageQuery,
);

/// What a client can change. Every field needs a user's API key (`Authorization: Bearer
/// <key>`) and acts only on that user's data, unless its description says otherwise: without a
/// key, or with an unknown or revoked one, a field fails with `extensions.code`
/// UNAUTHENTICATED; with the admin token, FORBIDDEN. Any field may fail with INTERNAL (the
/// detail goes to the server's log, never to the client). Another user's object reads exactly
/// like one that does not exist: NOT_FOUND.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    account::AccountMutation,
    chat::ChatMutation,
    memory::MemoryMutation,
    learning::LearningMutation,
);

/// What a client can follow as it happens, over WebSocket at `/graphql` (`graphql-transport-ws`
/// or the legacy `graphql-ws` subprotocol). Authenticate in the `connection_init` payload:
/// `{"authorization": "Bearer <key>"}`. Every subscription needs a user's API key: without one,
/// or with an unknown or revoked one, it fails with `extensions.code` UNAUTHENTICATED; with the
/// admin token, FORBIDDEN.
#[derive(MergedSubscription, Default)]
pub struct SubscriptionRoot(chat::ChatSubscription, memory::MemorySubscription);

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// What resolvers return; `?` on an `AppError` keeps it as the error's source, so
/// [`ErrorCodes`] can classify it.
pub type GqlResult<T> = async_graphql::Result<T>;

/// Deep enough for GraphiQL's introspection query, shallow enough to stop abusive nesting.
/// (The root descriptions above state both limits to clients.)
pub const MAX_DEPTH: usize = 16;
pub const MAX_COMPLEXITY: usize = 5000;

/// Builds the schema. `state` is absent only when the schema is built to print its SDL.
pub fn build_schema(state: Option<AppState>) -> AppSchema {
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot::default())
        .extension(ErrorCodes)
        .extension(metrics::OperationMetrics)
        .extension(prepare::PrepareRequest)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY);
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.finish()
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn schema_sdl() -> String {
    build_schema(None).sdl()
}

/// Marks a request that came over a WebSocket, where what manages access is refused: a
/// socket outlives the checks HTTP makes on every request.
#[derive(Clone, Copy, Debug)]
pub struct OverWebSocket;

/// Typed access to what every request carries.
pub(crate) trait ContextExt {
    fn state(&self) -> &AppState;
    fn caller(&self) -> Caller;
    fn user_id(&self) -> AppResult<uuid::Uuid> {
        self.caller().user_id()
    }
    fn over_websocket(&self) -> bool;
    /// Refuses key management and deletion over WebSocket.
    fn require_http(&self) -> AppResult<()> {
        if self.over_websocket() {
            return Err(crate::error::AppError::Forbidden(
                "API keys and data deletion are managed over HTTP only (POST /graphql), not over WebSocket",
            ));
        }
        Ok(())
    }
}

impl ContextExt for Context<'_> {
    fn state(&self) -> &AppState {
        // Inserted by `build_schema` for every schema that serves requests.
        self.data_unchecked::<AppState>()
    }

    fn caller(&self) -> Caller {
        self.data_opt::<Caller>().copied().unwrap_or(Caller::Anonymous)
    }

    fn over_websocket(&self) -> bool {
        self.data_opt::<OverWebSocket>().is_some()
    }
}
