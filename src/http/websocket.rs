//! GraphQL over WebSocket on `/graphql`, in both subprotocols a client may offer, served by one
//! connection loop so every limit holds for both:
//!
//! - `graphql-transport-ws` (the graphql-ws library), to the letter of its protocol, close codes
//!   included: 4400 invalid message (or one over `WS_MAX_MESSAGE_BYTES`), 4401 `subscribe` before
//!   `connection_ack`, 4403 a refused `connection_init` (an unknown or revoked key) and a key
//!   revoked or a user deleted while the socket is open, 4408 no `connection_init` within
//!   `WS_INIT_TIMEOUT_SECONDS`, 4409 an operation id already in use, 4429 a second
//!   `connection_init`. `ping` is answered with a `pong` carrying the same payload; `complete`
//!   from the client stops an operation (a chat stops as when the socket closes).
//! - `graphql-ws` (Apollo's legacy subscriptions-transport-ws): `start`/`stop`/`data`, a refused
//!   key gets that protocol's `connection_error` (then 4403); the same close codes otherwise.
//!
//! An operation beyond `WS_MAX_OPERATIONS_PER_SOCKET` (or the user's
//! `WS_MAX_OPERATIONS_PER_USER` across this replica's sockets) is refused alone, with
//! RATE_LIMITED; the socket stays open. A socket from which nothing (not even a pong to the
//! server's pings) arrives for `WS_IDLE_TIMEOUT_SECONDS` is closed with 1000.

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::http::WebSocketProtocols;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{FromRequestParts as _, Request, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use futures::StreamExt as _;
use futures::stream::{AbortHandle, Abortable, BoxStream, SelectAll};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

use super::graphql_http::{is_request_error, request_from_params};
use super::{ConnectionPermit, HttpState, identify};
use crate::config::TransportConfig;
use crate::error::{AppError, code};
use crate::graphql::{self, AppSchema, OverWebSocket};
use crate::services::account::auth::Caller;
use crate::state::AppState;
use crate::store::access_events::AccessEvent;
use crate::store::pubsub::{Lagged, Subscription};

/// How long a key checked at `connection_init` (or since) is trusted before an operation checks
/// it again. Revocation closes the socket at once through the access events; this bounds the
/// damage should such an event be lost on its way between replicas.
const KEY_RECHECK: Duration = Duration::from_secs(5);
/// The socket's read buffer (tungstenite's default is 128 KiB).
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Upgrades the request to a WebSocket speaking the subprotocol the client offered first.
pub(super) async fn upgrade(state: HttpState, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let Some(spoken) = client_first_protocol(&parts.headers) else {
        return (
            StatusCode::BAD_REQUEST,
            "WebSocket clients must offer the graphql-transport-ws or graphql-ws subprotocol",
        )
            .into_response();
    };
    // The socket holds its connection's place under `HTTP_MAX_CONNECTIONS` for as long as it lives.
    let permit = parts.extensions.remove::<ConnectionPermit>();
    let limit = state.app.config.transport.ws_max_message_bytes;
    // Answer with the protocol that will actually be spoken: the client's first supported offer
    // (axum's own choice would follow our list's order).
    // tungstenite zeroes its read buffer's free space on every read attempt, and a socket is read
    // each time its task wakes, once per delta sent: at its default 128 KiB that was ~5 % of the
    // server's CPU with 200 streams (perf), and 128 KiB held per socket. Client messages are
    // small; a large one is read in more pieces.
    let mut upgrade = upgrade.max_message_size(limit).max_frame_size(limit).read_buffer_size(READ_BUFFER_BYTES);
    upgrade.set_selected_protocol(HeaderValue::from_static(spoken.sec_websocket_protocol()));
    let dialect = match spoken {
        WebSocketProtocols::GraphQLWS => Dialect::TransportWs,
        WebSocketProtocols::SubscriptionsTransportWS => Dialect::Legacy,
    };
    let sockets = state.app.lifecycle.sockets.clone();
    upgrade.on_upgrade(move |socket| {
        sockets.track_future(async move {
            let _open = OpenSocket::new();
            let _permit = permit;
            Connection::new(state, dialect).serve(socket).await
        })
    })
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

/// The close codes of graphql-transport-ws (used for the legacy protocol too).
mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const INTERNAL_SERVER_ERROR: u16 = 4500;
    pub const BAD_REQUEST: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const CONNECTION_INITIALISATION_TIMEOUT: u16 = 4408;
    pub const SUBSCRIBER_ALREADY_EXISTS: u16 = 4409;
    pub const TOO_MANY_INITIALISATION_REQUESTS: u16 = 4429;
}

/// Counts a refused socket or operation by why, and logs it once (never what the client sent).
fn refused(reason: &'static str) {
    metrics::counter!("websocket_refused_total", "reason" => reason).increment(1);
    tracing::info!(reason, "refused on a WebSocket");
}

/// Which subprotocol a socket speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    /// `graphql-transport-ws`.
    TransportWs,
    /// `graphql-ws`, the legacy subscriptions-transport-ws.
    Legacy,
}

