//! Claude's memory tools inside a streamed answer, and the extraction call that runs only when it
//! can add something: a real WebSocket client, the real server, the fake Anthropic API answering
//! with `tool_use` blocks and then with text computed from the `tool_result`s it is sent.

use std::time::Duration;

use entity::enums::MessageStatus;
use entity::prelude::Message;
use sea_orm::EntityTrait as _;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fake_anthropic::{Block, Ending, Recorded, Reply, StreamReply};
use crate::helpers::{TestApp, eventually, learned_from};
use crate::sse_client::EventStream;
use crate::ws::{Frame, GqlSocket, Protocol};

crate::on_both_backends!(
    a_tool_round_streams_on_into_the_same_answer,
    tools_change_memories_with_history_and_events,
    refused_tool_calls_are_told_to_claude_not_the_user,
    a_later_round_is_retried_before_its_first_token_and_never_after,
    leaving_between_rounds_drops_the_upstream_and_keeps_the_partial,
    extraction_runs_only_when_it_can_add_something,
);
crate::on_both_backends!(with [("CHAT_MAX_TOOL_ROUNDS", "2")] a_model_that_calls_tools_forever_is_made_to_finish);
crate::on_both_backends!(with [("CHAT_MEMORY_TOOLS", "false")] without_tools_the_request_offers_none);
crate::on_both_backends!(with [("CLAUDE_CALLS_PER_DAY", "3"), ("MEMORY_EXTRACTION", "rules")] every_round_counts_against_the_budget);
crate::on_both_backends!(with [("MEMORY_EXTRACTION_DEBOUNCE_MS", "3000")] a_burst_of_messages_is_extracted_in_one_call);

const CHAT: &str = "subscription($c: ID!, $m: String!) { chat(input: {conversationId: $c, message: $m}) {
    __typename
    ... on ChatStarted { userMessageId assistantMessageId }
    ... on ChatDelta { text }
    ... on ChatToolUse { name input result isError }
    ... on ChatCompleted { message { id content status toolCalls { name input result isError } } stopReason
        usage { inputTokens outputTokens } }
    ... on ChatFailed { code message retryable partialMessage { id content status } } } }";

const SEND: &str =
    "mutation($c: ID!, $m: String!) { sendMessage(input: {conversationId: $c, message: $m}) { message { content } } }";

async fn conversation(app: &TestApp, key: &str) -> String {
    let data = app.data(key, "mutation { createConversation(input: {}) { id } }", json!({})).await;
    data["createConversation"]["id"].as_str().unwrap().to_owned()
}

async fn remember(app: &TestApp, key: &str, content: &str) -> String {
    let data =
        app.data(key, "mutation($c: String!) { remember(input: {content: $c}) { id } }", json!({ "c": content }));
    data.await["remember"]["id"].as_str().unwrap().to_owned()
}

async fn live_memories(app: &TestApp, key: &str) -> Vec<String> {
    let data = app.data(key, "{ memories(first: 50) { edges { node { content } } } }", json!({})).await;
    let mut contents: Vec<String> = data["memories"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["content"].as_str().unwrap().to_owned())
        .collect();
    contents.sort();
    contents
}

async fn chat(app: &TestApp, protocol: Protocol, key: &str, conversation: &str, message: &str) -> Vec<Value> {
    let mut socket = GqlSocket::with_key(app.port, protocol, key).await;
    socket.subscribe("1", CHAT, json!({ "c": conversation, "m": message })).await;
    let events = socket.chat_events().await;
    socket.close().await;
    events
}

/// The same over GraphQL over SSE.
async fn chat_sse(app: &TestApp, key: &str, conversation: &str, message: &str) -> Vec<Value> {
    let variables = json!({ "c": conversation, "m": message });
    let mut stream = EventStream::subscribe(app.client(), app.port, Some(key), CHAT, variables).await;
    let mut events = Vec::new();
    while let Some(result) = stream.next_result().await {
        assert!(result.get("errors").is_none(), "{result}");
        events.push(result["data"]["chat"].clone());
    }
    events
}

