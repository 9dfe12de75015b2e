//! What keeps the server standing on a public URL: access that ends on open sockets and streams
//! the moment a key is revoked or its user deleted (on every replica), key management kept off
//! WebSockets, and the limits of HTTP requests and of WebSockets, each refusal as a client sees it.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{Backend, PATIENCE, TestApp, error_code};
use crate::on_both_backends;
use crate::sse_client::EventStream;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const MEMORY_EVENTS: &str = "subscription { memoryEvents { kind memory { content } } }";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dialect {
    TransportWs,
    Legacy,
}

const BOTH: [Dialect; 2] = [Dialect::TransportWs, Dialect::Legacy];

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Self::TransportWs => "graphql-transport-ws",
            Self::Legacy => "graphql-ws",
        }
    }

    fn subscribe(self) -> &'static str {
        match self {
            Self::TransportWs => "subscribe",
            Self::Legacy => "start",
        }
    }

    fn stop(self) -> &'static str {
        match self {
            Self::TransportWs => "complete",
            Self::Legacy => "stop",
        }
    }
}

async fn open(port: u16, dialect: Dialect) -> Socket {
    let mut request = format!("ws://127.0.0.1:{port}/graphql").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", dialect.name().parse().unwrap());
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

async fn acknowledged(port: u16, dialect: Dialect, key: &str) -> Socket {
    let mut socket = open(port, dialect).await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}") } }))
        .await;
    assert_eq!(next(&mut socket).await, json!({ "type": "connection_ack" }), "{dialect:?}");
    socket
}

async fn start(socket: &mut Socket, dialect: Dialect, id: &str, query: &str) {
    send(socket, json!({ "type": dialect.subscribe(), "id": id, "payload": { "query": query } })).await;
}

/// A ping round trip: the server has handled everything sent before it.
async fn round_trip(socket: &mut Socket) {
    send(socket, json!({ "type": "ping" })).await;
    assert_eq!(next(socket).await["type"], "pong");
}

/// A second key of the caller: (its secret, its id).
async fn spare_key(app: &TestApp, key: &str) -> (String, String) {
    let data =
        app.data(key, "mutation { createApiKey(input: {name: \"spare\"}) { apiKey key { id } } }", json!({})).await;
    let created = &data["createApiKey"];
    (created["apiKey"].as_str().unwrap().to_owned(), created["key"]["id"].as_str().unwrap().to_owned())
}

async fn revoke(app: &TestApp, key: &str, id: &str) {
    app.data(key, "mutation($id: ID!) { revokeApiKey(id: $id) { id } }", json!({ "id": id })).await;
}

/// Revoking a key closes, with 4403, the sockets opened with it and ends their subscriptions,
/// in both protocols and on every replica: with Redis, the key is revoked through another
/// replica than the one holding the sockets. The user's other keys' sockets stay open.
async fn revoking_a_key_closes_its_sockets_on_every_replica(app: TestApp) {
    let other = if app.backend == Backend::Postgres { Some(app.replica().await) } else { None };
    let revoker = other.as_ref().unwrap_or(&app);
    let (_, key) = app.create_user("Ada").await;
    let mut keeper = acknowledged(app.port, Dialect::TransportWs, &key).await;
    for dialect in BOTH {
        let (spare, spare_id) = spare_key(&app, &key).await;
        let mut socket = acknowledged(app.port, dialect, &spare).await;
        start(&mut socket, dialect, "events", MEMORY_EVENTS).await;
        round_trip(&mut socket).await;
        revoke(revoker, &key, &spare_id).await;
        let (code, reason, before) = closed(&mut socket).await;
        assert_eq!(code, 4403, "{dialect:?}: {reason}");
        assert_eq!(reason, "Forbidden: the API key was revoked");
        assert!(before.is_empty(), "{dialect:?}: nothing after the revocation: {before:?}");
    }
    round_trip(&mut keeper).await;
}

