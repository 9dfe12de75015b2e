//! Several replicas behind one address: three processes of the real binary on one PostgreSQL
//! database and one Redis, all talking to one fake Anthropic API, with a user's requests spread
//! round-robin over them. To the user they are one server: every turn sees the previous ones,
//! whichever replica answered them; every message is learned from once and in the order it was
//! sent; `memoryEvents` reach a subscriber on another replica; the per-user stream cap holds
//! across replicas, and so does the per-user Claude budget; a key revoked through one replica
//! stops on the others; and a replica killed mid-answer loses no stored message.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use entity::enums::MessageRole;
use entity::{message, prelude::*};
use sea_orm::{ColumnTrait, ConnectionTrait as _, Database, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fake_anthropic::{FakeAnthropic, Reply, StreamReply};
use crate::helpers::{ADMIN_TOKEN, eventually};
use crate::ws::{CHAT, Frame, GqlSocket, Protocol};

const REPLICAS: usize = 3;
/// A user's answers streaming at once, on all replicas together. Above what the concurrent
/// senders below can hold (one answer each, plus one whose slot is being given back).
const MAX_STREAMS: usize = 4;
/// Claude calls a user may make per day, on all replicas together. Above what the other users
/// of the test spend (the most: ten turns and what is learned from them).
const CALLS_PER_DAY: u64 = 30;

const SEND: &str = "mutation($c: ID!, $m: String!) { sendMessage(input: {conversationId: $c, message: $m}) { message { id content } } }";

/// What every replica shares: the database, Redis (under one key prefix) and the Claude API.
struct Shared {
    database_url: String,
    redis_url: String,
    redis_prefix: String,
    anthropic: FakeAnthropic,
}

struct Replica {
    child: Child,
    port: u16,
    client: reqwest::Client,
}

impl Replica {
    /// Starts the binary with its own `DATA_DIR` (no shared disk) and waits until it is ready.
    async fn start(shared: &Shared, data_dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let logs = if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() };
        let child = Command::new(env!("CARGO_BIN_EXE_assistant"))
            .env_clear()
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("DATA_DIR", data_dir)
            .env("DATABASE_URL", &shared.database_url)
            .env("REDIS_URL", &shared.redis_url)
            .env("REDIS_KEY_PREFIX", &shared.redis_prefix)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("ANTHROPIC_API_KEY", "sk-ant-test-key")
            .env("ANTHROPIC_BASE_URL", &shared.anthropic.base_url)
            .env("EMBEDDING_PROVIDER", "fallback")
            .env("EMBEDDING_DOWNLOAD", "false")
            .env("CHAT_MAX_CONCURRENT_STREAMS", MAX_STREAMS.to_string())
            .env("CLAUDE_CALLS_PER_DAY", CALLS_PER_DAY.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(logs)
            .spawn()
            .unwrap();
        let mut replica = Self { child, port, client: reqwest::Client::new() };
        let started = Instant::now();
        loop {
            let ready = replica.client.get(format!("http://127.0.0.1:{port}/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return replica;
            }
            if let Some(status) = replica.child.try_wait().unwrap() {
                panic!("replica on port {port} exited before it was ready: {status} (TEST_LOG=1 shows its log)");
            }
            assert!(started.elapsed() < Duration::from_secs(60), "replica on port {port} did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn gql(&self, key: &str, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("http://127.0.0.1:{}/graphql", self.port))
            .bearer_auth(key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("a replica answers");
        response.json().await.expect("GraphQL response is JSON")
    }

    async fn data(&self, key: &str, query: &str, variables: Value) -> Value {
        let response = self.gql(key, query, variables).await;
        assert!(response.get("errors").is_none(), "unexpected errors from port {}: {response:#}", self.port);
        response["data"].clone()
    }

    async fn create_user(&self, name: &str) -> String {
        let query = "mutation($n: String!) { createUser(input: {displayName: $n}) { apiKey } }";
        let data = self.data(ADMIN_TOKEN, query, json!({ "n": name })).await;
        data["createUser"]["apiKey"].as_str().unwrap().to_owned()
    }

    async fn conversation(&self, key: &str) -> String {
        let data = self.data(key, "mutation { createConversation(input: {}) { id } }", json!({})).await;
        data["createConversation"]["id"].as_str().unwrap().to_owned()
    }

    async fn send(&self, key: &str, conversation: &str, message: &str) -> Value {
        self.data(key, SEND, json!({ "c": conversation, "m": message })).await["sendMessage"]["message"].clone()
    }

    /// SIGKILL: no drain, no goodbye, as when a machine dies.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of one of the caller's learned patterns.
async fn pattern(replica: &Replica, key: &str, pattern: &str) -> Option<String> {
    let data = replica.data(key, "{ learnedPatterns { key value evidenceCount } }", json!({})).await;
    data["learnedPatterns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == pattern)
        .and_then(|p| p["value"].as_str().map(str::to_owned))
}

/// Waits until every message of the user is learned from, then returns them in the order they
/// were stored.
async fn all_learned(db: &DatabaseConnection, replica: &Replica, key: &str, count: usize) -> Vec<message::Model> {
    let expected = format!("{count} messages");
    eventually(
        &format!("learning to count {count} messages"),
        || pattern(replica, key, "message_count"),
        |seen| seen.as_deref() == Some(expected.as_str()),
    )
    .await;
    let me = replica.data(key, "{ me { id } }", json!({})).await;
    let user_id = Uuid::parse_str(me["me"]["id"].as_str().unwrap()).unwrap();
    let stored = eventually(
        "every message to be marked learned",
        || async {
            Message::find()
                .filter(message::Column::UserId.eq(user_id))
                .filter(message::Column::Role.eq(MessageRole::User))
                .order_by_asc(message::Column::Seq)
                .all(db)
                .await
                .unwrap()
        },
        |messages: &Vec<message::Model>| messages.len() == count && messages.iter().all(|m| m.learned_at.is_some()),
    )
    .await;
    // Nothing counted twice once everything is done.
    assert_eq!(pattern(replica, key, "message_count").await.as_deref(), Some(expected.as_str()));
    stored
}

/// A slow streamed answer: `words` deltas, one per `delay`.
fn slow_answer(words: usize, delay: Duration) -> Reply {
    let pieces: Vec<String> = (0..words).map(|i| format!("word{i} ")).collect();
    Reply::Stream(StreamReply {
        text: pieces.concat(),
        pieces: Some(pieces),
        chunk_per_event: true,
        chunk_delay: delay,
        ..StreamReply::text("")
    })
}

async fn chat_started(socket: &mut GqlSocket) -> Value {
    match tokio::time::timeout(Duration::from_secs(20), socket.next_frame()).await.expect("a chat event") {
        Frame::Data(data) => {
            assert_eq!(data["chat"]["__typename"], "ChatStarted", "{data}");
            data["chat"].clone()
        }
        other => panic!("expected ChatStarted, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_behind_one_address_behave_as_one_server() {
    let Some(admin_url) = crate::helpers::postgres_url() else { return };
    let Some(redis_url) = crate::helpers::redis_url() else { return };
    let shared = Shared {
        database_url: crate::helpers::fresh_postgres_database(&admin_url).await,
        redis_url,
        redis_prefix: format!("test:{}:", Uuid::new_v4().simple()),
        anthropic: FakeAnthropic::start().await,
    };
    let anthropic = shared.anthropic.clone();
    let data_dirs: Vec<tempfile::TempDir> = (0..REPLICAS).map(|_| tempfile::tempdir().unwrap()).collect();
    // Started together, as a deployment does: one migrates, the others wait for it.
    let mut replicas: Vec<Replica> =
        futures::future::join_all(data_dirs.iter().map(|dir| Replica::start(&shared, dir.path()))).await;
    let db = Database::connect(&shared.database_url).await.unwrap();

    // A user's turns alternate between replicas, and each sees the ones before it.
    let key = replicas[0].create_user("Ada").await;
    let conversation = replicas[1].conversation(&key).await;
    for turn in 0..4 {
        anthropic.push_stream(Reply::Stream(StreamReply::text(format!("answer {turn}"))));
        let answer = replicas[turn % REPLICAS].send(&key, &conversation, &format!("turn {turn}")).await;
        assert_eq!(answer["content"], format!("answer {turn}"));
        let request = anthropic.stream_requests().pop().unwrap();
        let mut expected = Vec::new();
        for earlier in 0..turn {
            expected.push(("user".to_string(), format!("turn {earlier}")));
            expected.push(("assistant".to_string(), format!("answer {earlier}")));
        }
        expected.push(("user".to_string(), format!("turn {turn}")));
        assert_eq!(request.messages(), expected, "turn {turn} on replica {}", turn % REPLICAS);
    }

    // Learning follows the order messages were sent, across replicas. Claude is slow to
    // extract from the first message (two seconds, then it notes a job); the second, on another
    // replica, changes home, job and units. Its learning waits for the first one's instead of
    // overtaking it, so the later statements win everywhere.
    all_learned(&db, &replicas[2], &key, 4).await;
    let key = replicas[0].create_user("Bea").await;
    let conversation = replicas[0].conversation(&key).await;
    let job = json!({ "operations": [{ "action": "ADD", "content": "Works as/at a bakery", "category": "fact" }] });
    anthropic.push_tool_reply(Reply::Delayed(
        Duration::from_secs(2),
        Box::new(Reply::ToolUse { name: "update_memories".into(), input: job }),
    ));
    replicas[0].send(&key, &conversation, "I live in Porto. Please use metric units.").await;
    let later = "I now live in Lisbon. I now work as a teacher. Please use imperial units.";
    replicas[1].send(&key, &conversation, later).await;
    let learned = all_learned(&db, &replicas[2], &key, 2).await;
    let preferences = replicas[2].data(&key, "{ preferences { key value } }", json!({})).await;
    let units = preferences["preferences"].as_array().unwrap().iter().find(|p| p["key"] == "units").cloned();
    assert_eq!(units.map(|p| p["value"].clone()), Some(json!("imperial")), "the later statement wins");
    // Each fact the later message states replaced the earlier one (kept in its history).
    let query = "{ memories { edges { node { content history { content } } } } }";
    let memories = replicas[2].data(&key, query, json!({})).await;
    let mut remembered: Vec<(String, Vec<String>)> = memories["memories"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| {
            let history = edge["node"]["history"].as_array().unwrap();
            let history = history.iter().map(|v| v["content"].as_str().unwrap().to_owned()).collect();
            (edge["node"]["content"].as_str().unwrap().to_owned(), history)
        })
        .collect();
    remembered.sort();
    let fact = |now: &str, before: &str| (now.to_owned(), vec![before.to_owned()]);
    assert_eq!(
        remembered,
        [fact("Lives in Lisbon", "Lives in Porto"), fact("Works as/at a teacher", "Works as/at a bakery")],
        "the later facts replaced the earlier ones"
    );
    assert!(learned[0].content.contains("Porto") && learned[1].content.contains("Lisbon"));
    assert!(learned[0].learned_at <= learned[1].learned_at, "learned in order: {learned:#?}");

    // Messages sent concurrently and alternately are each learned once, in the order stored.
    let key = replicas[0].create_user("Cai").await;
    let senders = (0..2).map(|sender| {
        let (replicas, key) = (&replicas, &key);
        async move {
            let conversation = replicas[sender].conversation(key).await;
            for i in 0..5 {
                let replica = &replicas[(sender + i) % REPLICAS];
                replica.send(key, &conversation, &format!("How do I fix bug {sender}-{i}?")).await;
            }
        }
    });
    futures::future::join_all(senders).await;
    let learned = all_learned(&db, &replicas[1], &key, 10).await;
    let seqs: Vec<i64> = learned.iter().map(|m| m.seq.unwrap()).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>(), "one place each, no gaps");
    assert!(learned.windows(2).all(|w| w[0].learned_at <= w[1].learned_at), "learned in order: {learned:#?}");
    assert_eq!(pattern(&replicas[2], &key, "how-to").await.as_deref(), Some("asked 10 times"));
    assert_eq!(pattern(&replicas[0], &key, "conversation_count").await.as_deref(), Some("2 conversations"));

    // A memory changed through one replica reaches a subscriber on another (through Redis).
    let key = replicas[0].create_user("Dan").await;
    let mut events = GqlSocket::with_key(replicas[0].port, Protocol::TransportWs, &key).await;
    events.subscribe("events", "subscription { memoryEvents { kind memory { content } } }", json!({})).await;
    let mut heard = None;
    // The subscription reaches Redis in the background: try again until one arrives.
    for attempt in 0..20 {
        let content = format!("Made on another replica, take {attempt}");
        let remember = "mutation($c: String!) { remember(input: {content: $c}) { id } }";
        replicas[1 + attempt % 2].data(&key, remember, json!({ "c": content })).await;
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(500), events.next_frame()).await {
            heard = Some(frame);
            break;
        }
    }
    match heard {
        Some(Frame::Data(data)) => {
            assert_eq!(data["memoryEvents"]["kind"], "ADDED");
            let content = data["memoryEvents"]["memory"]["content"].as_str().unwrap();
            assert!(content.starts_with("Made on another replica"), "{content}");
        }
        other => panic!("no memory event from the other replicas: {other:?}"),
    }
    events.close().await;

    // The per-user cap on streaming answers holds across replicas.
    let key = replicas[0].create_user("Eve").await;
    let conversation = replicas[0].conversation(&key).await;
    let mut streams = Vec::new();
    for n in 0..MAX_STREAMS {
        let replica = &replicas[n % REPLICAS];
        anthropic.push_stream(slow_answer(30, Duration::from_millis(50)));
        let mut socket = GqlSocket::with_key(replica.port, Protocol::TransportWs, &key).await;
        socket.subscribe("1", CHAT, json!({ "c": conversation, "m": "a slow one" })).await;
        chat_started(&mut socket).await;
        streams.push(socket);
    }
    let last = &replicas[MAX_STREAMS % REPLICAS];
    let refused = last.gql(&key, SEND, json!({ "c": conversation, "m": "one more" })).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{refused}");
    let said = refused["errors"][0]["message"].as_str().unwrap();
    assert!(said.contains(&format!("{MAX_STREAMS} answers streaming")), "{refused}");
    for mut socket in streams {
        let events = socket.chat_events().await;
        assert_eq!(events.last().unwrap()["__typename"], "ChatCompleted", "{events:?}");
    }
    eventually(
        "a stream slot to be given back",
        || last.gql(&key, SEND, json!({ "c": conversation, "m": "one more" })),
        |response| response.get("errors").is_none(),
    )
    .await;

    // The daily budget of Claude calls is one budget across replicas: spent by turns taken in
    // turn on each, refused on whichever replica the next turn reaches, and every replica tells
    // the user the same.
    let key = replicas[0].create_user("Hal").await;
    let conversation = replicas[0].conversation(&key).await;
    let mut answered = 0;
    let refused = loop {
        assert!(answered <= CALLS_PER_DAY, "more turns answered than the budget allows: {answered}");
        let response =
            replicas[answered as usize % REPLICAS].gql(&key, SEND, json!({ "c": conversation, "m": "thanks!" })).await;
        if response.get("errors").is_some() {
            break response;
        }
        answered += 1;
    };
    assert_eq!(refused["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{refused}");
    assert!(refused["errors"][0]["extensions"]["retryAfter"].as_u64().is_some_and(|s| s > 0), "{refused}");
    assert!(answered > 0, "turns are answered until the budget is spent");
    let calls = "{ usageLimits { measure window allowed used remaining } usage { calls } }";
    for replica in &replicas {
        let limits = replica.data(&key, calls, json!({})).await;
        assert_eq!(
            limits["usageLimits"],
            json!([{ "measure": "CALLS", "window": "DAY", "allowed": CALLS_PER_DAY, "used": CALLS_PER_DAY, "remaining": 0 }]),
            "replica on port {}",
            replica.port
        );
        let spent: u64 = limits["usage"].as_array().unwrap().iter().map(|day| day["calls"].as_u64().unwrap()).sum();
        assert_eq!(spent, CALLS_PER_DAY, "the calls the user made, as every replica reports them");
    }

    // A replica killed mid-answer loses nothing that was stored: the user's message is there,
    // the answer says it was streaming, and a restart's recovery marks it interrupted once it is
    // old enough to be abandoned.
    let key = replicas[0].create_user("Fay").await;
    let conversation = replicas[0].conversation(&key).await;
    anthropic.push_stream(slow_answer(100, Duration::from_millis(50)));
    let mut socket = GqlSocket::with_key(replicas[2].port, Protocol::TransportWs, &key).await;
    socket.subscribe("1", CHAT, json!({ "c": conversation, "m": "a story that will be cut" })).await;
    let started = chat_started(&mut socket).await;
    let Frame::Data(delta) = socket.next_frame().await else { panic!("a delta") };
    assert_eq!(delta["chat"]["__typename"], "ChatDelta");
    replicas[2].kill();
    drop(socket);
    let stored =
        "query($c: ID!) { conversation(id: $c) { messages(first: 10) { edges { node { id role content status } } } } }";
    let messages = replicas[0].data(&key, stored, json!({ "c": conversation })).await;
    let nodes: Vec<Value> = messages["conversation"]["messages"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"].clone())
        .collect();
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert_eq!(nodes[0]["id"], started["userMessageId"]);
    assert_eq!(nodes[0]["content"], "a story that will be cut");
    assert_eq!(nodes[0]["status"], "COMPLETE");
    assert_eq!(nodes[1]["id"], started["assistantMessageId"]);
    assert_eq!(nodes[1]["status"], "STREAMING");
    // Its learning is done by then or left to the user's next message, on another replica.
    replicas[1].send(&key, &conversation, "Are you still there?").await;
    all_learned(&db, &replicas[1], &key, 2).await;

    let answer_id = Uuid::parse_str(started["assistantMessageId"].as_str().unwrap()).unwrap();
    db.execute_unprepared(&format!(
        "UPDATE messages SET updated_at = updated_at - interval '16 minutes' WHERE id = '{answer_id}'"
    ))
    .await
    .unwrap();
    replicas[2] = Replica::start(&shared, data_dirs[2].path()).await;
    let messages = replicas[2].data(&key, stored, json!({ "c": conversation })).await;
    let answer = &messages["conversation"]["messages"]["edges"][1]["node"];
    assert_eq!(answer["id"], started["assistantMessageId"]);
    assert_eq!(answer["status"], "INTERRUPTED", "{answer}");

    // A key revoked through one replica stops on the others at once: a socket opened with it on
    // another replica is closed 4403, and the key is refused everywhere.
    let key = replicas[0].create_user("Gus").await;
    let created = replicas[0]
        .data(&key, "mutation { createApiKey(input: {name: \"laptop\"}) { apiKey key { id } } }", json!({}))
        .await;
    let (spare, spare_id) = (
        created["createApiKey"]["apiKey"].as_str().unwrap().to_owned(),
        created["createApiKey"]["key"]["id"].as_str().unwrap().to_owned(),
    );
    let mut socket = GqlSocket::with_key(replicas[1].port, Protocol::TransportWs, &spare).await;
    socket.subscribe("1", "subscription { memoryEvents { kind } }", json!({})).await;
    replicas[2].data(&key, "mutation($id: ID!) { revokeApiKey(id: $id) { id } }", json!({ "id": spare_id })).await;
    let code = tokio::time::timeout(Duration::from_secs(10), socket.close_code()).await.expect("closed in time");
    assert_eq!(code, Some(4403), "the revoked key's socket on another replica");
    for replica in &replicas {
        let refused = replica.gql(&spare, "{ me { id } }", json!({})).await;
        assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{refused}");
    }
}
