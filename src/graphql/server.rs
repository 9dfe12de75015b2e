//! What the server runs on: the one part of the schema that needs no key.

use async_graphql::{Context, Object, SimpleObject};

use super::ContextExt as _;

/// What this server runs on.
#[derive(SimpleObject)]
pub struct ServerInfo {
    /// The server's version (semantic versioning).
    pub version: String,
    /// The SQL database in use: `sqlite` or `postgres`.
    pub database: String,
    /// Where short-term conversation windows live: `redis` (shared by every replica) or
    /// `in-process`.
    pub short_term_store: String,
    /// What turns memories into vectors for search by meaning.
    pub embedder: EmbedderInfo,
}

/// The embedding model in use.
#[derive(SimpleObject)]
pub struct EmbedderInfo {
    /// The model's name: `all-MiniLM-L6-v2` (the local model), the configured API model, or
    /// `hashing-fallback`.
    pub name: String,
    /// The length of its vectors (384 for all-MiniLM-L6-v2).
    pub dimensions: i32,
    /// True when no real model is available and a word-hashing fallback stands in: search by
    /// meaning then only finds shared words. The operator fixes it by installing the model
    /// (`scripts/fetch-model.sh`).
    pub degraded: bool,
}

/// The server part of `Query`.
#[derive(Default)]
pub struct ServerQuery;

#[Object]
impl ServerQuery {
    /// What this server runs on. Needs no key (any key, or none, is accepted).
    async fn server_info(&self, ctx: &Context<'_>) -> ServerInfo {
        let state = ctx.state();
        let info = state.embedder.info();
        ServerInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            database: if state.config.is_sqlite() { "sqlite" } else { "postgres" }.into(),
            short_term_store: state.short_term.name().into(),
            embedder: EmbedderInfo {
                name: info.name.clone(),
                dimensions: info.dimensions as i32,
                degraded: info.degraded,
            },
        }
    }
}
