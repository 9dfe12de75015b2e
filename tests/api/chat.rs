//! The chat stream end to end: a real WebSocket client, the real server, the fake Anthropic API.

use std::time::Duration;

use entity::enums::MessageStatus;
use entity::prelude::{Conversation, Message};
use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fake_anthropic::{DEFAULT_SUMMARY, Ending, Reply, StreamReply};
use crate::helpers::{TestApp, error_code, error_message, eventually};
use crate::ws::{CHAT, Frame, GqlSocket, Protocol};

crate::on_both_backends!(
    deltas_concatenate_to_the_reply,
    history_reaches_the_next_request,
    overload_before_the_stream_is_retried,
    errors_that_will_not_pass_fail_at_once,
    a_mid_stream_error_keeps_the_partial_answer,
    a_stream_cut_before_message_stop_is_a_failure,
    leaving_drops_the_upstream_and_keeps_the_partial,
    only_the_owner_can_chat_in_a_conversation,
);
crate::on_both_backends!(with [("CHAT_MAX_MESSAGE_CHARS", "40"), ("CHAT_MAX_CONCURRENT_STREAMS", "1")] limits_have_clear_errors);
crate::on_both_backends!(with [("ANTHROPIC_API_KEY", "")] without_a_claude_key_the_answer_says_so);
crate::on_both_backends!(with [("CHAT_WINDOW_TURNS", "4")] long_conversations_keep_a_running_summary);

/// A reply with the characters that break naive decoders: emoji (4-byte UTF-8, surrogate pairs in
/// JSON escapes), CJK, combining marks, newlines, quotes and backslashes.
const TRICKY: &str =
    "Bom dia! 🌞 今日は良い天気ですね。 Café naïve — \"quoted\" \\ back\\slash\nNew line 👩‍💻 and 한국어 텍스트. 🎉🎉";

async fn conversation(app: &TestApp, key: &str) -> String {
    let data = app.data(key, "mutation { createConversation(input: {title: \"chat\"}) { id } }", json!({})).await;
    data["createConversation"]["id"].as_str().unwrap().to_owned()
}

fn typename(event: &Value) -> &str {
    event["__typename"].as_str().unwrap_or_default()
}

fn deltas(events: &[Value]) -> String {
    events.iter().filter(|e| typename(e) == "ChatDelta").map(|e| e["text"].as_str().unwrap()).collect()
}

async fn stored(app: &TestApp, id: &Value) -> entity::message::Model {
    let id = Uuid::parse_str(id.as_str().unwrap()).unwrap();
    Message::find_by_id(id).one(&app.state.db).await.unwrap().expect("stored message")
}

async fn chat(app: &TestApp, protocol: Protocol, key: &str, conversation: &str, message: &str) -> Vec<Value> {
    let mut socket = GqlSocket::with_key(app.port, protocol, key).await;
    socket.subscribe("1", CHAT, json!({ "c": conversation, "m": message })).await;
    let events = socket.chat_events().await;
    socket.close().await;
    events
}

async fn deltas_concatenate_to_the_reply(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    for (seed, protocol) in Protocol::BOTH.into_iter().enumerate() {
        app.anthropic.push_stream(Reply::Stream(StreamReply {
            seed: seed as u64,
            crlf: seed == 1,
            ..StreamReply::text(TRICKY)
        }));
        let events = chat(&app, protocol, &key, &conversation, "Say something tricky").await;

        assert_eq!(typename(&events[0]), "ChatStarted", "{protocol:?}");
        assert!(events.iter().filter(|e| typename(e) == "ChatDelta").count() > 5, "the answer arrives in pieces");
        assert_eq!(deltas(&events), TRICKY, "{protocol:?}: the deltas are the reply, byte for byte");
        let completed = events.last().unwrap();
        assert_eq!(typename(completed), "ChatCompleted");
        assert_eq!(completed["message"]["content"], TRICKY);
        assert_eq!(completed["message"]["status"], "COMPLETE");
        assert_eq!(completed["message"]["id"], events[0]["assistantMessageId"]);
        assert_eq!(completed["stopReason"], "end_turn");
        assert_eq!(completed["usage"]["outputTokens"], TRICKY.chars().count());

        let answer = stored(&app, &events[0]["assistantMessageId"]).await;
        assert_eq!(answer.content, TRICKY);
        assert_eq!(answer.status, MessageStatus::Complete);
        assert_eq!(answer.model.as_deref(), Some("claude-fake"));
        assert_eq!(stored(&app, &events[0]["userMessageId"]).await.content, "Say something tricky");
    }

    // What the fake received is a well-formed streaming request.
    let request = &app.anthropic.stream_requests()[0];
    assert_eq!(request.headers["x-api-key"], "sk-ant-test-key");
    assert_eq!(request.headers["anthropic-version"], "2023-06-01");
    assert_eq!(request.body["model"], "claude-sonnet-4-5");
    assert!(request.body["max_tokens"].as_u64().unwrap() > 0);
    assert_eq!(request.messages(), [("user".to_string(), "Say something tricky".to_string())]);
    assert!(request.system_text().contains("Ada"));
    assert_eq!(request.body["system"][0]["cache_control"]["type"], "ephemeral");
}

