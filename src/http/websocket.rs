//! GraphQL over WebSocket on `/graphql`, in both subprotocols a client may offer:
//!
//! - `graphql-transport-ws` (the graphql-ws library), served here to the letter of its protocol,
//!   close codes included: 4400 invalid message, 4401 `subscribe` before `connection_ack`, 4403
//!   a refused `connection_init` (an unknown or revoked key), 4408 no `connection_init` within
//!   `WS_INIT_TIMEOUT_SECONDS`, 4409 an operation id already in use, 4429 a second
//!   `connection_init`. `ping` is answered with a `pong` carrying the same payload; `complete`
//!   from the client stops an operation (a chat stops as when the socket closes).
//! - `graphql-ws` (Apollo's legacy subscriptions-transport-ws), through async-graphql's own
//!   implementation; a refused key gets that protocol's `connection_error`.

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::Arc;

use async_graphql::Data;
use async_graphql::http::WebSocketProtocols;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{FromRequestParts as _, Request, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use futures::StreamExt as _;
use futures::stream::{AbortHandle, Abortable, BoxStream, SelectAll};
use serde::Serialize;
use serde_json::Value;

use super::graphql_http::{is_request_error, request_from_params};
use super::{HttpState, identify};
use crate::error::AppError;
use crate::graphql::{self, AppSchema};
use crate::services::account::auth::Caller;
use crate::state::AppState;

/// Upgrades the request to a WebSocket speaking the subprotocol the client offered first.
pub(super) async fn upgrade(state: HttpState, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let (Some(spoken), Ok(protocol)) =
        (client_first_protocol(&parts.headers), GraphQLProtocol::from_request_parts(&mut parts, &()).await)
    else {
        return (
            StatusCode::BAD_REQUEST,
            "WebSocket clients must offer the graphql-transport-ws or graphql-ws subprotocol",
        )
            .into_response();
    };
    // Answer with the protocol that will actually be spoken: the client's first supported offer
    // (axum's own choice would follow our list's order).
    let mut upgrade = upgrade;
    upgrade.set_selected_protocol(HeaderValue::from_static(spoken.sec_websocket_protocol()));
    let app = state.app.clone();
    match spoken {
        WebSocketProtocols::GraphQLWS => upgrade.on_upgrade(move |socket| async move {
            let _open = OpenSocket::new();
            TransportWs::new(state.schema, app).serve(socket).await
        }),
        WebSocketProtocols::SubscriptionsTransportWS => upgrade.on_upgrade(move |socket| async move {
            let _open = OpenSocket::new();
            GraphQLWebSocket::new(socket, state.schema, protocol)
                .on_connection_init(move |payload| async move {
                    let caller = match connection_caller(&app, &payload).await {
                        Ok(Caller::InvalidKey) => {
                            return Err(async_graphql::Error::new(graphql::client_message(&invalid_key())));
                        }
                        Ok(caller) => caller,
                        Err(error) => return Err(async_graphql::Error::new(graphql::client_message(&error))),
                    };
                    let mut data = Data::default();
                    data.insert(caller);
                    Ok(data)
                })
                .serve()
                .await
        }),
    }
}

/// Keeps `websocket_connections_open` right however a socket ends.
struct OpenSocket;

impl OpenSocket {
    fn new() -> Self {
        metrics::gauge!("websocket_connections_open").increment(1.0);
        Self
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        metrics::gauge!("websocket_connections_open").decrement(1.0);
    }
}

fn invalid_key() -> AppError {
    AppError::Unauthenticated("the API key is not valid (unknown or revoked)")
}

fn client_first_protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
}

/// Who opened a connection, from its `connection_init` payload.
async fn connection_caller(app: &AppState, payload: &Value) -> Result<Caller, AppError> {
    identify(app, credential_from_init(payload).as_deref()).await
}