/// A message from the client, checked against the protocol.
#[derive(Debug)]
enum Incoming {
    ConnectionInit(Value),
    Ping(Option<Value>),
    Pong,
    Subscribe {
        id: String,
        request: Box<async_graphql::Request>,
    },
    Complete {
        id: String,
    },
    /// The legacy `connection_terminate`.
    Terminate,
}

impl Incoming {
    /// Reads a text frame; `Err` is the reason to close with 4400.
    fn parse(dialect: Dialect, text: &str) -> Result<Self, String> {
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
        let (subscribe, complete) = match dialect {
            Dialect::TransportWs => ("subscribe", "complete"),
            Dialect::Legacy => ("start", "stop"),
        };
        match kind.as_str() {
            "connection_init" => Ok(Self::ConnectionInit(payload.unwrap_or_default())),
            "ping" => Ok(Self::Ping(payload)),
            "pong" => Ok(Self::Pong),
            kind if kind == subscribe => {
                let id = id()?;
                let Some(Value::Object(mut payload)) = payload else {
                    return Err(format!("Invalid message received: `{kind}` needs a payload"));
                };
                let mut take = |name: &str| payload.remove(name).unwrap_or(Value::Null);
                let request =
                    request_from_params(take("query"), take("operationName"), take("variables"), take("extensions"))
                        .map_err(|problem| format!("Invalid message received: {problem}"))?;
                Ok(Self::Subscribe { id, request: Box::new(request) })
            }
            kind if kind == complete => Ok(Self::Complete { id: id()? }),
            "connection_terminate" if dialect == Dialect::Legacy => Ok(Self::Terminate),
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
    /// The legacy protocol's refusal of `connection_init`.
    ConnectionError {
        payload: Value,
    },
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<Value>,
    },
    Next {
        id: &'a str,
        payload: &'a async_graphql::Response,
    },
    /// The legacy protocol's `next`.
    Data {
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
    Send(Vec<String>),
    Nothing,
    Close(u16, String),
    /// One last message, then the close.
    SendThenClose(String, u16, String),
}

/// The operations each user has running on this replica's sockets, for
/// `WS_MAX_OPERATIONS_PER_USER`.
#[derive(Default)]
pub(super) struct UserOperations(Mutex<HashMap<Uuid, usize>>);

impl UserOperations {
    /// A place for one more operation of `user_id`, unless they have `max` already.
    fn acquire(self: &Arc<Self>, user_id: Uuid, max: usize) -> Option<OperationSlot> {
        let mut running = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = running.entry(user_id).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(OperationSlot { registry: self.clone(), user_id })
    }
}

/// One running operation's place, given back when it ends however it ends.
struct OperationSlot {
    registry: Arc<UserOperations>,
    user_id: Uuid,
}

impl Drop for OperationSlot {
    fn drop(&mut self) {
        let mut running = self.registry.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = running.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.user_id);
            }
        }
    }
}

struct Operation {
    generation: u64,
    abort: AbortHandle,
    _slot: Option<OperationSlot>,
}

/// Who the socket acts for, once `connection_init` was accepted.
struct Session {
    caller: Caller,
    /// The `Authorization` value from `connection_init`, to check the key again.
    credential: Option<String>,
    checked_at: Instant,
    /// The user's ended access (a key revoked, the user deleted); `None` for the anonymous.
    access: Option<Subscription<AccessEvent>>,
}

/// One connection. Operations are streams polled by the connection's own task (no task or
/// channel per operation, so a relayed delta costs no extra hop); stopping one drops its stream
/// at once, and so does closing the socket.
struct Connection {
    schema: AppSchema,
    app: AppState,
    user_operations: Arc<UserOperations>,
    dialect: Dialect,
    session: Option<Session>,
    init_received: bool,
    operations: HashMap<String, Operation>,
    results: SelectAll<BoxStream<'static, OperationEvent>>,
    generations: u64,
}

