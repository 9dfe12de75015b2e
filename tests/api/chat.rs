//! The chat stream end to end: a real WebSocket client, the real server, the fake Anthropic API.

use std::time::Duration;

use entity::enums::MessageStatus;
use entity::prelude::{Conversation, Message};
use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fake_anthropic::{Block, DEFAULT_SUMMARY, Ending, Reply, StreamReply, Usage};
use crate::helpers::{TestApp, error_code, error_message, eventually};
use crate::ws::{CHAT, Frame, GqlSocket, Protocol};

crate::on_both_backends!(
    deltas_concatenate_to_the_reply,
    history_reaches_the_next_request,
    overload_before_the_stream_is_retried,
    errors_that_will_not_pass_fail_at_once,
    a_mid_stream_error_keeps_the_partial_answer,
    a_stream_cut_before_message_stop_is_a_failure,
    a_connection_reset_mid_answer_keeps_the_partial,
    refused_credentials_and_oversized_requests_fail_at_once,
    rate_limits_are_waited_out_as_the_api_asks,
    an_answer_cut_at_max_tokens_completes_and_says_so,
    several_content_blocks_make_one_answer,
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

/// The conversation's messages as a client reads them back.
async fn read_back(app: &TestApp, key: &str, conversation: &str) -> Vec<Value> {
    let data = app
        .data(
            key,
            "query($c: ID!) { conversation(id: $c) { messages { edges { node {
                id role content status stopReason errorCode
                usage { inputTokens outputTokens cacheReadInputTokens cacheCreationInputTokens } } } } } }",
            json!({ "c": conversation }),
        )
        .await;
    data["conversation"]["messages"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

/// One message of the conversation as a client reads it back.
async fn read_back_one(app: &TestApp, key: &str, conversation: &str, id: &Value) -> Value {
    let messages = read_back(app, key, conversation).await;
    messages.into_iter().find(|m| &m["id"] == id).unwrap_or_else(|| panic!("message {id} is not in the conversation"))
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
        let usage = Usage {
            input_tokens: 1234 + seed as u64,
            output_tokens: 87,
            cache_read_input_tokens: 2048,
            cache_creation_input_tokens: 311,
        };
        app.anthropic.push_stream(Reply::Stream(StreamReply {
            seed: seed as u64,
            crlf: seed == 1,
            usage: Some(usage),
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
        // Exactly what the API reported: input and cache counts from `message_start`, the
        // output count from the last `message_delta` (which replaces the 1 of `message_start`).
        let reported = json!({ "inputTokens": usage.input_tokens, "outputTokens": 87,
            "cacheReadInputTokens": 2048, "cacheCreationInputTokens": 311 });
        assert_eq!(completed["usage"], reported, "{protocol:?}");
        let kept = read_back_one(&app, &key, &conversation, &completed["message"]["id"]).await;
        assert_eq!(kept["usage"], reported, "{protocol:?}: the stored answer keeps the same counts");
        assert_eq!(kept["stopReason"], "end_turn");

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
    assert!(!received.is_empty() && TRICKY.starts_with(&received) && received != TRICKY, "{received:?}");
    let failed = events.last().unwrap();
    assert_eq!(typename(failed), "ChatFailed");
    assert_eq!(failed["code"], "UPSTREAM_ERROR");
    assert_eq!(failed["message"], "the answer from Claude was cut off; try again");
    assert_eq!(failed["retryable"], true, "{failed}");
    assert_eq!(failed["partialMessage"]["content"], received.as_str());
    assert_eq!(failed["partialMessage"]["status"], "FAILED");
    // What the client reads back later is the same partial answer, marked failed.
    let kept = read_back_one(&app, &key, &conversation, &events[0]["assistantMessageId"]).await;
    assert_eq!(kept["content"], received.as_str());
    assert_eq!(kept["status"], "FAILED");
    assert_eq!(kept["errorCode"], "UPSTREAM_ERROR");
    assert_eq!(app.anthropic.stream_requests().len(), 1, "nothing is retried once the answer has started");
}

async fn a_connection_reset_mid_answer_keeps_the_partial(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let pieces: Vec<String> =
        ["Once ", "upon ", "a ", "time ", "there ", "was ", "a ", "reset."].map(String::from).into();
    app.anthropic.push_stream(Reply::Stream(StreamReply {
        ending: Ending::ResetAfter(4),
        chunk_per_event: true,
        pieces: Some(pieces.clone()),
        ..StreamReply::text(pieces.concat())
    }));
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "tell me a story").await;
    let received = deltas(&events);
    assert_eq!(received, "Once upon a time ", "the four deltas before the reset arrive");
    let failed = events.last().unwrap();
    assert_eq!(typename(failed), "ChatFailed");
    assert_eq!(failed["code"], "UPSTREAM_ERROR");
    assert_eq!(failed["message"], "the answer from Claude was cut off; try again");
    assert_eq!(failed["retryable"], true, "{failed}");
    assert_eq!(failed["partialMessage"]["content"], received.as_str());
    assert_eq!(failed["partialMessage"]["status"], "FAILED");
    let kept = read_back_one(&app, &key, &conversation, &events[0]["assistantMessageId"]).await;
    assert_eq!(kept["content"], received.as_str());
    assert_eq!(kept["status"], "FAILED");
    assert_eq!(kept["errorCode"], "UPSTREAM_ERROR");
    assert_eq!(app.anthropic.stream_requests().len(), 1, "nothing is retried once the answer has started");
}

/// Statuses the official SDKs never retry: one request, and the user is told plainly that
/// trying again will not help.
async fn refused_credentials_and_oversized_requests_fail_at_once(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let refused = "this server's Claude credentials were refused; tell the operator";
    for (status, error_type, message) in [
        (401, "authentication_error", refused),
        (403, "permission_error", refused),
        (413, "request_too_large", "the conversation is too large for Claude"),
    ] {
        let before = app.anthropic.stream_requests().len();
        app.anthropic.push_stream(Reply::error(status, error_type));
        let events = chat(&app, Protocol::TransportWs, &key, &conversation, "hello").await;
        let failed = events.last().unwrap();
        assert_eq!(typename(failed), "ChatFailed", "{status}: {events:?}");
        assert_eq!(failed["code"], "UPSTREAM_ERROR", "{status}");
        assert_eq!(failed["message"], message, "{status}");
        assert_eq!(failed["retryable"], false, "{status}");
        assert_eq!(failed["partialMessage"]["content"], "", "{status}");
        assert_eq!(failed["partialMessage"]["status"], "FAILED", "{status}");
        assert_eq!(app.anthropic.stream_requests().len(), before + 1, "{status} is not retried");
    }
}

/// A 429 is retried after the wait its `retry-after` (seconds) asks for; one that outlasts the
/// retries fails as retryable later.
async fn rate_limits_are_waited_out_as_the_api_asks(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    app.anthropic.push_stream(Reply::error_with(429, "rate_limit_error", &[("retry-after", "1")]));
    app.anthropic.push_stream(Reply::Stream(StreamReply::text("Worth the wait.")));
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "hello").await;
    assert_eq!(deltas(&events), "Worth the wait.");
    assert_eq!(typename(events.last().unwrap()), "ChatCompleted");
    let requests = app.anthropic.stream_requests();
    assert_eq!(requests.len(), 2, "the 429, then the retry");
    // Without the header the first retry waits at most 0.5 s: a second means it was honoured.
    let waited = requests[1].at - requests[0].at;
    assert!(waited >= Duration::from_secs(1), "the retry came {waited:?} after a 429 that asked for 1 s");

    for _ in 0..3 {
        app.anthropic.push_stream(Reply::error_with(429, "rate_limit_error", &[("retry-after", "1")]));
    }
    let events = chat(&app, Protocol::LegacyWs, &key, &conversation, "hello again").await;
    let failed = events.last().unwrap();
    assert_eq!(typename(failed), "ChatFailed", "{events:?}");
    assert_eq!(failed["code"], "UPSTREAM_ERROR");
    assert_eq!(failed["message"], "Claude is rate-limiting this server; try again shortly");
    assert_eq!(failed["retryable"], true);
    let requests = app.anthropic.stream_requests();
    assert_eq!(requests.len(), 5, "the first try and two retries");
    for pair in requests[2..].windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_secs(1), "each retry waits as asked");
    }
}

