//! The long-term memory as a system: the index survives restarts, rebuilds from SQL when its
//! files are gone or old, stays in step across replicas, and learns from conversations (Claude's
//! tool-use consolidation and the deterministic rules), telling subscribers as memories change.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fake_anthropic::{Reply, StreamReply};
use crate::helpers::{TestApp, eventually};
use crate::ws::{Frame, GqlSocket, Protocol};

crate::on_both_backends!(
    restart_keeps_results_and_lost_index_files_are_rebuilt,
    an_index_older_than_sql_converges_after_a_crash,
    replicas_see_each_others_memory_changes,
    claude_adds_updates_and_retires_memories_with_history,
);
crate::on_both_backends!(with [("MEMORY_EXTRACTION", "rules")] rules_learn_without_claude_and_supersede_old_facts);
crate::on_both_backends!(memory_events_reach_only_their_owner);
crate::on_both_backends!(with [("MEMORY_INDEX_MAX_USERS", "1")] only_recently_used_shards_stay_in_memory);

async fn only_recently_used_shards_stay_in_memory(app: TestApp) {
    let (_, ada) = app.create_user("Ada").await;
    let (_, bob) = app.create_user("Bob").await;
    remember(&app, &ada, "Lives in Porto").await;
    remember(&app, &bob, "Lives in Oslo").await;
    let index = &app.state.memory_index;

    assert_eq!(search(&app, &ada, "lives").await, ["Lives in Porto"]);
    index.save_changed().await;
    // Bob's search loads his shard; Ada's, saved and idle, is let go.
    assert_eq!(search(&app, &bob, "lives").await, ["Lives in Oslo"]);
    assert_eq!(index.loaded(), 1);
    // Ada's comes back from its files; Bob's has unsaved changes, so it stays until saved.
    assert_eq!(search(&app, &ada, "lives").await, ["Lives in Porto"]);
    assert_eq!(index.loaded(), 2);
    index.save_changed().await;
    assert_eq!(search(&app, &ada, "porto").await, ["Lives in Porto"]);
    assert_eq!(index.loaded(), 1);
    assert_eq!(search(&app, &bob, "oslo").await, ["Lives in Oslo"]);
}

/// With Redis, a subscriber on one replica hears of changes made on another.
#[tokio::test]
async fn memory_events_cross_replicas_through_redis() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Postgres).await else { return };
    let other = app.replica().await;
    let (_, key) = app.create_user("Ada").await;
    let mut socket = GqlSocket::with_key(app.port, Protocol::LegacyWs, &key).await;
    socket.subscribe("events", "subscription { memoryEvents { kind memory { content } } }", json!({})).await;
    subscribed(&app).await;
    // The replica's relay subscribes to Redis in the background: retry until one arrives.
    let mut heard = None;
    for attempt in 0..20 {
        remember(&other, &key, &format!("Made on the other replica, take {attempt}")).await;
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(500), socket.next_frame()).await {
            heard = Some(frame);
            break;
        }
    }
    match heard {
        Some(Frame::Data(data)) => {
            assert_eq!(data["memoryEvents"]["kind"], "ADDED");
            assert!(
                data["memoryEvents"]["memory"]["content"].as_str().unwrap().starts_with("Made on the other replica")
            );
        }
        other => panic!("no event from the other replica: {other:?}"),
    }
    socket.close().await;
}

const REMEMBER: &str = "mutation($c: String!) { remember(input: {content: $c}) { id content } }";
const SEARCH: &str = "query($q: String!) { searchMemories(query: $q, limit: 5) { memory { content } } }";
const SEND: &str =
    "mutation($c: ID!, $m: String!) { sendMessage(input: {conversationId: $c, message: $m}) { message { content } } }";

async fn remember(app: &TestApp, key: &str, content: &str) -> String {
    app.data(key, REMEMBER, json!({ "c": content })).await["remember"]["id"].as_str().unwrap().to_owned()
}