fn typename(event: &Value) -> &str {
    event["__typename"].as_str().unwrap_or_default()
}

fn deltas(events: &[Value]) -> String {
    events.iter().filter(|e| typename(e) == "ChatDelta").map(|e| e["text"].as_str().unwrap()).collect()
}

/// The kinds of events in order, runs of deltas folded into one `ChatDelta`.
fn shape(events: &[Value]) -> Vec<&str> {
    let mut kinds: Vec<&str> = Vec::new();
    for event in events {
        let kind = typename(event);
        if kinds.last() != Some(&kind) || kind != "ChatDelta" {
            kinds.push(kind);
        }
    }
    kinds
}

/// A round that writes a line, then calls one tool.
fn calls(text: &str, blocks: Vec<Block>, seed: u64) -> Reply {
    let mut all = vec![Block::Text(text.into())];
    all.extend(blocks);
    Reply::Stream(StreamReply { stop_reason: "tool_use", seed, ..StreamReply::blocks(all) })
}

/// The `content` of each `tool_result` of a request, parsed when it is JSON.
fn results(request: &Recorded) -> Vec<Value> {
    request
        .tool_results()
        .iter()
        .map(|r| {
            let content = r["content"].as_str().unwrap_or_default();
            serde_json::from_str(content).unwrap_or_else(|_| json!(content))
        })
        .collect()
}

async fn stored(app: &TestApp, id: &Value) -> entity::message::Model {
    let id = Uuid::parse_str(id.as_str().unwrap()).unwrap();
    Message::find_by_id(id).one(&app.state.db).await.unwrap().expect("stored message")
}

async fn a_tool_round_streams_on_into_the_same_answer(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let (_, other_key) = app.create_user("Grace").await;
    let wedding = "Sister Eva married Tom in Sintra last spring, in the rain";
    remember(&app, &key, wedding).await;
    remember(&app, &other_key, "Sister Eva's wedding was in Oslo").await;
    let conversation = conversation(&app, &key).await;

    // Both WebSocket protocols, then GraphQL over SSE.
    for (seed, protocol) in [Some(Protocol::TransportWs), Some(Protocol::LegacyWs), None].into_iter().enumerate() {
        let before = app.anthropic.stream_requests().len();
        // Non-ASCII in the input, cut into pieces of a few bytes wherever they fall.
        let query = "sister Eva’s wedding — spring";
        app.anthropic.push_stream(calls(
            "Let me look that up.",
            vec![Block::tool("toolu_1", "search_memories", json!({ "query": query, "limit": 3 }))],
            seed as u64,
        ));
        // The follow-up quotes what the tool gave, as Claude would.
        app.anthropic.push_stream_with(|request| {
            let found = results(request);
            let first = found[0]["memories"][0]["content"].as_str().unwrap_or("nothing").to_owned();
            Reply::Stream(StreamReply::text(format!("You told me: {first}.")))
        });
        let question = "What did I tell you about my sister's wedding?";
        let events = match protocol {
            Some(protocol) => chat(&app, protocol, &key, &conversation, question).await,
            None => chat_sse(&app, &key, &conversation, question).await,
        };

        assert_eq!(
            shape(&events),
            ["ChatStarted", "ChatDelta", "ChatToolUse", "ChatDelta", "ChatCompleted"],
            "{protocol:?}: {events:#?}"
        );
        let tool_use = events.iter().find(|e| typename(e) == "ChatToolUse").unwrap();
        assert_eq!(tool_use["name"], "search_memories");
        assert_eq!(tool_use["input"], json!({ "query": query, "limit": 3 }));
        assert_eq!(tool_use["result"], format!("searched memories for '{query}': 1 found"));
        assert_eq!(tool_use["isError"], false);
        let shown = deltas(&events);
        assert_eq!(shown, format!("Let me look that up.\n\nYou told me: {wedding}."), "{protocol:?}");
        let completed = events.last().unwrap();
        assert_eq!(completed["message"]["content"], shown.as_str());
        assert_eq!(completed["message"]["status"], "COMPLETE");
        assert_eq!(completed["stopReason"], "end_turn");
        assert_eq!(
            completed["message"]["toolCalls"],
            json!([{ "name": "search_memories",
            "input": { "query": query, "limit": 3 }, "result": tool_use["result"], "isError": false }])
        );

        // The follow-up: the same context, then Claude's own tool call, then the caller's memory.
        let requests = app.anthropic.stream_requests();
        assert_eq!(requests.len(), before + 2, "one request per round");
        let (first, second) = (&requests[before], &requests[before + 1]);
        assert_eq!(second.body["system"], first.body["system"], "the cached prefix is the same");
        assert_eq!(second.body["tools"], first.body["tools"], "the tool definitions are the same bytes");
        let blocks = second.blocks();
        let asked = blocks.iter().find(|(_, b)| b["type"] == "tool_use").expect("the tool call is sent back");
        assert_eq!(asked.0, "assistant");
        assert_eq!(asked.1["id"], "toolu_1");
        assert_eq!(asked.1["input"], json!({ "query": query, "limit": 3 }));
        let result = &second.tool_results()[0];
        assert_eq!(result["tool_use_id"], "toolu_1");
        assert!(result.get("is_error").is_none_or(|e| e == false), "{result}");
        let text = second.body.to_string();
        assert!(text.contains("Sintra"), "the caller's memory reaches Claude");
        assert!(!text.contains("Oslo"), "another user's memory never does");
    }

    // The stored answer records the tool call, and the conversation reads it back.
    let data = app
        .data(
            &key,
            "query($c: ID!) { conversation(id: $c) { messages { edges { node { role toolCalls { name result } } } } } }",
            json!({ "c": conversation }),
        )
        .await;
    let edges = data["conversation"]["messages"]["edges"].as_array().unwrap();
    assert_eq!(edges[0]["node"]["toolCalls"], json!([]), "the user's message made none");
    assert_eq!(edges[1]["node"]["toolCalls"][0]["name"], "search_memories");
}