async fn an_answer_cut_at_max_tokens_completes_and_says_so(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let cut = "Here are the first steps: one, two, thr";
    app.anthropic.push_stream(Reply::Stream(StreamReply { stop_reason: "max_tokens", ..StreamReply::text(cut) }));
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "List every step").await;
    assert_eq!(deltas(&events), cut);
    let completed = events.last().unwrap();
    assert_eq!(typename(completed), "ChatCompleted", "{events:?}");
    assert_eq!(completed["stopReason"], "max_tokens");
    assert_eq!(completed["message"]["content"], cut);
    assert_eq!(completed["message"]["status"], "COMPLETE");
    let kept = read_back_one(&app, &key, &conversation, &completed["message"]["id"]).await;
    assert_eq!(kept["stopReason"], "max_tokens");
    assert_eq!(kept["content"], cut);
}

/// Thinking first, then two text blocks: the user sees the text blocks joined, in order, and
/// nothing of the thinking; the next request carries the same joined answer.
async fn several_content_blocks_make_one_answer(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let thinking = "The user asks about two cities; lead with the capital.";
    app.anthropic.push_stream(Reply::Stream(StreamReply::blocks(vec![
        Block::Thinking(thinking.into()),
        Block::Text("Lisbon is the capital. ".into()),
        Block::Text("Porto is the second city — 🌉.".into()),
    ])));
    let joined = "Lisbon is the capital. Porto is the second city — 🌉.";
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "Tell me about Portugal's cities").await;
    assert_eq!(deltas(&events), joined);
    let completed = events.last().unwrap();
    assert_eq!(typename(completed), "ChatCompleted", "{events:?}");
    assert_eq!(completed["message"]["content"], joined);
    assert!(!serde_json::to_string(&events).unwrap().contains("lead with the capital"), "thinking leaked: {events:?}");
    let kept = read_back_one(&app, &key, &conversation, &completed["message"]["id"]).await;
    assert_eq!(kept["content"], joined);

    chat(&app, Protocol::TransportWs, &key, &conversation, "And the third?").await;
    let next = app.anthropic.stream_requests().pop().unwrap();
    assert_eq!(next.messages()[1], ("assistant".to_string(), joined.to_string()));
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
        let answer = eventually(
            "the abandoned answer to leave STREAMING",
            || stored(&app, &assistant_id),
            |answer| answer.status != MessageStatus::Streaming,
        )
        .await;
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
    let allowed = eventually(
        "the stream slot to be given back",
        || app.gql(Some(&key), send, json!({ "c": conversation, "m": "third" })),
        |response| response.get("errors").is_none(),
    )
    .await;
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
    let summary = eventually(
        "the running summary",
        || async { Conversation::find_by_id(id).one(&app.state.db).await.unwrap().unwrap().summary },
        Option::is_some,
    )
    .await;
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