/// `deleteMyData` closes every socket of the user, whichever key opened it.
async fn deleting_the_user_closes_their_sockets(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let (spare, _) = spare_key(&app, &key).await;
    let (_, bystander) = app.create_user("Grace").await;
    let mut sockets = vec![
        acknowledged(app.port, Dialect::TransportWs, &key).await,
        acknowledged(app.port, Dialect::Legacy, &spare).await,
    ];
    let mut unaffected = acknowledged(app.port, Dialect::TransportWs, &bystander).await;
    app.data(&key, "mutation { deleteMyData }", json!({})).await;
    for socket in &mut sockets {
        let (code, reason, _) = closed(socket).await;
        assert_eq!((code, reason.as_str()), (4403, "Forbidden: the user was deleted"));
    }
    round_trip(&mut unaffected).await;
}

/// A subscription over SSE ends with UNAUTHENTICATED when its key is revoked.
async fn revoking_a_key_ends_its_event_streams(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let (spare, spare_id) = spare_key(&app, &key).await;
    let mut stream = EventStream::subscribe(app.client(), app.port, Some(&spare), MEMORY_EVENTS, json!({})).await;
    crate::helpers::eventually(
        "the stream to listen for access events",
        || async { app.state.access_events.subscribers() },
        |n| *n > 0,
    )
    .await;
    revoke(&app, &key, &spare_id).await;
    let event = tokio::time::timeout(PATIENCE, stream.next_event()).await.expect("in time").expect("an event");
    assert_eq!(event.event, "next");
    let payload: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(error_code(&payload), "UNAUTHENTICATED", "{payload}");
    let complete = tokio::time::timeout(PATIENCE, stream.next_event()).await.expect("in time").expect("complete");
    assert_eq!(complete.event, "complete");
    assert!(tokio::time::timeout(PATIENCE, stream.next_event()).await.expect("the end in time").is_none());
}

/// A revocation whose event never reached this replica (written straight to SQL here, as an
/// operator might, or published while Redis was down) still ends the socket: once its last check
/// is 5 s old, the key is checked again before the socket's next operation runs.
async fn a_revocation_whose_event_was_lost_is_caught_by_the_next_check(app: TestApp) {
    use entity::{api_key, prelude::ApiKey};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};

    let (_, key) = app.create_user("Ada").await;
    let (spare, spare_id) = spare_key(&app, &key).await;
    let mut socket = acknowledged(app.port, Dialect::TransportWs, &spare).await;
    let revoked = ApiKey::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(chrono::Utc::now()))
        .filter(api_key::Column::Id.eq(uuid::Uuid::parse_str(&spare_id).unwrap()))
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_eq!(revoked.rows_affected, 1);
    // Past the interval the last check is trusted for (5 s): nothing announced the revocation.
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    start(&mut socket, Dialect::TransportWs, "me", "{ me { id } }").await;
    let (code, reason, before) = closed(&mut socket).await;
    assert_eq!(code, 4403, "{reason}");
    assert!(before.is_empty(), "the operation did not run: {before:?}");
}

on_both_backends!(
    revoking_a_key_closes_its_sockets_on_every_replica,
    a_revocation_whose_event_was_lost_is_caught_by_the_next_check,
    deleting_the_user_closes_their_sockets,
    revoking_a_key_ends_its_event_streams,
);

/// Keys are made and revoked, and data deleted, over HTTP only: a socket outlives the checks
/// HTTP makes on every request.
#[tokio::test]
async fn key_management_is_refused_over_websocket() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let (_, spare_id) = spare_key(&app, &key).await;
    for dialect in BOTH {
        let mut socket = acknowledged(app.port, dialect, &key).await;
        for (id, mutation) in [
            ("create", "mutation { createApiKey { apiKey } }".to_owned()),
            ("revoke", format!("mutation {{ revokeApiKey(id: \"{spare_id}\") {{ id }} }}")),
            ("delete", "mutation { deleteMyData }".to_owned()),
        ] {
            start(&mut socket, dialect, id, &mutation).await;
            let message = next(&mut socket).await;
            let errors = &message["payload"]["errors"];
            assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN", "{dialect:?} {id}: {message}");
            assert!(errors[0]["message"].as_str().unwrap().contains("over HTTP"), "{message}");
            assert_eq!(next(&mut socket).await["type"], "complete");
        }
    }
    let keys = app.data(&key, "{ apiKeys { revokedAt } }", json!({})).await;
    assert_eq!(keys["apiKeys"], json!([{ "revokedAt": null }, { "revokedAt": null }]), "nothing changed");
}

