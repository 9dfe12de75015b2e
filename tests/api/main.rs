//! Black-box tests through the real HTTP API of a server on port 0, in one test binary.
//!
//! Every scenario in `on_both_backends!` runs twice: on SQLite with the in-process short-term
//! store, and on PostgreSQL + Redis when `TEST_DATABASE_URL` / `TEST_REDIS_URL` are set (a fresh
//! database and a fresh Redis key prefix per test). Under CI the PostgreSQL runs are mandatory.

mod fake_anthropic;
mod helpers;
mod ws;

mod architecture;
mod auth;
mod chat;
mod conversations;
mod embedding;
mod health;
mod isolation;
mod learning;
mod memories;
mod personalisation;
mod personalisation_data;
mod preferences;
mod scenarios;
mod schema;
mod semantic_memory;
mod short_term;
mod validation;
mod websocket;
