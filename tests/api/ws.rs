//! A GraphQL-over-WebSocket client for tests, speaking either subprotocol.

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws` (the graphql-ws library).
    TransportWs,
    /// `graphql-ws` (the legacy subscriptions-transport-ws).
    LegacyWs,
}

impl Protocol {
    pub const BOTH: [Protocol; 2] = [Protocol::TransportWs, Protocol::LegacyWs];

    fn name(self) -> &'static str {
        match self {
            Self::TransportWs => "graphql-transport-ws",
            Self::LegacyWs => "graphql-ws",
        }
    }
}

/// What the server sent for an operation.
#[derive(Debug)]
pub enum Frame {
    Data(Value),
    Errors(Value),
    Complete,
}

pub struct GqlSocket {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub protocol: Protocol,
}

pub const CHAT: &str = "subscription($c: ID!, $m: String!) { chat(input: {conversationId: $c, message: $m}) {
    __typename
    ... on ChatStarted { userMessageId assistantMessageId }
    ... on ChatDelta { text }
    ... on ChatCompleted { message { id content status role } stopReason
        usage { inputTokens outputTokens cacheReadInputTokens cacheCreationInputTokens } }
    ... on ChatFailed { code message retryable partialMessage { id content status } } } }";

impl GqlSocket {
    /// Connects and completes the handshake, with `init` as the `connection_init` payload.
    pub async fn connect(port: u16, protocol: Protocol, init: Value) -> Self {
        let mut request = format!("ws://127.0.0.1:{port}/graphql").into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", protocol.name().parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("WebSocket upgrade");
        assert_eq!(response.headers()["sec-websocket-protocol"], protocol.name());
        let mut socket = Self { socket, protocol };
        socket.send(json!({ "type": "connection_init", "payload": init })).await;
        let ack = socket.next_message().await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        socket
    }

    /// Connects as the holder of `key`.
    pub async fn with_key(port: u16, protocol: Protocol, key: &str) -> Self {
        Self::connect(port, protocol, json!({ "authorization": format!("Bearer {key}") })).await
    }

    async fn send(&mut self, message: Value) {
        self.socket.send(Message::Text(message.to_string().into())).await.expect("send");
    }

    /// The next protocol message, answering pings and skipping keep-alives; `None` once closed.
    async fn next_message(&mut self) -> Option<Value> {
        loop {
            let frame = match self.socket.next().await {
                Some(Ok(frame)) => frame,
                Some(Err(_)) | None => return None,
            };
            let text = match frame {
                Message::Text(text) => text,
                Message::Close(_) => return None,
                _ => continue,
            };
            let message: Value = serde_json::from_str(&text).expect("server sent JSON");
            match message["type"].as_str() {
                Some("ka") | Some("pong") => continue,
                Some("ping") => self.send(json!({ "type": "pong" })).await,
                _ => return Some(message),
            }
        }
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.subscribe_with(id, Some(query), variables, json!({})).await;
    }

    /// Subscribes with `extensions` (e.g. a persisted query's hash), the text left out if `None`.
    pub async fn subscribe_with(&mut self, id: &str, query: Option<&str>, variables: Value, extensions: Value) {
        let kind = match self.protocol {
            Protocol::TransportWs => "subscribe",
            Protocol::LegacyWs => "start",
        };
        let mut payload = json!({ "variables": variables, "extensions": extensions });
        if let Some(query) = query {
            payload["query"] = json!(query);
        }
        self.send(json!({ "id": id, "type": kind, "payload": payload })).await;
    }

    /// Stops an operation, as a client that unsubscribes does.
    pub async fn unsubscribe(&mut self, id: &str) {
        let kind = match self.protocol {
            Protocol::TransportWs => "complete",
            Protocol::LegacyWs => "stop",
        };
        self.send(json!({ "id": id, "type": kind })).await;
    }

    pub async fn next_frame(&mut self) -> Frame {
        let message = self.next_message().await.expect("the socket closed mid-operation");
        match message["type"].as_str() {
            Some("next") | Some("data") => {
                let payload = &message["payload"];
                if payload.get("errors").is_some_and(|e| !e.is_null()) {
                    Frame::Errors(payload["errors"].clone())
                } else {
                    Frame::Data(payload["data"].clone())
                }
            }
            Some("error") => Frame::Errors(message["payload"].clone()),
            Some("complete") => Frame::Complete,
            other => panic!("unexpected message {other:?}: {message}"),
        }
    }

    /// All chat events of one operation until it completes.
    pub async fn chat_events(&mut self) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            match self.next_frame().await {
                Frame::Data(data) => events.push(data["chat"].clone()),
                Frame::Errors(errors) => panic!("chat failed with GraphQL errors: {errors}"),
                Frame::Complete => return events,
            }
        }
    }

    /// Reads until the server closes the socket; its close code (`None` when it just dropped).
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
