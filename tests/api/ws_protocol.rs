//! graphql-transport-ws to the letter, with raw frames: each close code of the protocol, `complete`
//! from either side, `ping`/`pong` with payloads, `error` for an operation that cannot run; and
//! the legacy `graphql-ws` refusing a bad key with its own `connection_error`, then 4403.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{Backend, TestApp};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Sane bound on waiting for the server, so a broken server fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(10);

async fn open(app: &TestApp, protocol: &str) -> Socket {
    let mut request = format!("ws://127.0.0.1:{}/graphql", app.port).into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", protocol.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.expect("WebSocket upgrade").0
}

async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::Text(message.to_string().into())).await.expect("send");
}

/// The next JSON message (WebSocket-level pings skipped); panics on a close.
async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(PATIENCE, socket.next()).await.expect("a message in time");
        match frame.expect("socket open").expect("frame") {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// Reads until the server closes the socket; returns its close code and reason, and the
/// messages that came before.
async fn closed(socket: &mut Socket) -> (u16, String, Vec<Value>) {
    let mut before = Vec::new();
    loop {
        let frame = tokio::time::timeout(PATIENCE, socket.next()).await.expect("the server closes in time");
        match frame {
            Some(Ok(Message::Close(Some(frame)))) => return (frame.code.into(), frame.reason.to_string(), before),
            Some(Ok(Message::Text(text))) => before.push(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a close frame with a code, got {other:?}"),
        }
    }
}

async fn acknowledged(app: &TestApp, key: &str) -> Socket {
    let mut socket = open(app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}") } }))
        .await;
    assert_eq!(next(&mut socket).await, json!({ "type": "connection_ack" }));
    socket
}

const MEMORY_EVENTS: &str = "subscription { memoryEvents { kind memory { content } } }";

#[tokio::test]
async fn an_invalid_message_closes_with_4400() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let invalid = [
        Message::Text("not json".into()),
        Message::Text(json!({ "type": "subscribe", "payload": { "query": "{ __typename }" } }).to_string().into()),
        Message::Text(json!({ "type": "subscribe", "id": "1", "payload": { "query": 42 } }).to_string().into()),
        Message::Text(json!({ "type": "next", "id": "1", "payload": {} }).to_string().into()),
        Message::Text(json!({ "type": "whatever" }).to_string().into()),
        Message::Binary(b"{\"type\": \"ping\"}".to_vec().into()),
    ];
    for message in invalid {
        let mut socket = acknowledged(&app, &key).await;
        socket.send(message.clone()).await.unwrap();
        let (code, reason, _) = closed(&mut socket).await;
        assert_eq!(code, 4400, "{message:?}: {reason}");
        assert!(reason.starts_with("Invalid message received"), "{reason}");
    }
}

#[tokio::test]
async fn subscribe_before_connection_ack_closes_with_4401() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let mut socket = open(&app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "subscribe", "id": "1", "payload": { "query": "{ __typename }" } })).await;
    let (code, reason, before) = closed(&mut socket).await;
    assert_eq!((code, reason.as_str()), (4401, "Unauthorized"));
    assert!(before.is_empty(), "nothing ran: {before:?}");
}

#[tokio::test]
async fn a_refused_connection_init_closes_with_4403_without_ack() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let spare =
        app.data(&key, "mutation { createApiKey(input: {name: \"spare\"}) { apiKey key { id } } }", json!({})).await;
    let revoked = spare["createApiKey"]["apiKey"].as_str().unwrap().to_owned();
    app.data(
        &key,
        "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
        json!({ "id": spare["createApiKey"]["key"]["id"] }),
    )
    .await;

    let unknown = format!("{key}x");
    for payload in [
        json!({ "authorization": format!("Bearer {unknown}") }),
        json!({ "authorization": format!("Bearer {revoked}") }),
        json!({ "token": "not-a-key" }),
        json!({ "headers": { "Authorization": "Basic dXNlcjpwYXNz" } }),
    ] {
        let mut socket = open(&app, "graphql-transport-ws").await;
        send(&mut socket, json!({ "type": "connection_init", "payload": payload })).await;
        let (code, reason, before) = closed(&mut socket).await;
        assert_eq!(code, 4403, "{payload}: {reason}");
        assert!(reason.starts_with("Forbidden"), "{reason}");
        assert!(before.is_empty(), "{payload}: no connection_ack: {before:?}");
    }
    // No key at all is not a refused key: the connection opens, and what needs a key says so.
    let mut anonymous = open(&app, "graphql-transport-ws").await;
    send(&mut anonymous, json!({ "type": "connection_init" })).await;
    assert_eq!(next(&mut anonymous).await["type"], "connection_ack");
}