async fn refusals_counted(app: &TestApp, reason: &str) -> bool {
    let metrics = app.client().get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    metrics.lines().any(|line| line.starts_with("http_requests_refused_total") && line.contains(reason))
}

/// A body over `HTTP_MAX_BODY_BYTES` is refused with 413 and a GraphQL error, whether its length
/// is announced or it comes in chunks; it is counted, and never echoed.
#[tokio::test]
async fn a_body_over_the_limit_gets_413_with_a_graphql_error() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let marker = "x".repeat(2 << 20);
    let body = json!({ "query": format!("{{ __typename }} # {marker}") }).to_string();
    let chunks: Vec<Result<String, std::io::Error>> =
        body.as_bytes().chunks(64 << 10).map(|c| Ok(String::from_utf8(c.to_vec()).unwrap())).collect();
    for (how, request_body) in [
        ("announced", reqwest::Body::from(body.clone())),
        ("chunked", reqwest::Body::wrap_stream(futures::stream::iter(chunks))),
    ] {
        let response = app
            .client()
            .post(format!("{}/graphql", app.address))
            .header("content-type", "application/json")
            .body(request_body)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 413, "{how}");
        let text = response.text().await.unwrap();
        assert!(!text.contains("xxxxxxxx"), "{how}: the body is not echoed");
        let answer: Value = serde_json::from_str(&text).expect("a JSON answer");
        assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{how}: {answer}");
        assert!(answer["errors"][0]["message"].as_str().unwrap().contains("1048576 bytes"), "{answer}");
    }
    assert!(refusals_counted(&app, "body_too_large").await);
    // Just under the limit is served.
    let fits = json!({ "query": format!("{{ __typename }} # {}", "x".repeat(1000 << 10)) });
    let response = app.client().post(format!("{}/graphql", app.address)).json(&fits).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

/// Reads from a raw connection until the server closes it; `true` when it did in time.
async fn server_closes(tcp: &mut TcpStream, mut trickle: impl FnMut() -> Option<&'static [u8]>) -> (bool, String) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while tokio::time::Instant::now() < deadline {
        if let Some(bytes) = trickle()
            && tcp.write_all(bytes).await.is_err()
        {
            return (true, String::from_utf8_lossy(&answer).into_owned());
        }
        match tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return (true, String::from_utf8_lossy(&answer).into_owned()),
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => {}
        }
    }
    (false, String::from_utf8_lossy(&answer).into_owned())
}

/// Headers sent a byte at a time are cut off after `HTTP_HEADER_TIMEOUT_SECONDS`; a body sent a
/// byte at a time gets 408 after `HTTP_REQUEST_TIMEOUT_SECONDS`.
#[tokio::test]
async fn trickled_requests_are_cut_off() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("HTTP_HEADER_TIMEOUT_SECONDS", "1"), ("HTTP_REQUEST_TIMEOUT_SECONDS", "1")],
    )
    .await
    .unwrap();
    let mut tcp = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    tcp.write_all(b"POST /graphql HTTP/1.1\r\nhost: localhost\r\n").await.unwrap();
    let (cut, answer) = server_closes(&mut tcp, || Some(b"x-slow: 1\r\n")).await;
    assert!(cut, "the connection is closed while the headers trickle in: {answer}");

    let mut tcp = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    tcp.write_all(
        b"POST /graphql HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{",
    )
    .await
    .unwrap();
    let (cut, answer) = server_closes(&mut tcp, || Some(b" ")).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{cut}: {answer}");
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let body: Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(error_code(&body), "UNAVAILABLE", "{body}");
    assert!(refusals_counted(&app, "request_timeout").await);
}