/// The credential in a `connection_init` payload: `authorization`/`Authorization` (a `Bearer`
/// value), `token` (the bare key), or Apollo's `headers` object.
fn credential_from_init(payload: &Value) -> Option<String> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let from = |object: &Value| {
        object
            .get("authorization")
            .or_else(|| object.get("Authorization"))
            .and_then(text)
            .or_else(|| object.get("token").and_then(text).map(|t| format!("Bearer {t}")))
    };
    from(payload).or_else(|| payload.get("headers").and_then(from))
}

/// The close codes of graphql-transport-ws.
mod close {
    pub const INTERNAL_SERVER_ERROR: u16 = 4500;
    pub const BAD_REQUEST: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const CONNECTION_INITIALISATION_TIMEOUT: u16 = 4408;
    pub const SUBSCRIBER_ALREADY_EXISTS: u16 = 4409;
    pub const TOO_MANY_INITIALISATION_REQUESTS: u16 = 4429;
}

/// A message from the client, checked against the protocol.
#[derive(Debug)]
enum Incoming {
    ConnectionInit(Value),
    Ping(Option<Value>),
    Pong,
    Subscribe { id: String, request: Box<async_graphql::Request> },
    Complete { id: String },
}

impl Incoming {
    /// Reads a text frame; `Err` is the reason to close with 4400.
    fn parse(text: &str) -> Result<Self, String> {
        let Ok(Value::Object(mut message)) = serde_json::from_str::<Value>(text) else {
            return Err("Invalid message received: not a JSON object".into());
        };
        let kind = message.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
        let payload = message.remove("payload").filter(|p| !p.is_null());
        if payload.as_ref().is_some_and(|p| !p.is_object()) {
            return Err(format!("Invalid message received: the payload of `{kind}` must be an object"));
        }
        let id = || match message.get("id") {
            Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
            _ => Err(format!("Invalid message received: `{kind}` needs a non-empty string `id`")),
        };
        match kind.as_str() {
            "connection_init" => Ok(Self::ConnectionInit(payload.unwrap_or_default())),
            "ping" => Ok(Self::Ping(payload)),
            "pong" => Ok(Self::Pong),
            "subscribe" => {
                let id = id()?;
                let Some(Value::Object(mut payload)) = payload else {
                    return Err("Invalid message received: `subscribe` needs a payload".into());
                };
                let mut take = |name: &str| payload.remove(name).unwrap_or(Value::Null);
                let request =
                    request_from_params(take("query"), take("operationName"), take("variables"), take("extensions"))
                        .map_err(|problem| format!("Invalid message received: {problem}"))?;
                Ok(Self::Subscribe { id, request: Box::new(request) })
            }
            "complete" => Ok(Self::Complete { id: id()? }),
            "" => Err("Invalid message received: no `type`".into()),
            other => Err(format!("Invalid message received: unexpected `{other}`")),
        }
    }
}

/// A message to the client.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Outgoing<'a> {
    ConnectionAck,
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<Value>,
    },
    Next {
        id: &'a str,
        payload: &'a async_graphql::Response,
    },
    Error {
        id: &'a str,
        payload: &'a [async_graphql::ServerError],
    },
    Complete {
        id: &'a str,
    },
}

/// One result of an operation (`None`: it has no more), tagged with the operation's
/// generation so results of an operation stopped under a reused id are told apart.
struct OperationEvent {
    generation: u64,
    id: Arc<str>,
    response: Option<async_graphql::Response>,
}

/// What the connection does next.
enum Step {
    Send(String),
    Nothing,
    Close(u16, String),
}

/// One graphql-transport-ws connection. Operations are streams polled by the connection's own
/// task (no task or channel per operation, so a relayed delta costs no extra hop); stopping one
/// drops its stream at once.
struct TransportWs {
    schema: AppSchema,
    app: AppState,
    /// Set by `connection_init`; `Some` once acknowledged.
    caller: Option<Caller>,
    init_received: bool,
    operations: HashMap<String, (u64, AbortHandle)>,
    results: SelectAll<BoxStream<'static, OperationEvent>>,
    generations: u64,
}