async fn search(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    app.data(key, SEARCH, json!({ "q": query })).await["searchMemories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|found| found["memory"]["content"].as_str().unwrap().to_owned())
        .collect()
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

/// Polls until the caller's live memories are `expected` (learning happens off the hot path).
async fn wait_for_memories(app: &TestApp, key: &str, expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    eventually(&format!("the memories {expected:?}"), || live_memories(app, key), |seen| seen == &expected).await;
}

/// Waits until the server listens for memory events (a subscription is live then).
async fn subscribed(app: &TestApp) {
    eventually("a memoryEvents subscriber", || async { app.state.memory_events.subscribers() }, |n| *n > 0).await;
}

async fn conversation(app: &TestApp, key: &str) -> String {
    let data = app.data(key, "mutation { createConversation(input: {}) { id } }", json!({})).await;
    data["createConversation"]["id"].as_str().unwrap().to_owned()
}

fn user_uuid(id: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(id).unwrap()
}

async fn restart_keeps_results_and_lost_index_files_are_rebuilt(app: TestApp) {
    let (user, key) = app.create_user("Ada").await;
    for content in ["Lives in Porto", "Has a cat named Tom", "Works at a bakery in Porto", "Plays the cello"] {
        remember(&app, &key, content).await;
    }
    let before = search(&app, &key, "porto").await;
    assert_eq!(before.len(), 2, "{before:?}");

    // A graceful stop saves the index; the next start uses the files.
    let app = app.restart(&[]).await;
    let files = app.state.memory_index.files_of(user_uuid(&user));
    assert!(files.iter().all(|f| f.exists()), "index files after a stop: {files:?}");
    assert_eq!(search(&app, &key, "porto").await, before);

    // Without its files the index is rebuilt from SQL, and saved again at the next stop.
    for file in &files {
        std::fs::remove_file(file).unwrap();
    }
    let mut app = app.restart(&[]).await;
    assert_eq!(search(&app, &key, "porto").await, before);
    assert_eq!(search(&app, &key, "cello").await, ["Plays the cello"]);
    app.stop_server().await;
    assert!(files.iter().all(|f| f.exists()), "rebuilt index saved: {files:?}");
}

async fn an_index_older_than_sql_converges_after_a_crash(app: TestApp) {
    let (user, key) = app.create_user("Ada").await;
    let cat = remember(&app, &key, "Has a cat named Tom").await;
    remember(&app, &key, "Lives in Porto").await;
    assert_eq!(search(&app, &key, "cat").await, ["Has a cat named Tom"]);
    let app = app.restart(&[]).await;
    let files = app.state.memory_index.files_of(user_uuid(&user));
    let old: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();

    // Changes after the last save...
    app.data(&key, "mutation($id: ID!) { forgetMemory(id: $id) }", json!({ "id": cat })).await;
    remember(&app, &key, "Has a dog named Rex").await;
    app.data(&key, "mutation { remember(input: {content: \"Lives in Lisbon\"}) { id } }", json!({})).await;
    let mut app = app.restart(&[]).await;
    app.stop_server().await;
    // ...then a crash that lost them: the files are the old ones again.
    for (file, bytes) in files.iter().zip(&old) {
        std::fs::write(file, bytes).unwrap();
    }
    let app = app.restart(&[]).await;
    assert!(search(&app, &key, "cat").await.is_empty(), "a forgotten memory must not come back");
    assert_eq!(search(&app, &key, "dog rex").await, ["Has a dog named Rex"]);
    assert_eq!(search(&app, &key, "lisbon").await, ["Lives in Lisbon"]);
}

async fn replicas_see_each_others_memory_changes(app: TestApp) {
    let other = app.replica().await;
    let (_, key) = app.create_user("Ada").await;
    // Both replicas have the user's shard loaded.
    assert!(search(&app, &key, "porto").await.is_empty());
    assert!(search(&other, &key, "porto").await.is_empty());

    let id = remember(&other, &key, "Lives in Porto").await;
    assert_eq!(search(&app, &key, "porto").await, ["Lives in Porto"]);
    app.data(
        &key,
        "mutation($id: ID!) { updateMemory(id: $id, input: {content: \"Lives in Lisbon\"}) { id } }",
        json!({ "id": id }),
    )
    .await;
    assert!(search(&other, &key, "porto").await.is_empty());
    assert_eq!(search(&other, &key, "lisbon").await, ["Lives in Lisbon"]);
    other.data(&key, "mutation($id: ID!) { forgetMemory(id: $id) }", json!({ "id": id })).await;
    assert!(search(&app, &key, "lisbon").await.is_empty());
}

/// "[n] content" lines of the extraction prompt: the number Claude would answer with.
fn number_of(prompt: &str, content: &str) -> usize {
    prompt
        .lines()
        .find_map(|line| {
            let (number, text) = line.strip_prefix('[')?.split_once("] ")?;
            (text == content).then(|| number.parse().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("`{content}` is not in the prompt:\n{prompt}"))
}

async fn claude_adds_updates_and_retires_memories_with_history(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let porto = remember(&app, &key, "Lives in Porto").await;
    let cat = remember(&app, &key, "Has a cat named Tom").await;
    let conversation = conversation(&app, &key).await;

    app.anthropic.push_tool_reply_with(|request| {
        let prompt = request.messages()[0].1.clone();
        Reply::ToolUse {
            name: "update_memories".into(),
            input: json!({ "operations": [
                { "action": "ADD", "content": "Is training for a marathon in April", "category": "goal", "importance": 0.7 },
                { "action": "UPDATE", "existing": number_of(&prompt, "Lives in Porto"), "content": "Lives in Lisbon" },
                { "action": "DELETE", "existing": number_of(&prompt, "Has a cat named Tom") },
                { "action": "NOOP", "existing": 1 },
                // Claude naming a memory it was not shown changes nothing.
                { "action": "UPDATE", "existing": 42, "content": "Lives on the moon" },
                { "action": "ADD" }
            ]}),
        }
    });
    let message = "I don't live in Porto any more, I moved to Lisbon. Sadly my cat Tom died. \
                   And I'm training for a marathon in April!";
    app.data(&key, SEND, json!({ "c": conversation, "m": message })).await;
    wait_for_memories(&app, &key, &["Is training for a marathon in April", "Lives in Lisbon"]).await;

    // What Claude was asked: the message, the similar memories, and a forced tool call.
    let request = app.anthropic.tool_requests().pop().unwrap();
    assert_eq!(request.body["tool_choice"], json!({ "type": "tool", "name": "update_memories" }));
    assert_eq!(request.body["tools"][0]["input_schema"]["properties"]["operations"]["type"], "array");
    assert!(request.messages()[0].1.contains(message));

    let memory = "query($id: ID!) { memory(id: $id) { content validTo history { content change validTo } } }";
    let moved = app.data(&key, memory, json!({ "id": porto })).await["memory"].clone();
    assert_eq!(moved["content"], "Lives in Lisbon");
    assert_eq!(moved["validTo"], Value::Null);
    assert_eq!(moved["history"][0]["content"], "Lives in Porto");
    assert_eq!(moved["history"][0]["change"], "UPDATED");

    // A retired memory stays readable, with the date it stopped holding, but leaves search.
    let retired = app.data(&key, memory, json!({ "id": cat })).await["memory"].clone();
    assert_eq!(retired["content"], "Has a cat named Tom");
    assert!(retired["validTo"].is_string(), "{retired}");
    assert_eq!(retired["history"][0]["change"], "RETIRED");
    assert!(search(&app, &key, "cat tom").await.is_empty());

    let added = app
        .data(
            &key,
            "{ memories(filter: {category: GOAL}) { edges { node { content source importance } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        added["memories"]["edges"][0]["node"],
        json!({ "content": "Is training for a marathon in April", "source": "EXTRACTED", "importance": 0.7 })
    );

    // Extraction that fails (the API is overloaded, through every retry) costs the chat
    // nothing, and changes no memory.
    let before = live_memories(&app, &key).await;
    let asked = app.anthropic.tool_requests().len();
    for _ in 0..3 {
        app.anthropic.push_tool_reply(Reply::overloaded());
    }
    app.anthropic.push_stream(Reply::Stream(StreamReply::text("Good luck!")));
    let tips = "Any tips for my first marathon?";
    let answer = app.data(&key, SEND, json!({ "c": conversation, "m": tips })).await;
    assert_eq!(answer["sendMessage"]["message"]["content"], "Good luck!");
    // Extraction did run, and failed: Claude was asked about this message, three times.
    let tries = eventually(
        "three extraction requests for the last message (a try and two retries)",
        || async { app.anthropic.tool_requests()[asked..].to_vec() },
        |tries| tries.len() >= 3,
    )
    .await;
    assert_eq!(tries.len(), 3, "{tries:#?}");
    assert!(tries.iter().all(|r| r.messages()[0].1.contains(tips)), "{tries:#?}");
    crate::helpers::learned_from(&app, &key, 2).await;
    assert_eq!(live_memories(&app, &key).await, before);
}

async fn rules_learn_without_claude_and_supersede_old_facts(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    app.data(&key, SEND, json!({ "c": conversation, "m": "Hi, my name is Ada and I live in Porto." })).await;
    wait_for_memories(&app, &key, &["Lives in Porto", "Name: Ada"]).await;
    app.data(&key, SEND, json!({ "c": conversation, "m": "Big news: I now live in Lisbon." })).await;
    wait_for_memories(&app, &key, &["Lives in Lisbon", "Name: Ada"]).await;

    let data = app
        .data(&key, "{ searchMemories(query: \"lisbon\") { memory { source history { content } } } }", json!({}))
        .await;
    assert_eq!(
        data["searchMemories"][0]["memory"],
        json!({ "source": "RULE", "history": [{ "content": "Lives in Porto" }] })
    );
    assert!(app.anthropic.tool_requests().is_empty(), "MEMORY_EXTRACTION=rules makes no Claude calls");
}

async fn memory_events_reach_only_their_owner(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let (_, other_key) = app.create_user("Grace").await;
    let mut socket = GqlSocket::with_key(app.port, Protocol::TransportWs, &key).await;
    socket.subscribe("events", "subscription { memoryEvents { kind memory { content } } }", json!({})).await;
    // The subscription is live once the server listens for events.
    subscribed(&app).await;
    let mut events = Vec::new();
    remember(&app, &other_key, "Grace's secret").await;
    let id = remember(&app, &key, "Lives in Porto").await;
    app.data(
        &key,
        "mutation($id: ID!) { updateMemory(id: $id, input: {content: \"Lives in Lisbon\"}) { id } }",
        json!({ "id": id }),
    )
    .await;
    app.data(&key, "mutation($id: ID!) { forgetMemory(id: $id) }", json!({ "id": id })).await;
    for _ in 0..3 {
        events.push(tokio::time::timeout(Duration::from_secs(5), socket.next_frame()).await.expect("an event"));
    }
    let seen: Vec<Value> = events
        .into_iter()
        .map(|frame| match frame {
            Frame::Data(data) => data["memoryEvents"].clone(),
            other => panic!("unexpected frame {other:?}"),
        })
        .collect();
    assert_eq!(
        seen,
        [
            json!({ "kind": "ADDED", "memory": { "content": "Lives in Porto" } }),
            json!({ "kind": "UPDATED", "memory": { "content": "Lives in Lisbon" } }),
            json!({ "kind": "REMOVED", "memory": { "content": "Lives in Lisbon" } }),
        ]
    );
    socket.close().await;
}