/// A replica serves `HTTP_MAX_CONNECTIONS` connections (a WebSocket holds one); the next is
/// answered 503 with a GraphQL error and closed, and a place freed is taken again.
#[tokio::test]
async fn connections_over_the_cap_get_503() {
    // Three: the helper's client keeps the connection `create_user` used, and two sockets.
    let app = TestApp::spawn_with(Backend::Sqlite, &[("HTTP_MAX_CONNECTIONS", "3")]).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let first = acknowledged(app.port, Dialect::TransportWs, &key).await;
    let mut second = acknowledged(app.port, Dialect::TransportWs, &key).await;
    // A fresh client, so no pooled connection of the helper's is reused.
    let client = reqwest::Client::new();
    let response = client.get(format!("{}/healthz", app.address)).send().await.expect("an answer");
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "UNAVAILABLE");
    round_trip(&mut second).await;
    drop(first);
    crate::helpers::eventually(
        "a freed place to be taken",
        || async { reqwest::Client::new().get(format!("{}/healthz", app.address)).send().await.unwrap().status() },
        |status| *status == 200,
    )
    .await;
}

/// Without `connection_init` within `WS_INIT_TIMEOUT_SECONDS`, either protocol closes with 4408.
#[tokio::test]
async fn no_connection_init_closes_with_4408_in_both_protocols() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("WS_INIT_TIMEOUT_SECONDS", "1")]).await.unwrap();
    for dialect in BOTH {
        let mut socket = open(app.port, dialect).await;
        let (code, reason, before) = closed(&mut socket).await;
        assert_eq!((code, reason.as_str()), (4408, "Connection initialisation timeout"), "{dialect:?}");
        assert!(before.is_empty());
    }
}

/// A message over `WS_MAX_MESSAGE_BYTES` closes the socket with 4400; one under it is served.
#[tokio::test]
async fn a_message_over_the_limit_closes_with_4400() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("WS_MAX_MESSAGE_BYTES", "4096")]).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    for dialect in BOTH {
        let mut socket = acknowledged(app.port, dialect, &key).await;
        start(&mut socket, dialect, "fits", &format!("{{ __typename }} # {}", "x".repeat(3000))).await;
        assert_eq!(next(&mut socket).await["payload"]["data"]["__typename"], "QueryRoot");
        assert_eq!(next(&mut socket).await["type"], "complete");
        start(&mut socket, dialect, "big", &format!("{{ __typename }} # {}", "x".repeat(5000))).await;
        let (code, reason, before) = closed(&mut socket).await;
        assert_eq!(code, 4400, "{dialect:?}: {reason}");
        assert!(reason.contains("over 4096 bytes"), "{reason}");
        assert!(before.is_empty(), "{before:?}");
    }
}

