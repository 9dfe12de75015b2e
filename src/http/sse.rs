//! GraphQL over Server-Sent Events, the graphql-sse protocol's distinct-connections mode: one
//! HTTP request per operation (`POST /graphql` with `Accept: text/event-stream`, or a GET), each
//! result a `next` event, then one `complete` event and the end of the response. For clients that
//! cannot hold a WebSocket: serverless runtimes, proxies that strip upgrades, `curl -N`, a plain
//! `fetch` reader. Closing the request drops the operation's stream, which stops a chat exactly
//! as unsubscribing over WebSocket does.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse as _, Response};
use futures::StreamExt as _;
use futures::stream;

use super::HttpState;

/// A comment this often keeps proxies from closing a quiet stream (a `memoryEvents` subscription
/// may wait long for its next event).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Runs `request` (authenticated already) and streams its results as they come.
pub(super) fn stream(state: &HttpState, request: async_graphql::Request) -> Response {
    let results = state.schema.execute_stream(request).map(|response| Ok::<_, Infallible>(next(&response)));
    // An empty comment first: some browsers report the stream open only once bytes arrive.
    let events = stream::once(async { Ok(Event::default().comment("")) })
        .chain(results)
        .chain(stream::once(async { Ok(Event::default().event("complete").data("")) }));
    let mut response = Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response();
    // nginx (and proxies that copy it) would otherwise buffer the stream.
    response.headers_mut().insert(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"));
    response
}

fn next(response: &async_graphql::Response) -> Event {
    match serde_json::to_string(response) {
        Ok(json) => Event::default().event("next").data(json),
        Err(error) => {
            tracing::error!(%error, "could not serialise a subscription result");
            Event::default()
                .event("next")
                .data(r#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#)
        }
    }
}
