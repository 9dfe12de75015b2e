//! Apollo's automatic persisted queries (APQ), on every transport. A client sends
//! `extensions.persistedQuery = {"version": 1, "sha256Hash": "<hex>"}` instead of the query text;
//! when the hash is unknown it gets `PersistedQueryNotFound` (code `PERSISTED_QUERY_NOT_FOUND`)
//! and sends the text once with the hash, which registers it. Texts live in the short-term store:
//! Redis (shared by every replica, expiring after disuse) or this process (bounded, least recently
//! used out first).

use async_graphql::Request;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::error::AppError;
use crate::state::AppState;

/// Longer queries are run but not kept: anyone may register a query, and the in-process cache is
/// bounded by entries, so this bounds its memory too.
pub const MAX_PERSISTED_QUERY_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
struct PersistedQuery {
    version: i64,
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

/// Gives `request` the text of the persisted query it names (registering the text when it came
/// with one) and takes the `persistedQuery` extension off, so resolving twice is harmless. A
/// request that names none is returned as it is.
pub async fn resolve(state: &AppState, mut request: Request) -> Result<Request, AppError> {
    let Some(value) = request.extensions.remove("persistedQuery") else { return Ok(request) };
    let persisted: PersistedQuery =
        value.into_json().ok().and_then(|json| serde_json::from_value(json).ok()).ok_or_else(|| {
            AppError::bad_input(r#"extensions.persistedQuery must be {"version": 1, "sha256Hash": "<hex>"}"#)
        })?;
    if persisted.version != 1 {
        return Err(AppError::bad_input("only version 1 of persisted queries is supported"));
    }
    let hash = persisted.sha256_hash.to_ascii_lowercase();
    if request.query.is_empty() {
        match state.short_term.persisted_query(&hash).await {
            Ok(Some(query)) => request.query = query,
            Ok(None) => return Err(AppError::PersistedQueryNotFound),
            // The client answers "not found" by sending the text, so a store outage costs bytes,
            // not the request.
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "could not read a persisted query");
                return Err(AppError::PersistedQueryNotFound);
            }
        }
    } else {
        if hex::encode(Sha256::digest(request.query.as_bytes())) != hash {
            return Err(AppError::bad_input("provided sha does not match query"));
        }
        // Only documents that parse are worth keeping (the parse is kept for the execution); the
        // request runs, and reports its own syntax errors, either way.
        if let Ok(document) = async_graphql::parser::parse_query(&request.query) {
            if request.query.len() <= MAX_PERSISTED_QUERY_BYTES
                && let Err(error) = state.short_term.persist_query(&hash, &request.query).await
            {
                tracing::warn!(error = format!("{error:#}"), "could not store a persisted query");
            }
            request.set_parsed_query(document);
        }
    }
    Ok(request)
}
