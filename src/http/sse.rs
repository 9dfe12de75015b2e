//! GraphQL over Server-Sent Events, the graphql-sse protocol's distinct-connections mode: one
//! HTTP request per operation (`POST /graphql` with `Accept: text/event-stream`, or a GET), each
//! result a `next` event, then one `complete` event and the end of the response. For clients that
//! cannot hold a WebSocket: serverless runtimes, proxies that strip upgrades, `curl -N`, a plain
//! `fetch` reader. Closing the request drops the operation's stream, which stops a chat exactly
//! as unsubscribing over WebSocket does. A stream whose key is revoked (or whose user is deleted)
//! ends at once with an UNAUTHENTICATED error, on every replica.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures::StreamExt as _;
use futures::future::ready;
use futures::stream;

use super::HttpState;
use crate::error::AppError;
use crate::graphql;
use crate::services::account::auth::Caller;
use crate::store::pubsub::Lagged;

/// A comment this often keeps proxies from closing a quiet stream (a `memoryEvents` subscription
/// may wait long for its next event).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// An empty comment, first (some browsers report the stream open only once bytes arrive) and as
/// the keep-alive.
const COMMENT: &[u8] = b":\n\n";

/// `complete` carries an empty `data:` line, as the protocol writes it: an `EventSource` drops
/// events without one.
const COMPLETE: &[u8] = b"event: complete\ndata:\n\n";

const NEXT: &[u8] = b"event: next\ndata: ";

/// Runs `request` (authenticated already as `caller`) and streams its results as they come.
pub(super) fn stream(state: &HttpState, request: async_graphql::Request, caller: Caller) -> Response {
    let results = state.schema.execute_stream(request).boxed();
    let lost = Box::pin(access_lost(state, caller));
    let closing = state.app.lifecycle.closing.clone();
    // Results until there are no more, until the caller's access ends, or until the server shuts
    // down (the client subscribes again, on another replica).
    let results = stream::unfold(Some((results, lost, closing)), |running| async move {
        let (mut results, mut lost, closing) = running?;
        tokio::select! {
            biased;
            () = &mut lost => Some((next(&revoked()), None)),
            () = closing.cancelled() => Some((next(&shutting_down()), None)),
            response = results.next() => response.map(|response| (next(&response), Some((results, lost, closing)))),
        }
    });
    // `None` marks the end, so the keep-alive (which never ends) stops with the results.
    let events = stream::once(ready(Some(Bytes::from_static(COMMENT))))
        .chain(results.map(Some))
        .chain(stream::iter([Some(Bytes::from_static(COMPLETE)), None]));
    let keep_alive = stream::unfold(
        tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE),
        |mut every| async move {
            every.tick().await;
            Some((Some(Bytes::from_static(COMMENT)), every))
        },
    );
    let body = stream::select(events, keep_alive)
        .take_while(|chunk| ready(chunk.is_some()))
        .filter_map(ready)
        .map(Ok::<_, Infallible>);
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx (and proxies that copy it) would otherwise buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Resolves when the key `caller` authenticated with is revoked or its user deleted (or when such
/// events were missed: the stream ends rather than outlive a revocation); never for the anonymous.
fn access_lost(state: &HttpState, caller: Caller) -> impl Future<Output = ()> + Send + 'static {
    let access = match caller {
        Caller::User { user_id, key_id } => Some((state.app.access_events.subscribe(user_id), key_id)),
        _ => None,
    };
    async move {
        let Some((mut access, key_id)) = access else { return std::future::pending().await };
        loop {
            match access.recv().await {
                Ok(event) if !event.ends(key_id) => {}
                Ok(_) | Err(Lagged(_)) => return,
            }
        }
    }
}

fn revoked() -> async_graphql::Response {
    super::refused("access_ended");
    graphql::error_response(AppError::Unauthenticated(
        "the API key was revoked or its user deleted: this stream has ended",
    ))
}

fn shutting_down() -> async_graphql::Response {
    graphql::error_response(AppError::ShuttingDown)
}

/// One result as a `next` event, serialised straight into the bytes that go out (compact JSON
/// has no line breaks, so it is one `data:` line).
fn next(response: &async_graphql::Response) -> Bytes {
    let mut event = Vec::with_capacity(256);
    event.extend_from_slice(NEXT);
    if let Err(error) = serde_json::to_writer(&mut event, response) {
        tracing::error!(%error, "could not serialise a subscription result");
        event.truncate(NEXT.len());
        event.extend_from_slice(br#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#);
    }
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_is_one_next_event_on_one_data_line() {
        let response = async_graphql::Response::new(
            async_graphql::Value::from_json(serde_json::json!({
                "chat": { "text": "two\nlines" }
            }))
            .unwrap(),
        );
        let event = String::from_utf8(next(&response).to_vec()).unwrap();
        assert_eq!(event, "event: next\ndata: {\"data\":{\"chat\":{\"text\":\"two\\nlines\"}}}\n\n");
    }
}