async fn tools_change_memories_with_history_and_events(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let porto = remember(&app, &key, "Lives in Porto").await;
    let cat = remember(&app, &key, "Has a cat named Tom").await;
    let conversation = conversation(&app, &key).await;
    let mut events_socket = GqlSocket::with_key(app.port, Protocol::TransportWs, &key).await;
    events_socket.subscribe("events", "subscription { memoryEvents { kind memory { content } } }", json!({})).await;
    eventually("a memoryEvents subscriber", || async { app.state.memory_events.subscribers() }, |n| *n > 0).await;

    app.anthropic.push_stream(calls(
        "Noted.",
        vec![
            Block::tool(
                "toolu_a",
                "remember",
                json!({ "content": "Has a sister named Eva", "category": "relationship", "importance": 0.8 }),
            ),
            Block::tool("toolu_b", "update_memory", json!({ "id": porto, "content": "Lives in Lisbon" })),
            Block::tool("toolu_c", "forget_memory", json!({ "id": cat })),
        ],
        3,
    ));
    app.anthropic.push_stream(Reply::Stream(StreamReply::text("All set.")));
    let events = chat(
        &app,
        Protocol::LegacyWs,
        &key,
        &conversation,
        "My sister is Eva. I moved to Lisbon, and my cat Tom died, sadly.",
    )
    .await;
    let results: Vec<&str> =
        events.iter().filter(|e| typename(e) == "ChatToolUse").map(|e| e["result"].as_str().unwrap()).collect();
    assert_eq!(
        results,
        ["remembered: Has a sister named Eva", "updated memory: Lives in Lisbon", "forgot: Has a cat named Tom"]
    );
    assert_eq!(typename(events.last().unwrap()), "ChatCompleted");
    assert_eq!(live_memories(&app, &key).await, ["Has a sister named Eva", "Lives in Lisbon"]);

    // As any other change: history kept, the retired one still readable, events fired.
    let memory = "query($id: ID!) { memory(id: $id) { content validTo history { content change } } }";
    let moved = app.data(&key, memory, json!({ "id": porto })).await["memory"].clone();
    assert_eq!(moved["history"][0], json!({ "content": "Lives in Porto", "change": "UPDATED" }));
    let retired = app.data(&key, memory, json!({ "id": cat })).await["memory"].clone();
    assert!(retired["validTo"].is_string(), "{retired}");
    let mut heard = Vec::new();
    while heard.len() < 3 {
        let frame = tokio::time::timeout(Duration::from_secs(10), events_socket.next_frame()).await;
        let Ok(Frame::Data(data)) = frame else { panic!("expected three memory events, heard {heard:?}") };
        heard.push(data["memoryEvents"]["kind"].as_str().unwrap().to_owned());
    }
    assert_eq!(heard, ["ADDED", "UPDATED", "REMOVED"]);
    events_socket.close().await;
}

