//! GraphQL over Server-Sent Events (graphql-sse, distinct connections): the chat and
//! `memoryEvents` streamed to a raw HTTP client and to the `graphql-sse` client, authenticated by
//! the `Authorization` header; closing the request stops the chat as unsubscribing does.

use std::time::Duration;

use entity::enums::MessageStatus;
use entity::prelude::Message;
use reqwest::StatusCode;
use sea_orm::EntityTrait as _;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fake_anthropic::{Reply, StreamReply};
use crate::helpers::{Backend, TestApp};
use crate::node;
use crate::sse_client::EventStream;
use crate::ws::CHAT;

crate::on_both_backends!(
    a_chat_streams_to_a_raw_http_client,
    closing_the_request_interrupts_the_chat,
    memory_events_stream_over_sse,
);

async fn conversation(app: &TestApp, key: &str) -> String {
    let data = app.data(key, "mutation { createConversation(input: {title: \"sse\"}) { id } }", json!({})).await;
    data["createConversation"]["id"].as_str().unwrap().to_owned()
}

async fn stored(app: &TestApp, id: &Value) -> entity::message::Model {
    let id = Uuid::parse_str(id.as_str().unwrap()).unwrap();
    Message::find_by_id(id).one(&app.state.db).await.unwrap().expect("stored message")
}

async fn a_chat_streams_to_a_raw_http_client(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let reply = "Lisbon in a day: Alfama at dawn, pastéis de nata, a tram up to the castle. 🌞";
    app.anthropic.push_stream(Reply::Stream(StreamReply::text(reply)));

    let mut stream = EventStream::subscribe(
        app.client(),
        app.port,
        Some(&key),
        CHAT,
        json!({ "c": conversation, "m": "Plan a day" }),
    )
    .await;
    let mut events = Vec::new();
    loop {
        let event = stream.next_event().await.expect("an event");
        if event.event == "complete" {
            // On the wire as the protocol writes it: an EventSource drops an event without data.
            assert_eq!(event.raw, "event: complete\ndata:\n\n");
            break;
        }
        assert!(event.raw.starts_with("event: next\ndata: {") && event.raw.ends_with("}\n\n"), "{event:?}");
        let result: Value = serde_json::from_str(&event.data).unwrap();
        assert!(result.get("errors").is_none(), "{result}");
        events.push(result["data"]["chat"].clone());
    }
    assert!(stream.next_event().await.is_none(), "the response ends after complete");

    let kinds: Vec<&str> = events.iter().map(|e| e["__typename"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"ChatStarted"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"ChatCompleted"), "{kinds:?}");
    let text: String = events.iter().filter_map(|e| e["text"].as_str()).collect();
    assert_eq!(text, reply);
    let completed = events.last().unwrap();
    assert_eq!(completed["message"]["content"], reply);
    assert_eq!(completed["message"]["status"], "COMPLETE");
    assert_eq!(stored(&app, &events[0]["assistantMessageId"]).await.content, reply);
}