/// Resolves when the session's access ends: `Ok` with the event, `Err` when events were missed
/// (the key must be checked again). Never, without a session that can lose access.
async fn access_lost(session: &mut Option<Session>) -> Result<AccessEvent, Lagged> {
    match session.as_mut().and_then(|session| session.access.as_mut()) {
        Some(access) => access.recv().await,
        None => std::future::pending().await,
    }
}

impl Connection {
    fn new(state: HttpState, dialect: Dialect) -> Self {
        Self {
            schema: state.schema,
            app: state.app,
            user_operations: state.user_operations,
            dialect,
            session: None,
            init_received: false,
            operations: HashMap::new(),
            results: SelectAll::new(),
            generations: 0,
        }
    }

    fn limits(&self) -> &TransportConfig {
        &self.app.config.transport
    }

    async fn serve(mut self, mut socket: WebSocket) {
        let init_timeout = tokio::time::sleep(self.limits().ws_init_timeout);
        tokio::pin!(init_timeout);
        let idle_timeout = self.limits().ws_idle_timeout;
        let idle = tokio::time::sleep(idle_timeout);
        tokio::pin!(idle);
        // Browsers answer WebSocket pings by themselves: a live client stays active without
        // sending anything of its own.
        let mut pings = tokio::time::interval_at(Instant::now() + idle_timeout / 3, idle_timeout / 3);
        loop {
            enum Wake {
                Client(Option<Result<Message, axum::Error>>),
                Result(OperationEvent),
                InitTimeout,
                Idle,
                Ping,
                AccessLost(Result<AccessEvent, Lagged>),
                Closing,
            }
            let closing = self.app.lifecycle.closing.clone();
            let wake = tokio::select! {
                message = socket.recv() => Wake::Client(message),
                Some(event) = self.results.next(), if !self.results.is_empty() => Wake::Result(event),
                () = &mut init_timeout, if !self.init_received => Wake::InitTimeout,
                () = &mut idle => Wake::Idle,
                _ = pings.tick() => Wake::Ping,
                lost = access_lost(&mut self.session) => Wake::AccessLost(lost),
                () = closing.cancelled() => Wake::Closing,
            };
            if matches!(wake, Wake::Client(_)) {
                idle.as_mut().reset(Instant::now() + idle_timeout);
            }
            let step = match wake {
                Wake::Client(None | Some(Ok(Message::Close(_)))) => return,
                // Tungstenite refuses a frame or message over `WS_MAX_MESSAGE_BYTES`, or one that
                // breaks the WebSocket protocol, as a read error.
                Wake::Client(Some(Err(error))) => {
                    refused("invalid_frame");
                    tracing::debug!(%error, "a WebSocket read failed");
                    let limit = self.limits().ws_max_message_bytes;
                    Step::Close(
                        close::BAD_REQUEST,
                        format!("Invalid message received: over {limit} bytes, or not a valid WebSocket frame"),
                    )
                }
                Wake::Client(Some(Ok(Message::Text(text)))) => match Incoming::parse(self.dialect, &text) {
                    Ok(incoming) => self.on_message(incoming).await,
                    Err(reason) => Step::Close(close::BAD_REQUEST, reason),
                },
                Wake::Client(Some(Ok(Message::Binary(_)))) => {
                    Step::Close(close::BAD_REQUEST, "Invalid message received: messages are JSON text".into())
                }
                // WebSocket-level pings are answered by the WebSocket layer itself.
                Wake::Client(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => Step::Nothing,
                Wake::Result(event) => self.on_result(event),
                Wake::InitTimeout => {
                    refused("init_timeout");
                    Step::Close(close::CONNECTION_INITIALISATION_TIMEOUT, "Connection initialisation timeout".into())
                }
                Wake::Idle => {
                    refused("idle");
                    Step::Close(
                        close::NORMAL,
                        format!("Idle timeout: nothing received for {}s", idle_timeout.as_secs()),
                    )
                }
                Wake::Ping => {
                    if socket.send(Message::Ping(Default::default())).await.is_err() {
                        return;
                    }
                    Step::Nothing
                }
                Wake::Closing => {
                    Step::Close(close::GOING_AWAY, "Going away: this server is shutting down; reconnect".into())
                }
                Wake::AccessLost(Ok(event)) => self.on_access_event(event),
                Wake::AccessLost(Err(Lagged(_))) => self.recheck().await.unwrap_or(Step::Nothing),
            };
            match step {
                Step::Nothing => {}
                Step::Send(messages) => {
                    for text in messages {
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            return;
                        }
                    }
                }
                Step::SendThenClose(text, code, reason) => {
                    self.stop_all();
                    if socket.send(Message::Text(text.into())).await.is_ok() {
                        close_socket(socket, code, reason).await;
                    }
                    return;
                }
                Step::Close(code, reason) => {
                    // Whatever runs stops now, not when the client gets round to closing.
                    self.stop_all();
                    return close_socket(socket, code, reason).await;
                }
            }
        }
    }

