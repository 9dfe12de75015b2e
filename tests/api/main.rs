//! Black-box tests through the real HTTP API of a server on port 0, in one test binary.
//!
//! Every scenario in `on_both_backends!` runs twice: on SQLite with the in-process short-term
//! store, and on PostgreSQL + Redis when `TEST_DATABASE_URL` / `TEST_REDIS_URL` are set (a fresh
//! database and a fresh Redis key prefix per test). Under CI the PostgreSQL runs are mandatory.

mod fake_anthropic;
mod helpers;
mod node;
mod sse_client;
mod ws;

mod architecture;
mod auth;
mod browser;
mod chat;
mod container_start;
mod conversations;
mod cost_limits;
mod embedding;
mod graceful_shutdown;
mod graphql_http;
mod health;
mod isolation;
mod learning;
mod memories;
mod memory_tools;
mod metrics;
mod model_install;
mod persisted_queries;
mod personalisation;
mod personalisation_data;
mod personalisation_more;
mod preferences;
mod public_limits;
mod replicas;
mod scenarios;
mod schema;
mod semantic_memory;
mod short_term;
mod sse;
mod validation;
mod websocket;
mod ws_protocol;