async fn history_reaches_the_next_request(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    app.data(&key, r#"mutation { setPreference(input: {key: "tone", value: "cheerful"}) { key } }"#, json!({})).await;
    let conversation = conversation(&app, &key).await;
    app.anthropic.push_stream(Reply::Stream(StreamReply::text("Lisbon is lovely in May.")));
    chat(&app, Protocol::TransportWs, &key, &conversation, "Where should I travel?").await;
    app.anthropic.push_stream(Reply::Stream(StreamReply::text("Pack light layers.")));
    let send = app
        .data(
            &key,
            "mutation($c: ID!) { sendMessage(input: {conversationId: $c, message: \"What should I pack?\"}) { userMessage { content } message { content status role } } }",
            json!({ "c": conversation }),
        )
        .await;
    assert_eq!(
        send["sendMessage"],
        json!({ "userMessage": { "content": "What should I pack?" }, "message": { "content": "Pack light layers.", "status": "COMPLETE", "role": "ASSISTANT" } })
    );

    let requests = app.anthropic.stream_requests();
    assert_eq!(
        requests[1].messages(),
        [
            ("user".to_string(), "Where should I travel?".to_string()),
            ("assistant".to_string(), "Lisbon is lovely in May.".to_string()),
            ("user".to_string(), "What should I pack?".to_string()),
        ]
    );
    assert!(requests[1].system_text().contains("tone: cheerful"), "{}", requests[1].system_text());

    let listed = app
        .data(
            &key,
            "query($c: ID!) { conversation(id: $c) { messages { edges { node { role content } } } } }",
            json!({ "c": conversation }),
        )
        .await;
    let contents: Vec<&str> = listed["conversation"]["messages"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        ["Where should I travel?", "Lisbon is lovely in May.", "What should I pack?", "Pack light layers."]
    );
}

async fn overload_before_the_stream_is_retried(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    app.anthropic.push_stream(Reply::overloaded());
    app.anthropic.push_stream(Reply::Stream(StreamReply { error_first: true, ..StreamReply::text("unused") }));
    app.anthropic.push_stream(Reply::Stream(StreamReply::text("Third time lucky.")));

    let events = chat(&app, Protocol::LegacyWs, &key, &conversation, "hello").await;
    assert_eq!(deltas(&events), "Third time lucky.");
    assert_eq!(typename(events.last().unwrap()), "ChatCompleted");
    assert_eq!(app.anthropic.stream_requests().len(), 3, "a 529, then an error as the first event, then success");
}

async fn errors_that_will_not_pass_fail_at_once(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    app.anthropic.push_stream(Reply::error(400, "invalid_request_error"));
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "hello").await;
    let failed = events.last().unwrap();
    assert_eq!(typename(failed), "ChatFailed");
    assert_eq!(failed["code"], "UPSTREAM_ERROR");
    assert_eq!(failed["retryable"], false);
    assert!(!failed["message"].as_str().unwrap().contains("req_fake"), "no upstream internals for the user");
    assert_eq!(failed["partialMessage"]["status"], "FAILED");
    assert_eq!(app.anthropic.stream_requests().len(), 1, "a 400 is not retried");

    // A 529 that says not to retry is not retried either, and is retryable for the user later:
    // an overload passes, and `x-should-retry: false` speaks of this request, now.
    app.anthropic.push_stream(Reply::error_with(529, "overloaded_error", &[("x-should-retry", "false")]));
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "hello again").await;
    let failed = events.last().unwrap();
    assert_eq!(typename(failed), "ChatFailed");
    assert_eq!(failed["code"], "UPSTREAM_ERROR");
    assert_eq!(failed["message"], "Claude is overloaded right now; try again shortly");
    assert_eq!(failed["retryable"], true, "{failed}");
    assert_eq!(app.anthropic.stream_requests().len(), 2);
}

