//! A Claude-powered personal assistant that remembers, learns and adapts, served as one GraphQL
//! API. [`Application::build`] (in `startup`) turns a [`Config`] into a server bound to its port;
//! `main.rs` only reads the configuration and runs it.
//!
//! Layers, each importing only those below it (a test in `tests/api/architecture.rs` keeps
//! this true): `startup` > `http` > `graphql` > `services` > `state` > `store` > `llm`, `embed`
//! > `config`, `error`, `db`, `telemetry` (and the `entity` crate).

pub mod config;
pub mod db;
pub mod embed;
pub mod error;
pub mod graphql;
mod http;
pub mod llm;
pub mod services;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;

pub use config::Config;
pub use startup::Application;
pub use state::AppState;