async fn refused_tool_calls_are_told_to_claude_not_the_user(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let (_, other_key) = app.create_user("Grace").await;
    let theirs = remember(&app, &other_key, "Grace's secret recipe").await;
    let conversation = conversation(&app, &key).await;
    app.anthropic.push_stream(calls(
        "Let me tidy up.",
        vec![
            Block::tool("toolu_1", "forget_memory", json!({ "id": theirs })),
            Block::tool("toolu_2", "forget_memory", json!({ "id": "not-an-id" })),
            Block::tool("toolu_3", "remember", json!({ "importance": 0.5 })),
            Block::ToolUse { id: "toolu_4".into(), name: "search_memories".into(), input: "{\"query\": \"rec".into() },
            Block::tool("toolu_5", "delete_everything", json!({})),
        ],
        5,
    ));
    app.anthropic.push_stream_with(|request| {
        let refused = request.tool_results().iter().filter(|r| r["is_error"] == true).count();
        Reply::Stream(StreamReply::text(format!("{refused} of those did not work.")))
    });
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "Forget that recipe").await;

    let completed = events.last().unwrap();
    assert_eq!(typename(completed), "ChatCompleted", "{events:#?}");
    assert!(completed["message"]["content"].as_str().unwrap().ends_with("5 of those did not work."));
    let tool_uses: Vec<&Value> = events.iter().filter(|e| typename(e) == "ChatToolUse").collect();
    assert_eq!(tool_uses.len(), 5);
    assert!(tool_uses.iter().all(|t| t["isError"] == true), "{tool_uses:#?}");

    let follow_up = app.anthropic.stream_requests().pop().unwrap();
    let told: Vec<String> =
        follow_up.tool_results().iter().map(|r| r["content"].as_str().unwrap().to_owned()).collect();
    // Another user's memory reads exactly like one that does not exist.
    assert!(told[0].contains("No memory of this user has the id") && told[0].contains("search_memories"), "{told:?}");
    assert!(told[1].contains("No memory of this user has the id `not-an-id`"), "{told:?}");
    assert!(told[2].contains("`content` is required"), "{told:?}");
    assert!(told[3].contains("not a JSON object"), "{told:?}");
    assert!(told[4].contains("no tool named `delete_everything`"), "{told:?}");
    // The broken input goes back as an object (the API wants one), the call's id kept.
    let replayed = follow_up.blocks().into_iter().find(|(_, b)| b["id"] == "toolu_4").unwrap().1;
    assert_eq!(replayed["input"], json!({}));

    assert_eq!(
        live_memories(&app, &other_key).await,
        ["Grace's secret recipe"],
        "the other user's memory is untouched"
    );
}