    fn stop_all(&mut self) {
        self.operations.clear();
        self.results = SelectAll::new();
        self.session = None;
    }

    fn on_access_event(&self, event: AccessEvent) -> Step {
        let Some(Session { caller: Caller::User { key_id, .. }, .. }) = &self.session else { return Step::Nothing };
        if !event.ends(*key_id) {
            return Step::Nothing;
        }
        refused("access_ended");
        let reason = match event {
            AccessEvent::KeyRevoked { .. } => "Forbidden: the API key was revoked",
            AccessEvent::UserDeleted { .. } => "Forbidden: the user was deleted",
        };
        Step::Close(close::FORBIDDEN, reason.into())
    }

    /// Checks the session's key again; `Some` closes the socket.
    async fn recheck(&mut self) -> Option<Step> {
        let session = self.session.as_mut()?;
        let Caller::User { key_id, .. } = session.caller else { return None };
        match identify(&self.app, session.credential.as_deref()).await {
            Ok(Caller::User { key_id: now, .. }) if now == key_id => {
                session.checked_at = Instant::now();
                None
            }
            Ok(_) => {
                refused("access_ended");
                Some(Step::Close(close::FORBIDDEN, format!("Forbidden: {}", invalid_key())))
            }
            Err(error) => {
                graphql::client_message(&error);
                Some(Step::Close(close::INTERNAL_SERVER_ERROR, "Internal server error".into()))
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
                let credential = credential_from_init(&payload);
                match identify(&self.app, credential.as_deref()).await {
                    Ok(Caller::InvalidKey) => {
                        refused("forbidden");
                        self.refuse_init(invalid_key())
                    }
                    Ok(caller) => {
                        let access = match caller {
                            Caller::User { user_id, .. } => Some(self.app.access_events.subscribe(user_id)),
                            _ => None,
                        };
                        self.session = Some(Session { caller, credential, checked_at: Instant::now(), access });
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
            Incoming::Terminate => Step::Close(close::NORMAL, "Terminated".into()),
            Incoming::Subscribe { id, request } => {
                let Some(session) = &self.session else {
                    return Step::Close(close::UNAUTHORIZED, "Unauthorized".into());
                };
                if self.operations.contains_key(&id) {
                    return Step::Close(
                        close::SUBSCRIBER_ALREADY_EXISTS,
                        format!("Subscriber for {id} already exists"),
                    );
                }
                if session.checked_at.elapsed() > KEY_RECHECK
                    && let Some(close) = self.recheck().await
                {
                    return close;
                }
                self.subscribe(id, *request)
            }
            Incoming::Complete { id } => {
                // The client stops listening: drop the operation; nothing more is sent for it.
                if let Some(operation) = self.operations.remove(&id) {
                    operation.abort.abort();
                }
                Step::Nothing
            }
        }
    }

    /// A refused `connection_init`: 4403, after the legacy protocol's own `connection_error`.
    fn refuse_init(&self, error: AppError) -> Step {
        let reason = format!("Forbidden: {error}");
        if self.dialect == Dialect::Legacy {
            return match serde_json::to_string(&Outgoing::ConnectionError {
                payload: json!({ "message": error.client_message() }),
            }) {
                Ok(text) => Step::SendThenClose(text, close::FORBIDDEN, reason),
                Err(_) => Step::Close(close::FORBIDDEN, reason),
            };
        }
        Step::Close(close::FORBIDDEN, reason)
    }

    /// Starts an operation, unless a limit refuses it (the socket stays open).
    fn subscribe(&mut self, id: String, request: async_graphql::Request) -> Step {
        let Some(session) = &self.session else { return Step::Nothing };
        let limits = self.limits();
        if self.operations.len() >= limits.ws_max_operations_per_socket {
            refused("operations_per_socket");
            let message = format!(
                "this socket already runs {} operations, the most it may; complete one first",
                limits.ws_max_operations_per_socket
            );
            return self.refuse_operation(&id, message);
        }
        let slot = match session.caller {
            Caller::User { user_id, .. } => {
                match self.user_operations.acquire(user_id, limits.ws_max_operations_per_user) {
                    Some(slot) => Some(slot),
                    None => {
                        refused("operations_per_user");
                        let message = format!(
                            "your sockets already run {} operations, the most one user may; complete one first",
                            limits.ws_max_operations_per_user
                        );
                        return self.refuse_operation(&id, message);
                    }
                }
            }
            _ => None,
        };
        let request = request.data(session.caller).data(OverWebSocket);
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
        self.operations.insert(id, Operation { generation, abort, _slot: slot });
        Step::Nothing
    }

    /// Refuses one operation with RATE_LIMITED, as that protocol reports an operation that
    /// cannot run.
    fn refuse_operation(&self, id: &str, message: String) -> Step {
        let mut error = async_graphql::ServerError::new(message, None);
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", code::RATE_LIMITED);
        extensions.set("retryAfter", 1);
        self.request_error(id, async_graphql::Response::from_errors(vec![error]))
    }

    /// An operation that did not run: graphql-transport-ws's `error` (which ends it without
    /// `complete`); in the legacy protocol, `data` with the errors, then `complete`.
    fn request_error(&self, id: &str, response: async_graphql::Response) -> Step {
        match self.dialect {
            Dialect::TransportWs => send(&Outgoing::Error { id, payload: &response.errors }),
            Dialect::Legacy => send_all(&[Outgoing::Data { id, payload: &response }, Outgoing::Complete { id }]),
        }
    }

    fn on_result(&mut self, event: OperationEvent) -> Step {
        let current = self.operations.get(&*event.id).is_some_and(|operation| operation.generation == event.generation);
        if !current {
            return Step::Nothing;
        }
        match event.response {
            // Nothing ran (the document did not parse or validate, a persisted query is unknown).
            Some(response) if is_request_error(&response) => {
                if let Some(operation) = self.operations.remove(&*event.id) {
                    operation.abort.abort();
                }
                self.request_error(&event.id, response)
            }
            Some(response) => match self.dialect {
                Dialect::TransportWs => send(&Outgoing::Next { id: &event.id, payload: &response }),
                Dialect::Legacy => send(&Outgoing::Data { id: &event.id, payload: &response }),
            },
            None => {
                self.operations.remove(&*event.id);
                send(&Outgoing::Complete { id: &event.id })
            }
        }
    }
}

fn send(message: &Outgoing<'_>) -> Step {
    send_all(std::slice::from_ref(message))
}

fn send_all(messages: &[Outgoing<'_>]) -> Step {
    match messages.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>() {
        Ok(texts) => Step::Send(texts),
        Err(error) => {
            tracing::error!(%error, "could not serialise a WebSocket message");
            Step::Close(close::INTERNAL_SERVER_ERROR, "Internal server error".into())
        }
    }
}

/// Sends the close frame and waits a moment for the client's (the closing handshake), so what
/// the client still sends meanwhile (a pong, say) does not meet a closed connection before the
/// client has read why it was closed.
async fn close_socket(mut socket: WebSocket, code: u16, reason: String) {
    let frame = CloseFrame { code, reason: truncate(reason).into() };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
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
            assert!(Incoming::parse(Dialect::TransportWs, bad).is_err(), "{bad}");
        }
        for good in [
            r#"{"type": "connection_init"}"#,
            r#"{"type": "connection_init", "payload": null}"#,
            r#"{"type": "ping", "payload": {"t": 1}}"#,
            r#"{"type": "pong"}"#,
            r#"{"type": "subscribe", "id": "1", "payload": {"query": "{ a }", "variables": null}}"#,
            r#"{"type": "complete", "id": "1"}"#,
        ] {
            assert!(Incoming::parse(Dialect::TransportWs, good).is_ok(), "{good}");
        }
    }

    #[test]
    fn long_close_reasons_are_cut_on_a_character_boundary() {
        let reason = truncate(format!("Subscriber for {} already exists", "é".repeat(100)));
        assert!(reason.len() <= 123);
        assert!(reason.starts_with("Subscriber for é"));
    }
}