/// At most `WS_MAX_OPERATIONS_PER_SOCKET` operations run on a socket, and
/// `WS_MAX_OPERATIONS_PER_USER` for one user across sockets: one more is refused alone with
/// RATE_LIMITED, the socket stays open, and a completed operation makes room.
#[tokio::test]
async fn operations_are_capped_per_socket_and_per_user() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("WS_MAX_OPERATIONS_PER_SOCKET", "2"), ("WS_MAX_OPERATIONS_PER_USER", "3")],
    )
    .await
    .unwrap();
    let (_, key) = app.create_user("Ada").await;
    let (_, other) = app.create_user("Grace").await;
    for dialect in BOTH {
        let mut socket = acknowledged(app.port, dialect, &key).await;
        start(&mut socket, dialect, "a", MEMORY_EVENTS).await;
        start(&mut socket, dialect, "b", MEMORY_EVENTS).await;
        start(&mut socket, dialect, "c", MEMORY_EVENTS).await;
        let refused = next(&mut socket).await;
        assert_eq!(refused["id"], "c", "{refused}");
        let error = match dialect {
            Dialect::TransportWs => &refused["payload"][0],
            Dialect::Legacy => &refused["payload"]["errors"][0],
        };
        assert_eq!(error["extensions"]["code"], "RATE_LIMITED", "{refused}");
        assert_eq!(error["extensions"]["retryAfter"], 1);
        if dialect == Dialect::Legacy {
            assert_eq!(next(&mut socket).await, json!({ "type": "complete", "id": "c" }));
        }
        // Room again once one is done.
        send(&mut socket, json!({ "type": dialect.stop(), "id": "a" })).await;
        start(&mut socket, dialect, "d", MEMORY_EVENTS).await;
        round_trip(&mut socket).await;

        // The user's third operation fits on another socket, the fourth does not; another
        // user's do.
        let mut second = acknowledged(app.port, dialect, &key).await;
        start(&mut second, dialect, "e", MEMORY_EVENTS).await;
        start(&mut second, dialect, "f", "{ __typename }").await;
        let refused = next(&mut second).await;
        assert_eq!(refused["id"], "f", "{refused}");
        assert!(refused.to_string().contains("RATE_LIMITED"), "{refused}");
        if dialect == Dialect::Legacy {
            assert_eq!(next(&mut second).await, json!({ "type": "complete", "id": "f" }));
        }
        let mut others = acknowledged(app.port, dialect, &other).await;
        start(&mut others, dialect, "g", "{ __typename }").await;
        assert_eq!(next(&mut others).await["payload"]["data"]["__typename"], "QueryRoot");
        // Closing a socket gives its operations' places back.
        drop(socket);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            start(&mut second, dialect, "h", "{ __typename }").await;
            let answer = next(&mut second).await;
            if answer["payload"]["data"]["__typename"] == "QueryRoot" {
                assert_eq!(next(&mut second).await["type"], "complete");
                break;
            }
            if dialect == Dialect::Legacy {
                assert_eq!(next(&mut second).await["type"], "complete");
            }
            assert!(tokio::time::Instant::now() < deadline, "the closed socket's operations never ended: {answer}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A WebSocket spoken by hand over TCP, so the client answers nothing (a library client answers
/// pings as it reads): the handshake and `connection_init` with `key`.
async fn mute_socket(port: u16, key: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let upgrade = format!(
        "GET /graphql HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
         sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\
         sec-websocket-protocol: graphql-transport-ws\r\n\r\n"
    );
    tcp.write_all(upgrade.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    let init =
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}") } }).to_string();
    assert!(init.len() < 126);
    // A masked text frame, with the all-zero mask (which leaves the payload as it is).
    let mut frame = vec![0x81, 0x80 | init.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(init.as_bytes());
    tcp.write_all(&frame).await.unwrap();
    tcp
}

/// The next frame the server sends (all are short here): its opcode and payload.
async fn raw_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut header = [0u8; 2];
    tokio::time::timeout(PATIENCE, tcp.read_exact(&mut header)).await.expect("a frame in time").expect("a frame");
    assert!(header[1] < 126, "a short frame");
    let mut payload = vec![0u8; header[1] as usize];
    tcp.read_exact(&mut payload).await.unwrap();
    (header[0] & 0x0f, payload)
}

/// A socket from which nothing arrives (not even a pong to the server's pings) for
/// `WS_IDLE_TIMEOUT_SECONDS` is closed; one whose client answers the pings stays open.
#[tokio::test]
async fn idle_sockets_are_closed() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("WS_IDLE_TIMEOUT_SECONDS", "1")]).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let mut mute = mute_socket(app.port, &key).await;
    let (opcode, ack) = raw_frame(&mut mute).await;
    assert_eq!((opcode, serde_json::from_slice::<Value>(&ack).unwrap()), (1, json!({ "type": "connection_ack" })));
    let mut lively = acknowledged(app.port, Dialect::Legacy, &key).await;
    // The lively one is read all along (its client answers pings as it reads), past the timeout.
    let lively = tokio::spawn(async move {
        let until = tokio::time::Instant::now() + Duration::from_millis(2500);
        while let Ok(frame) = tokio::time::timeout_at(until, lively.next()).await {
            if !matches!(frame, Some(Ok(Message::Ping(_)))) {
                return Err(format!("only pings come: {frame:?}"));
            }
        }
        Ok(lively)
    });
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "the silent socket was never closed");
        match raw_frame(&mut mute).await {
            (0x9, _) => continue,
            (0x8, payload) => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                let reason = String::from_utf8_lossy(&payload[2..]).into_owned();
                assert_eq!(code, 1000, "{reason}");
                assert!(reason.starts_with("Idle timeout"), "{reason}");
                break;
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }
    let mut lively = lively.await.unwrap().unwrap_or_else(|e| panic!("the lively socket: {e}"));
    round_trip(&mut lively).await;
}