async fn a_later_round_is_retried_before_its_first_token_and_never_after(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let search = || vec![Block::tool("toolu_1", "search_memories", json!({ "query": "anything" }))];

    // Overloaded before the second round's first token: retried, as the first round would be.
    app.anthropic.push_stream(calls("Checking.", search(), 1));
    app.anthropic.push_stream(Reply::overloaded());
    app.anthropic.push_stream(Reply::Stream(StreamReply::text("Nothing stored about that.")));
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "What do you know?").await;
    assert_eq!(typename(events.last().unwrap()), "ChatCompleted", "{events:#?}");
    assert_eq!(deltas(&events), "Checking.\n\nNothing stored about that.");
    assert_eq!(app.anthropic.stream_requests().len(), 3);

    // Failing after its first token: the answer fails, retryable, with everything shown kept and
    // nothing shown twice.
    let later = "Here is what I found about it, in some detail.";
    app.anthropic.push_stream(calls("Checking again.", search(), 2));
    app.anthropic.push_stream(Reply::Stream(StreamReply { ending: Ending::ErrorAfter(4), ..StreamReply::text(later) }));
    let events = chat(&app, Protocol::LegacyWs, &key, &conversation, "Look once more").await;
    let shown = deltas(&events);
    let rest = shown.strip_prefix("Checking again.\n\n").unwrap_or_else(|| panic!("{shown:?}"));
    assert!(!rest.is_empty() && later.starts_with(rest) && rest != later, "{shown:?}");
    assert_eq!(shown.matches("Checking again.").count(), 1);
    let failed = events.last().unwrap();
    assert_eq!(typename(failed), "ChatFailed", "{events:#?}");
    assert_eq!(failed["code"], "UPSTREAM_ERROR");
    assert_eq!(failed["retryable"], true);
    assert_eq!(failed["partialMessage"]["content"], shown.as_str());
    let answer = stored(&app, &events[0]["assistantMessageId"]).await;
    assert_eq!(answer.status, MessageStatus::Failed);
    assert_eq!(answer.content, shown);
    assert!(answer.tool_calls.is_some(), "the tool call of the first round is recorded");
    assert_eq!(app.anthropic.stream_requests().len(), 5, "nothing is retried once a round has started");
}

async fn leaving_between_rounds_drops_the_upstream_and_keeps_the_partial(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    app.anthropic.push_stream(calls(
        "One moment.",
        vec![Block::tool("toolu_1", "search_memories", json!({ "query": "holidays" }))],
        4,
    ));
    // The next round thinks for a long while (about half a minute) before any text: the turn must
    // notice the caller left without waiting for text to fail to send.
    app.anthropic.push_stream(Reply::Stream(StreamReply {
        chunk_delay: Duration::from_millis(30),
        chunk_per_event: true,
        ..StreamReply::blocks(vec![Block::Thinking("hmm ".repeat(1000)), Block::Text("word ".repeat(50))])
    }));
    let mut socket = GqlSocket::with_key(app.port, Protocol::TransportWs, &key).await;
    socket.subscribe("1", CHAT, json!({ "c": conversation, "m": "Where did I go on holiday?" })).await;
    let Frame::Data(started) = socket.next_frame().await else { panic!("expected ChatStarted") };
    let assistant_id = started["chat"]["assistantMessageId"].clone();
    loop {
        let Frame::Data(data) = socket.next_frame().await else { panic!("expected events") };
        if typename(&data["chat"]) == "ChatToolUse" {
            break;
        }
    }
    socket.unsubscribe("1").await;
    socket.close().await;

    let answer = eventually(
        "the answer kept as interrupted",
        || stored(&app, &assistant_id),
        |m| m.status == MessageStatus::Interrupted,
    )
    .await;
    assert_eq!(answer.content, "One moment.");
    assert!(answer.tool_calls.is_some());
    eventually("the second round's upstream dropped", || async { app.anthropic.dropped_streams() }, |n| *n >= 1).await;
}