/// The non-streamed call, straight through the client, against the fake.
#[tokio::test]
async fn the_client_completes_with_retries() {
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
    let request = MessagesRequest::new("claude-sonnet-4-5", 100, vec![ChatMessage::text(Role::User, "hi")]);

    fake.push_other(Reply::error(500, "api_error"));
    fake.push_other(Reply::Json { text: "Hello there".into() });
    let answer = client.complete(&request).await.unwrap();
    assert_eq!(answer.text, "Hello there");
    assert_eq!(answer.stop_reason.as_deref(), Some("end_turn"));

    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v1/messages", "/v1/messages"], "one retry after the 500");
    assert_eq!(fake.requests()[0].body["stream"], false);
    assert_eq!(fake.requests()[0].body["model"], "claude-sonnet-4-5");
    assert_eq!(fake.requests()[0].body["messages"], json!([{ "role": "user", "content": "hi" }]));

    // Retries are bounded: three 529s exhaust two retries.
    for _ in 0..3 {
        fake.push_other(Reply::overloaded());
    }
    let error = client.complete(&request).await.unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(fake.requests().len(), 5);
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

/// The fake's reset is a real one: a raw client reads the head and some events, then gets
/// ECONNRESET, with neither the chunked body's end nor a FIN before it.
#[tokio::test]
async fn the_fake_resets_connections_for_real() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let fake = crate::fake_anthropic::FakeAnthropic::start().await;
    fake.push_stream(Reply::Stream(StreamReply {
        ending: Ending::ResetAfter(2),
        chunk_per_event: true,
        ..StreamReply::text("Hello there, world")
    }));
    let address = fake.base_url.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let body = r#"{"model":"claude-fake","max_tokens":10,"messages":[],"stream":true}"#;
    let request = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let error = loop {
        match tcp.read(&mut buffer).await {
            Ok(0) => panic!("a clean close (FIN) after {:?}, not a reset", String::from_utf8_lossy(&received)),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error) => break error,
        }
    };
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(text.matches("text_delta").count(), 2, "{text}");
    assert!(!text.contains("message_stop") && !text.ends_with("0\r\n\r\n"), "{text}");
}