async fn a_mid_stream_error_keeps_the_partial_answer(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    app.anthropic
        .push_stream(Reply::Stream(StreamReply { ending: Ending::ErrorAfter(6), ..StreamReply::text(TRICKY) }));
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "hello").await;

    let received = deltas(&events);
    assert!(!received.is_empty() && TRICKY.starts_with(&received) && received != TRICKY, "{received:?}");
    let failed = events.last().unwrap();
    assert_eq!(typename(failed), "ChatFailed");
    assert_eq!(failed["retryable"], true);
    assert_eq!(failed["partialMessage"]["content"], received.as_str());
    let answer = stored(&app, &events[0]["assistantMessageId"]).await;
    assert_eq!(answer.status, MessageStatus::Failed);
    assert_eq!(answer.content, received);
    assert_eq!(answer.error_code.as_deref(), Some("UPSTREAM_ERROR"));
    assert_eq!(app.anthropic.stream_requests().len(), 1, "nothing is retried once the answer has started");
}

async fn a_stream_cut_before_message_stop_is_a_failure(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    app.anthropic.push_stream(Reply::Stream(StreamReply { ending: Ending::EofAfter(4), ..StreamReply::text(TRICKY) }));
    let events = chat(&app, Protocol::LegacyWs, &key, &conversation, "hello").await;
    let received = deltas(&events);
    assert!(TRICKY.starts_with(&received) && received != TRICKY);
    assert_eq!(typename(events.last().unwrap()), "ChatFailed");
    assert_eq!(stored(&app, &events[0]["assistantMessageId"]).await.status, MessageStatus::Failed);
}