#[tokio::test]
async fn no_connection_init_in_time_closes_with_4408() {
    // Long enough that a loaded CI machine still gets its ping answered first.
    let app = TestApp::spawn_with(Backend::Sqlite, &[("WS_INIT_TIMEOUT_SECONDS", "3")]).await.unwrap();
    let mut socket = open(&app, "graphql-transport-ws").await;
    // Pings do not count as initialising.
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await, json!({ "type": "pong" }));
    let (code, reason, _) = closed(&mut socket).await;
    assert_eq!((code, reason.as_str()), (4408, "Connection initialisation timeout"));

    // Initialised in time, the socket outlives the timeout.
    let (_, key) = app.create_user("Ada").await;
    let mut socket = acknowledged(&app, &key).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await, json!({ "type": "pong" }));
}

#[tokio::test]
async fn a_duplicate_operation_id_closes_with_4409() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let mut socket = acknowledged(&app, &key).await;
    let subscribe = json!({ "type": "subscribe", "id": "events-1", "payload": { "query": MEMORY_EVENTS } });
    send(&mut socket, subscribe.clone()).await;
    send(&mut socket, subscribe).await;
    let (code, reason, _) = closed(&mut socket).await;
    assert_eq!((code, reason.as_str()), (4409, "Subscriber for events-1 already exists"));
}

#[tokio::test]
async fn a_second_connection_init_closes_with_4429() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let mut socket = acknowledged(&app, &key).await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}") } }))
        .await;
    let (code, reason, _) = closed(&mut socket).await;
    assert_eq!((code, reason.as_str()), (4429, "Too many initialisation requests"));
}

#[tokio::test]
async fn ping_is_answered_with_its_payload_at_any_time() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let mut socket = open(&app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "ping", "payload": { "sent": 42 } })).await;
    assert_eq!(next(&mut socket).await, json!({ "type": "pong", "payload": { "sent": 42 } }));
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await, json!({ "type": "pong" }));
    // A client's pong (an answer to nothing, or a keep-alive) is accepted silently.
    send(&mut socket, json!({ "type": "pong", "payload": { "x": 1 } })).await;
    send(&mut socket, json!({ "type": "ping", "payload": { "after": "pong" } })).await;
    assert_eq!(next(&mut socket).await, json!({ "type": "pong", "payload": { "after": "pong" } }));
}

#[tokio::test]
async fn complete_comes_from_either_side() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let mut socket = acknowledged(&app, &key).await;

    // The server completes an operation that has no more results.
    send(&mut socket, json!({ "type": "subscribe", "id": "q", "payload": { "query": "{ me { displayName } }" } }))
        .await;
    assert_eq!(
        next(&mut socket).await,
        json!({ "type": "next", "id": "q", "payload": { "data": { "me": { "displayName": "Ada" } } } })
    );
    assert_eq!(next(&mut socket).await, json!({ "type": "complete", "id": "q" }));

    // The client completes one it no longer wants: nothing more comes for it, and its id is free.
    send(&mut socket, json!({ "type": "subscribe", "id": "m", "payload": { "query": MEMORY_EVENTS } })).await;
    send(&mut socket, json!({ "type": "complete", "id": "m" })).await;
    send(&mut socket, json!({ "type": "subscribe", "id": "n", "payload": { "query": MEMORY_EVENTS } })).await;
    // A round trip, so the server has the subscription before the memory changes.
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await["type"], "pong");
    app.data(&key, "mutation { remember(input: {content: \"I like tea\"}) { id } }", json!({})).await;
    let event = next(&mut socket).await;
    assert_eq!(event["id"], "n", "{event}");
    assert_eq!(event["payload"]["data"]["memoryEvents"]["memory"]["content"], "I like tea");
    send(&mut socket, json!({ "type": "ping", "payload": { "barrier": true } })).await;
    assert_eq!(next(&mut socket).await["type"], "pong", "nothing for the completed operation");
    // Reusing a completed id is allowed.
    send(&mut socket, json!({ "type": "subscribe", "id": "m", "payload": { "query": "{ __typename }" } })).await;
    assert_eq!(next(&mut socket).await["type"], "next");
    assert_eq!(next(&mut socket).await, json!({ "type": "complete", "id": "m" }));
}

#[tokio::test]
async fn an_operation_that_cannot_run_gets_error_and_no_complete() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let mut socket = acknowledged(&app, &key).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": "subscription { noSuchField }" } }),
    )
    .await;
    let error = next(&mut socket).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["id"], "1");
    assert_eq!(error["payload"][0]["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await["type"], "pong", "no complete after error");
    // The id is free again.
    send(&mut socket, json!({ "type": "subscribe", "id": "1", "payload": { "query": "{ __typename }" } })).await;
    assert_eq!(next(&mut socket).await["type"], "next");
}

#[tokio::test]
async fn the_legacy_protocol_refuses_a_bad_key_with_connection_error() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let mut socket = open(&app, "graphql-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}x") } }))
        .await;
    let (code, reason, before) = closed(&mut socket).await;
    assert_eq!(before.len(), 1, "only connection_error, no connection_ack: {before:?}");
    let refused = &before[0];
    assert_eq!(refused["type"], "connection_error", "{refused}");
    assert!(refused["payload"]["message"].as_str().unwrap_or_default().contains("not valid"), "{refused}");
    assert_eq!(code, 4403, "{reason}");

    let mut socket = open(&app, "graphql-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}") } }))
        .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
}
