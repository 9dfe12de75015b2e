//! The GraphQL API: one schema, thin resolvers that call the services.

mod connection;
mod errors;
mod mutation;
pub mod persisted_queries;
mod prepare;
mod query;
mod subscription;
mod types;
mod variables;

use async_graphql::{Context, Schema};

pub use errors::{ErrorCodes, client_message, error_response};
pub use mutation::MutationRoot;
pub use query::QueryRoot;
pub use subscription::SubscriptionRoot;

use crate::error::AppResult;
use crate::services::account::auth::Caller;
use crate::state::AppState;

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// What resolvers return; `?` on an `AppError` keeps it as the error's source, so
/// [`ErrorCodes`] can classify it.
pub type GqlResult<T> = async_graphql::Result<T>;

/// Deep enough for GraphiQL's introspection query, shallow enough to stop abusive nesting.
pub const MAX_DEPTH: usize = 16;
pub const MAX_COMPLEXITY: usize = 5000;

/// Builds the schema. `state` is absent only when the schema is built to print its SDL.
pub fn build_schema(state: Option<AppState>) -> AppSchema {
    let mut builder = Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .extension(ErrorCodes)
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

/// Typed access to what every request carries.
pub(crate) trait ContextExt {
    fn state(&self) -> &AppState;
    fn caller(&self) -> Caller;
    fn user_id(&self) -> AppResult<uuid::Uuid> {
        self.caller().user_id()
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
}