async fn leaving_drops_the_upstream_and_keeps_the_partial(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let long = "word ".repeat(400);
    for (i, protocol) in Protocol::BOTH.into_iter().enumerate() {
        let slow = StreamReply {
            chunk_delay: Duration::from_millis(20),
            chunk_per_event: true,
            ..StreamReply::text(long.clone())
        };
        app.anthropic.push_stream(Reply::Stream(slow));
        let mut socket = GqlSocket::with_key(app.port, protocol, &key).await;
        socket.subscribe("1", CHAT, json!({ "c": conversation, "m": "tell me a long story" })).await;
        let Frame::Data(started) = socket.next_frame().await else { panic!("expected ChatStarted") };
        let assistant_id = started["chat"]["assistantMessageId"].clone();
        let mut received = String::new();
        while received.len() < 20 {
            let Frame::Data(data) = socket.next_frame().await else { panic!("expected a delta") };
            received.push_str(data["chat"]["text"].as_str().unwrap_or_default());
        }
        // First protocol: the client unsubscribes; second: it just disconnects.
        if i == 0 {
            socket.unsubscribe("1").await;
        } else {
            socket.close().await;
        }
        eventually(
            &format!("{protocol:?}: the upstream stream to be dropped when the client leaves"),
            || async { app.anthropic.dropped_streams() },
            |dropped| *dropped == i + 1,
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
        assert_eq!(answer.status, MessageStatus::Interrupted, "{protocol:?}");
        assert!(
            answer.content.starts_with(&received) && answer.content.len() < long.len(),
            "{protocol:?}: partial kept"
        );
    }
}

async fn only_the_owner_can_chat_in_a_conversation(app: TestApp) {
    let (_, alice) = app.create_user("Alice").await;
    let (_, bob) = app.create_user("Bob").await;
    let conversation = conversation(&app, &alice).await;
    for protocol in Protocol::BOTH {
        let mut socket = GqlSocket::with_key(app.port, protocol, &bob).await;
        socket.subscribe("1", CHAT, json!({ "c": conversation, "m": "let me in" })).await;
        let Frame::Errors(errors) = socket.next_frame().await else { panic!("{protocol:?}: Bob must be refused") };
        assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{errors}");

        let mut anonymous = GqlSocket::connect(app.port, protocol, json!({})).await;
        anonymous.subscribe("1", CHAT, json!({ "c": conversation, "m": "hi" })).await;
        let Frame::Errors(errors) = anonymous.next_frame().await else { panic!("anonymous must be refused") };
        assert_eq!(errors[0]["extensions"]["code"], "UNAUTHENTICATED");
    }
    let bob_send = app
        .gql(
            Some(&bob),
            "mutation($c: ID!) { sendMessage(input: {conversationId: $c, message: \"hi\"}) { message { id } } }",
            json!({ "c": conversation }),
        )
        .await;
    assert_eq!(error_code(&bob_send), "NOT_FOUND");
    assert!(app.anthropic.requests().is_empty(), "nothing reached Claude");
    assert_eq!(Message::find().count(&app.state.db).await.unwrap(), 0, "nothing was stored");
}

async fn limits_have_clear_errors(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let send = "mutation($c: ID!, $m: String!) { sendMessage(input: {conversationId: $c, message: $m}) { message { content } } }";

    let too_long = app.gql(Some(&key), send, json!({ "c": conversation, "m": "x".repeat(41) })).await;
    assert_eq!(error_code(&too_long), "BAD_USER_INPUT");
    assert_eq!(error_message(&too_long), "message is too long (41 characters; at most 40)");
    assert_eq!(Message::find().count(&app.state.db).await.unwrap(), 0, "a refused message is not stored");

    // One stream at a time: a second is refused while the first runs, and allowed after.
    let slow = StreamReply {
        chunk_delay: Duration::from_millis(30),
        chunk_per_event: true,
        ..StreamReply::text("slow ".repeat(20))
    };
    app.anthropic.push_stream(Reply::Stream(slow));
    let mut first = GqlSocket::with_key(app.port, Protocol::TransportWs, &key).await;
    first.subscribe("1", CHAT, json!({ "c": conversation, "m": "first" })).await;
    let Frame::Data(_) = first.next_frame().await else { panic!("expected ChatStarted") };
    let refused = app.gql(Some(&key), send, json!({ "c": conversation, "m": "second" })).await;
    assert_eq!(error_code(&refused), "RATE_LIMITED");
    assert!(error_message(&refused).contains("1 answers streaming"), "{refused}");
    let events = first.chat_events().await;
    assert_eq!(typename(events.last().unwrap()), "ChatCompleted");
    // The slot is given back when the turn has ended, just after its last event.
    let mut allowed = Value::Null;
    for _ in 0..50 {
        allowed = app.gql(Some(&key), send, json!({ "c": conversation, "m": "third" })).await;
        if allowed.get("errors").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        allowed["data"]["sendMessage"]["message"]["content"],
        crate::fake_anthropic::DEFAULT_ANSWER,
        "{allowed}"
    );
}

async fn without_a_claude_key_the_answer_says_so(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "hello").await;
    let failed = events.last().unwrap();
    assert_eq!(typename(failed), "ChatFailed");
    assert_eq!(failed["retryable"], false);
    assert!(failed["message"].as_str().unwrap().contains("ANTHROPIC_API_KEY"), "{failed}");
    assert!(app.anthropic.requests().is_empty());
}