impl TransportWs {
    fn new(schema: AppSchema, app: AppState) -> Self {
        Self {
            schema,
            app,
            caller: None,
            init_received: false,
            operations: HashMap::new(),
            results: SelectAll::new(),
            generations: 0,
        }
    }

    async fn serve(mut self, mut socket: WebSocket) {
        let init_timeout = tokio::time::sleep(self.app.config.transport.ws_init_timeout);
        tokio::pin!(init_timeout);
        loop {
            enum Wake {
                Client(Option<Message>),
                Result(OperationEvent),
                InitTimeout,
            }
            let wake = tokio::select! {
                message = socket.recv() => Wake::Client(message.and_then(Result::ok)),
                Some(event) = self.results.next(), if !self.results.is_empty() => Wake::Result(event),
                () = &mut init_timeout, if !self.init_received => Wake::InitTimeout,
            };
            let step = match wake {
                Wake::Client(None) | Wake::Client(Some(Message::Close(_))) => return,
                Wake::Client(Some(Message::Text(text))) => match Incoming::parse(&text) {
                    Ok(incoming) => self.on_message(incoming).await,
                    Err(reason) => Step::Close(close::BAD_REQUEST, reason),
                },
                Wake::Client(Some(Message::Binary(_))) => {
                    Step::Close(close::BAD_REQUEST, "Invalid message received: messages are JSON text".into())
                }
                // WebSocket-level pings are answered by the WebSocket layer itself.
                Wake::Client(Some(Message::Ping(_) | Message::Pong(_))) => Step::Nothing,
                Wake::Result(event) => self.on_result(event),
                Wake::InitTimeout => {
                    Step::Close(close::CONNECTION_INITIALISATION_TIMEOUT, "Connection initialisation timeout".into())
                }
            };
            match step {
                Step::Nothing => {}
                Step::Send(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Step::Close(code, reason) => {
                    let frame = CloseFrame { code, reason: truncate(reason).into() };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    return;
                }
            }
        }
    }

    async fn on_message(&mut self, message: Incoming) -> Step {
        match message {
            Incoming::ConnectionInit(payload) => {
                if self.init_received {
                    return Step::Close(
                        close::TOO_MANY_INITIALISATION_REQUESTS,
                        "Too many initialisation requests".into(),
                    );
                }
                self.init_received = true;
                match connection_caller(&self.app, &payload).await {
                    Ok(Caller::InvalidKey) => Step::Close(close::FORBIDDEN, format!("Forbidden: {}", invalid_key())),
                    Ok(caller) => {
                        self.caller = Some(caller);
                        send(&Outgoing::ConnectionAck)
                    }
                    Err(error) => {
                        graphql::client_message(&error);
                        Step::Close(close::INTERNAL_SERVER_ERROR, "Internal server error".into())
                    }
                }
            }
            Incoming::Ping(payload) => send(&Outgoing::Pong { payload }),
            Incoming::Pong => Step::Nothing,
            Incoming::Subscribe { id, request } => {
                let Some(caller) = self.caller else {
                    return Step::Close(close::UNAUTHORIZED, "Unauthorized".into());
                };
                if self.operations.contains_key(&id) {
                    return Step::Close(
                        close::SUBSCRIBER_ALREADY_EXISTS,
                        format!("Subscriber for {id} already exists"),
                    );
                }
                self.start(id, request.data(caller));
                Step::Nothing
            }
            Incoming::Complete { id } => {
                // The client stops listening: drop the operation; nothing more is sent for it.
                if let Some((_, abort)) = self.operations.remove(&id) {
                    abort.abort();
                }
                Step::Nothing
            }
        }
    }

    fn start(&mut self, id: String, request: async_graphql::Request) {
        self.generations += 1;
        let generation = self.generations;
        let tag: Arc<str> = Arc::from(id.as_str());
        let last = tag.clone();
        let results = self
            .schema
            .execute_stream(request)
            .map(move |response| OperationEvent { generation, id: tag.clone(), response: Some(response) })
            .chain(futures::stream::once(async move { OperationEvent { generation, id: last, response: None } }));
        let (abort, registration) = AbortHandle::new_pair();
        self.results.push(Abortable::new(results, registration).boxed());
        self.operations.insert(id, (generation, abort));
    }

    fn on_result(&mut self, event: OperationEvent) -> Step {
        let current = self.operations.get(&*event.id).is_some_and(|(generation, _)| *generation == event.generation);
        if !current {
            return Step::Nothing;
        }
        match event.response {
            // Nothing ran (the document did not parse or validate, a persisted query is unknown):
            // the protocol's `error`, which ends the operation without `complete`.
            Some(response) if is_request_error(&response) => {
                if let Some((_, abort)) = self.operations.remove(&*event.id) {
                    abort.abort();
                }
                send(&Outgoing::Error { id: &event.id, payload: &response.errors })
            }
            Some(response) => send(&Outgoing::Next { id: &event.id, payload: &response }),
            None => {
                self.operations.remove(&*event.id);
                send(&Outgoing::Complete { id: &event.id })
            }
        }
    }
}

fn send(message: &Outgoing<'_>) -> Step {
    match serde_json::to_string(message) {
        Ok(text) => Step::Send(text),
        Err(error) => {
            tracing::error!(%error, "could not serialise a WebSocket message");
            Step::Close(close::INTERNAL_SERVER_ERROR, "Internal server error".into())
        }
    }
}

/// A close frame's reason has room for 123 bytes.
fn truncate(mut reason: String) -> String {
    if reason.len() > 123 {
        let mut end = 123;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn connection_init_credentials_in_every_accepted_shape() {
        let cases = [
            json!({"authorization": "Bearer k"}),
            json!({"Authorization": "Bearer k"}),
            json!({"token": "k"}),
            json!({"headers": {"Authorization": "Bearer k"}}),
        ];
        for payload in cases {
            assert_eq!(credential_from_init(&payload).as_deref(), Some("Bearer k"), "{payload}");
        }
        assert_eq!(credential_from_init(&json!({})), None);
    }

    #[test]
    fn the_reply_names_the_clients_first_supported_protocol() {
        let mut headers = HeaderMap::new();
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("graphql-ws, graphql-transport-ws"));
        assert_eq!(client_first_protocol(&headers), Some(WebSocketProtocols::SubscriptionsTransportWS));
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("soap, graphql-transport-ws"));
        assert_eq!(client_first_protocol(&headers), Some(WebSocketProtocols::GraphQLWS));
    }