async fn a_model_that_calls_tools_forever_is_made_to_finish(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    for round in 0..3u64 {
        app.anthropic.push_stream_with(move |request| {
            if request.allows_tools() {
                calls(
                    "Searching.",
                    vec![Block::tool(&format!("toolu_{round}"), "search_memories", json!({ "query": "more" }))],
                    round,
                )
            } else {
                Reply::Stream(StreamReply::text("That is all I have."))
            }
        });
    }
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "Dig deeper").await;
    let completed = events.last().unwrap();
    assert_eq!(typename(completed), "ChatCompleted", "{events:#?}");
    assert!(completed["message"]["content"].as_str().unwrap().ends_with("That is all I have."));
    assert_eq!(events.iter().filter(|e| typename(e) == "ChatToolUse").count(), 2, "CHAT_MAX_TOOL_ROUNDS=2");
    let requests = app.anthropic.stream_requests();
    assert_eq!(requests.len(), 3, "two tool rounds, then the answer");
    assert_eq!(requests[2].body["tool_choice"], json!({ "type": "none" }), "the last request forbids tools");
    assert_eq!(requests[2].body["tools"], requests[0].body["tools"], "and keeps their definitions");

    // A model that calls tools even then: the calls are not run, and the answer completes.
    for round in 0..3u64 {
        app.anthropic.push_stream(calls(
            "Searching.",
            vec![Block::tool(&format!("toolu_x{round}"), "search_memories", json!({ "query": "more" }))],
            round,
        ));
    }
    let events = chat(&app, Protocol::LegacyWs, &key, &conversation, "Dig even deeper").await;
    let completed = events.last().unwrap();
    assert_eq!(typename(completed), "ChatCompleted", "{events:#?}");
    assert_eq!(completed["stopReason"], "tool_use");
    assert_eq!(events.iter().filter(|e| typename(e) == "ChatToolUse").count(), 2);
    assert_eq!(app.anthropic.stream_requests().len(), 6, "never more than the cap");
}

async fn without_tools_the_request_offers_none(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "hello").await;
    assert_eq!(typename(events.last().unwrap()), "ChatCompleted");
    let request = app.anthropic.stream_requests().pop().unwrap();
    assert!(request.body.get("tools").is_none(), "{}", request.body);
}

/// A tool round is a Claude call like any other: the user's usage counts each one, and a round
/// over the budget is not made (the answer ends RATE_LIMITED, what it said so far kept).
async fn every_round_counts_against_the_budget(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let search = |id: &str| vec![Block::tool(id, "search_memories", json!({ "query": "plans" }))];
    app.anthropic.push_stream(calls("Let me look.", search("toolu_a"), 1));
    app.anthropic.push_stream(Reply::Stream(StreamReply::text("Nothing stored yet.")));
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "What are my plans?").await;
    assert_eq!(typename(events.last().unwrap()), "ChatCompleted", "{events:#?}");
    // A streamed call is counted once its stream is over, just after the answer completes.
    let usage = || app.data(&key, "{ usage { purpose calls } }", json!({}));
    let counted = |calls: u64| move |data: &Value| data["usage"] == json!([{ "purpose": "chat", "calls": calls }]);
    eventually("two rounds counted as two calls", usage, counted(2)).await;

    // The third call of the day is the first round of the next answer; its second round would be
    // the fourth.
    app.anthropic.push_stream(calls("Looking again.", search("toolu_b"), 2));
    app.anthropic.push_stream(Reply::Stream(StreamReply::text("never sent")));
    let events = chat(&app, Protocol::TransportWs, &key, &conversation, "And next week?").await;
    let failed = events.last().unwrap();
    assert_eq!(typename(failed), "ChatFailed", "{events:#?}");
    assert_eq!(failed["code"], "RATE_LIMITED", "{failed}");
    assert_eq!(app.anthropic.stream_requests().len(), 3, "the round over the budget was not made");
    let answer = app.last_answer().await;
    assert!(answer.content.starts_with("Looking again."), "the partial is kept: {:?}", answer.content);
    eventually("the third call counted, the refused one not", usage, counted(3)).await;
}

/// Extraction requests made so far.
fn extractions(app: &TestApp) -> Vec<Recorded> {
    app.anthropic.tool_requests()
}