async fn long_conversations_keep_a_running_summary(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation_id = conversation(&app, &key).await;
    let send = "mutation($c: ID!, $m: String!) { sendMessage(input: {conversationId: $c, message: $m}) { message { content } } }";
    for i in 1..=3 {
        app.anthropic.push_stream(Reply::Stream(StreamReply::text(format!("answer {i}"))));
        app.data(&key, send, json!({ "c": conversation_id, "m": format!("question {i}") })).await;
    }
    // Six messages with a window of four: the first exchange is summarised, off the hot path.
    let id = Uuid::parse_str(&conversation_id).unwrap();
    let mut summary = None;
    for _ in 0..100 {
        summary = Conversation::find_by_id(id).one(&app.state.db).await.unwrap().unwrap().summary;
        if summary.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(summary.as_deref(), Some(DEFAULT_SUMMARY));
    let summarise = app
        .anthropic
        .requests()
        .into_iter()
        .find(|r| !r.is_stream() && r.body["tools"].is_null())
        .expect("a summary request");
    let asked = &summarise.messages()[0].1;
    assert!(asked.contains("User: question 1") && asked.contains("Assistant: answer 1"), "{asked}");
    assert!(!asked.contains("question 3"), "turns still in the window are not summarised: {asked}");

    app.anthropic.push_stream(Reply::Stream(StreamReply::text("answer 4")));
    app.data(&key, send, json!({ "c": conversation_id, "m": "question 4" })).await;
    let last = app.anthropic.stream_requests().pop().unwrap();
    assert!(last.system_text().contains(DEFAULT_SUMMARY), "{}", last.system_text());
    let sent: Vec<String> = last.messages().into_iter().map(|(_, content)| content).collect();
    assert_eq!(sent, ["question 3", "answer 3", "question 4"], "only the window is sent verbatim");
}

/// The non-streamed call and token counting, straight through the client, against the fake.
#[tokio::test]
async fn the_client_completes_and_counts_tokens() {
    use assistant::llm::{AnthropicClient, ChatMessage, MessagesRequest, RetryPolicy, Role};
    let fake = crate::fake_anthropic::FakeAnthropic::start().await;
    let config = assistant::config::AnthropicConfig {
        api_key: Some(assistant::config::Secret::new("sk-ant-test")),
        base_url: fake.base_url.clone(),
        model: "claude-sonnet-4-5".into(),
        max_tokens: 100,
        max_retries: 2,
    };
    let client =
        AnthropicClient::new(&config, RetryPolicy { initial_delay: Duration::from_millis(5), ..Default::default() })
            .unwrap();
    let request =
        MessagesRequest::new("claude-sonnet-4-5", 100, vec![ChatMessage { role: Role::User, content: "hi".into() }]);

    fake.push_other(Reply::error(500, "api_error"));
    fake.push_other(Reply::Json { text: "Hello there".into() });
    let answer = client.complete(&request).await.unwrap();
    assert_eq!(answer.text, "Hello there");
    assert_eq!(answer.stop_reason.as_deref(), Some("end_turn"));
    let tokens = client.count_tokens(&request).await.unwrap();
    assert!(tokens > 0);

    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v1/messages", "/v1/messages", "/v1/messages/count_tokens"], "one retry after the 500");
    assert_eq!(fake.requests()[0].body["stream"], false);

    // Retries are bounded: three 529s exhaust two retries.
    for _ in 0..3 {
        fake.push_other(Reply::overloaded());
    }
    let error = client.complete(&request).await.unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(fake.requests().len(), 6);
}

crate::on_both_backends!(answers_abandoned_by_a_dead_process_are_marked_interrupted);

async fn answers_abandoned_by_a_dead_process_are_marked_interrupted(app: TestApp) {
    use entity::message;
    use sea_orm::{ActiveModelTrait as _, Set};
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    // One real turn gives us a stored answer to copy.
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "hello").await;
    let template = stored(&app, &events[0]["assistantMessageId"]).await;
    let mut ids = Vec::new();
    for age in [chrono::Duration::hours(1), chrono::Duration::seconds(5)] {
        let mut row: message::ActiveModel = template.clone().into();
        row.id = Set(Uuid::now_v7());
        row.status = Set(MessageStatus::Streaming);
        row.updated_at = Set(chrono::Utc::now() - age);
        ids.push(row.insert(&app.state.db).await.unwrap().id);
    }
    let recovered = assistant::services::chat::recover_abandoned_answers(&app.state.db).await.unwrap();
    assert_eq!(recovered, 1);
    let old = Message::find_by_id(ids[0]).one(&app.state.db).await.unwrap().unwrap();
    let live = Message::find_by_id(ids[1]).one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(old.status, MessageStatus::Interrupted);
    assert_eq!(live.status, MessageStatus::Streaming, "a stream that may still be live is left alone");
}