    #[test]
    fn messages_outside_the_protocol_are_invalid() {
        for bad in [
            "not json",
            "[]",
            r#"{"payload": {}}"#,
            r#"{"type": "connection_ack"}"#,
            r#"{"type": "next", "id": "1"}"#,
            r#"{"type": "connection_init", "payload": "x"}"#,
            r#"{"type": "subscribe", "payload": {"query": "{ a }"}}"#,
            r#"{"type": "subscribe", "id": "", "payload": {"query": "{ a }"}}"#,
            r#"{"type": "subscribe", "id": "1"}"#,
            r#"{"type": "subscribe", "id": "1", "payload": {"query": 3}}"#,
            r#"{"type": "subscribe", "id": "1", "payload": {"query": "{ a }", "variables": []}}"#,
            r#"{"type": "complete"}"#,
        ] {
            assert!(Incoming::parse(bad).is_err(), "{bad}");
        }
        for good in [
            r#"{"type": "connection_init"}"#,
            r#"{"type": "connection_init", "payload": null}"#,
            r#"{"type": "ping", "payload": {"t": 1}}"#,
            r#"{"type": "pong"}"#,
            r#"{"type": "subscribe", "id": "1", "payload": {"query": "{ a }", "variables": null}}"#,
            r#"{"type": "complete", "id": "1"}"#,
        ] {
            assert!(Incoming::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn long_close_reasons_are_cut_on_a_character_boundary() {
        let reason = truncate(format!("Subscriber for {} already exists", "é".repeat(100)));
        assert!(reason.len() <= 123);
        assert!(reason.starts_with("Subscriber for é"));
    }
}