async fn extraction_runs_only_when_it_can_add_something(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    // Nothing about the user: no extraction call.
    for (n, message) in ["thanks!", "and in Python?", "How do I reverse a list in Rust?"].into_iter().enumerate() {
        app.data(&key, SEND, json!({ "c": conversation, "m": message })).await;
        learned_from(&app, &key, n + 1).await;
    }
    assert!(extractions(&app).is_empty(), "{:#?}", extractions(&app));

    // A fact: one call, by the extraction model, its prompt and tool marked for the cache.
    let fact = "My sister Eva is getting married in June.";
    app.data(&key, SEND, json!({ "c": conversation, "m": fact })).await;
    learned_from(&app, &key, 4).await;
    let asked = extractions(&app);
    assert_eq!(asked.len(), 1);
    assert!(asked[0].messages()[0].1.contains(fact));
    assert_eq!(asked[0].body["model"], "claude-haiku-4-5");
    assert_eq!(asked[0].body["system"][0]["cache_control"]["type"], "ephemeral");
    assert_eq!(asked[0].body["tools"][0]["cache_control"]["type"], "ephemeral");

    // A fact the answer's own tools saved: no second call for it.
    app.anthropic.push_stream(calls(
        "I'll remember that.",
        vec![Block::tool("toolu_1", "remember", json!({ "content": "Has a brother named Jon" }))],
        6,
    ));
    app.anthropic.push_stream(Reply::Stream(StreamReply::text("Saved.")));
    app.data(&key, SEND, json!({ "c": conversation, "m": "I have a brother named Jon." })).await;
    learned_from(&app, &key, 5).await;
    assert_eq!(extractions(&app).len(), 1, "the tools already saved it");
    assert!(live_memories(&app, &key).await.contains(&"Has a brother named Jon".to_string()));
}

async fn a_burst_of_messages_is_extracted_in_one_call(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let burst = ["I live in Porto now.", "My daughter Mia starts school in May.", "I work at the harbour."];
    for message in burst {
        app.data(&key, SEND, json!({ "c": conversation, "m": message })).await;
    }
    learned_from(&app, &key, 3).await;
    let asked = extractions(&app);
    assert_eq!(asked.len(), 1, "one call for the three: {asked:#?}");
    let prompt = &asked[0].messages()[0].1;
    for message in burst {
        assert!(prompt.contains(message), "{prompt}");
    }
}

/// The figure behind the gate: every message of the personalisation scenarios (what the users say
/// in passing, then every probe question) sent through the API, and the extraction calls counted
/// in the fake's log. Without the gate it was one call per message.
#[tokio::test]
async fn the_gate_halves_extraction_calls_on_the_personalisation_messages() {
    use crate::helpers::Backend;
    use crate::personalisation_data::PERSONAS;
    let app = TestApp::spawn_with(Backend::Sqlite, &[("MEMORY_EXTRACTION_DEBOUNCE_MS", "0")]).await.unwrap();
    let mut sent = 0;
    for persona in PERSONAS {
        let (_, key) = app.create_user(persona.name).await;
        let conversation = conversation(&app, &key).await;
        let messages = persona.told.iter().map(|(said, _)| *said).chain(persona.probes.iter().map(|p| p.question));
        let before = sent;
        for message in messages {
            app.data(&key, SEND, json!({ "c": conversation, "m": message })).await;
            sent += 1;
        }
        learned_from(&app, &key, sent - before).await;
    }
    let asked = extractions(&app);
    let told: Vec<&str> = PERSONAS.iter().flat_map(|p| p.told.iter().map(|(said, _)| *said)).collect();
    for said in &told {
        assert!(
            asked.iter().any(|r| r.messages()[0].1.contains(said)),
            "a fact told in passing was not extracted: {said}"
        );
    }
    let per_message = asked.len() as f64 / sent as f64;
    eprintln!(
        "extraction calls: {} for {sent} user messages ({} told in passing, {} questions): {per_message:.2} per message",
        asked.len(),
        told.len(),
        sent - told.len()
    );
    assert!(per_message <= 0.5, "{per_message:.2} extraction calls per message");
}