async fn closing_the_request_interrupts_the_chat(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let long = "word ".repeat(400);
    app.anthropic.push_stream(Reply::Stream(StreamReply {
        chunk_delay: Duration::from_millis(20),
        chunk_per_event: true,
        ..StreamReply::text(long.clone())
    }));
    let mut stream = EventStream::subscribe(
        app.client(),
        app.port,
        Some(&key),
        CHAT,
        json!({ "c": conversation, "m": "tell me a long story" }),
    )
    .await;
    let started = stream.next_result().await.expect("ChatStarted");
    let assistant_id = started["data"]["chat"]["assistantMessageId"].clone();
    let mut received = String::new();
    while received.len() < 20 {
        let delta = stream.next_result().await.expect("a delta");
        received.push_str(delta["data"]["chat"]["text"].as_str().unwrap_or_default());
    }
    stream.close();

    // The upstream stream must be dropped when the client closes the request.
    crate::helpers::eventually(
        "the upstream stream to be dropped",
        || async { app.anthropic.dropped_streams() },
        |n| *n == 1,
    )
    .await;
    let mut answer = stored(&app, &assistant_id).await;
    for _ in 0..100 {
        if answer.status != MessageStatus::Streaming {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        answer = stored(&app, &assistant_id).await;
    }
    assert_eq!(answer.status, MessageStatus::Interrupted);
    assert!(answer.content.starts_with(&received) && answer.content.len() < long.len(), "the partial answer is kept");
}

async fn memory_events_stream_over_sse(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let mut stream = EventStream::subscribe(
        app.client(),
        app.port,
        Some(&key),
        "subscription { memoryEvents { kind memory { content } } }",
        json!({}),
    )
    .await;
    // The subscription starts once the response is under way; remember until an event shows
    // (each try is a new memory, so whichever arrives is one of ours).
    for attempt in 0..20 {
        let content = format!("I water the plants on day {attempt}");
        app.data(&key, "mutation($c: String!) { remember(input: {content: $c}) { id } }", json!({ "c": content }))
            .await;
        if let Ok(result) = tokio::time::timeout(Duration::from_millis(500), stream.next_result()).await {
            let event = result.expect("an event")["data"]["memoryEvents"].clone();
            assert_eq!(event["kind"], "ADDED", "{event}");
            assert!(event["memory"]["content"].as_str().unwrap().starts_with("I water the plants"), "{event}");
            stream.close();
            return;
        }
    }
    panic!("no memory event arrived over SSE");
}

#[tokio::test]
async fn errors_arrive_as_results_of_the_stream() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let bad_key = format!("{key}x");
    for (key, query, code) in [
        (None, CHAT, "UNAUTHENTICATED"),
        (Some(bad_key.as_str()), CHAT, "UNAUTHENTICATED"),
        (Some(key.as_str()), CHAT, "NOT_FOUND"),
        (Some(key.as_str()), "subscription { noSuchField }", "BAD_USER_INPUT"),
    ] {
        let variables = json!({ "c": Uuid::new_v4().to_string(), "m": "hi" });
        let mut stream = EventStream::subscribe(app.client(), app.port, key, query, variables).await;
        let result = stream.next_result().await.expect("a result");
        assert_eq!(result["errors"][0]["extensions"]["code"], code, "{result}");
        assert!(stream.next_result().await.is_none(), "then complete");
    }
    assert!(app.anthropic.requests().is_empty(), "nothing reached Claude");
}

#[tokio::test]
async fn queries_stream_too_and_get_refuses_mutations() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let mut stream =
        EventStream::subscribe(app.client(), app.port, Some(&key), "{ me { displayName } }", json!({})).await;
    assert_eq!(stream.next_result().await, Some(json!({ "data": { "me": { "displayName": "Ada" } } })));
    assert_eq!(stream.next_result().await, None);

    let refused = app
        .client()
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "mutation { createConversation(input: {title: \"x\"}) { id } }")])
        .header("accept", "text/event-stream")
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(refused.headers()["allow"], "POST");
}

#[tokio::test]
async fn the_graphql_sse_client_chats() {
    if !node::available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let reply = "Plain words: a blockchain is a shared ledger. 📒";
    app.anthropic.push_stream(Reply::Stream(StreamReply::text(reply)));
    let outcome = node::run(
        "sse-subscribe.mjs",
        vec![
            format!("{}/graphql", app.address),
            key.clone(),
            CHAT.to_owned(),
            json!({ "c": conversation, "m": "What is a blockchain?" }).to_string(),
        ],
    )
    .await;
    assert_eq!(outcome["completed"], true, "{outcome:#}");
    let events: Vec<&Value> = outcome["results"].as_array().unwrap().iter().map(|r| &r["data"]["chat"]).collect();
    assert_eq!(events.first().unwrap()["__typename"], "ChatStarted");
    assert_eq!(events.last().unwrap()["__typename"], "ChatCompleted");
    let text: String = events.iter().filter_map(|e| e["text"].as_str()).collect();
    assert_eq!(text, reply);

    // The client reports a request error the same way.
    let outcome = node::run(
        "sse-subscribe.mjs",
        vec![
            format!("{}/graphql", app.address),
            format!("{key}x"),
            CHAT.to_owned(),
            json!({ "c": conversation, "m": "hi" }).to_string(),
        ],
    )
    .await;
    assert_eq!(outcome["results"][0]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{outcome:#}");
}
