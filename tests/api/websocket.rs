//! The WebSocket endpoint on `/graphql` speaks both subscription protocols and answers with the
//! one it actually speaks.

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::helpers::{Backend, TestApp};

async fn connect(
    app: &TestApp,
    offered: &str,
) -> (String, tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>) {
    let mut request = format!("ws://127.0.0.1:{}/graphql", app.port).into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", offered.parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("WebSocket upgrade");
    let spoken = response.headers().get("sec-websocket-protocol").unwrap().to_str().unwrap().to_owned();
    (spoken, socket)
}

async fn next_json(
    socket: &mut (impl futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Value {
    loop {
        match socket.next().await.expect("socket open").expect("frame") {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[tokio::test]
async fn both_protocols_are_negotiated_as_spoken() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;

    for (offered, expected) in [
        ("graphql-transport-ws", "graphql-transport-ws"),
        ("graphql-ws", "graphql-ws"),
        ("graphql-ws, graphql-transport-ws", "graphql-ws"),
        ("graphql-transport-ws, graphql-ws", "graphql-transport-ws"),
    ] {
        let (spoken, mut socket) = connect(&app, offered).await;
        assert_eq!(spoken, expected, "offered {offered}");
        socket
            .send(Message::Text(
                json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}") } })
                    .to_string()
                    .into(),
            ))
            .await
            .unwrap();
        let ack = next_json(&mut socket).await;
        assert_eq!(ack["type"], "connection_ack", "{expected}: {ack}");
    }
}

#[tokio::test]
async fn a_socket_without_a_graphql_protocol_is_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let mut request = format!("ws://127.0.0.1:{}/graphql", app.port).into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "soap".parse().unwrap());
    let error = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(error.to_string().contains("400"), "{error}");
}
