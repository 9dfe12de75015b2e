//! A redeploy: SIGTERM to the real binary while an answer streams. The replica turns `/readyz` to
//! 503 at once and starts no new answer; the answer in flight finishes within the grace period,
//! or is ended retryable with its partial text kept; the process exits 0.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake_anthropic::{FakeAnthropic, Reply, StreamReply};
use crate::helpers::ADMIN_TOKEN;
use crate::sse_client::EventStream;
use crate::ws::{CHAT, Frame, GqlSocket, Protocol};

struct Replica {
    child: Child,
    port: u16,
    client: reqwest::Client,
}

impl Replica {
    async fn start(data_dir: &std::path::Path, anthropic: &FakeAnthropic, grace_seconds: u64) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(env!("CARGO_BIN_EXE_assistant"))
            .env_clear()
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("DATA_DIR", data_dir)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("ANTHROPIC_API_KEY", "sk-ant-test-key")
            .env("ANTHROPIC_BASE_URL", &anthropic.base_url)
            .env("EMBEDDING_PROVIDER", "fallback")
            .env("MEMORY_EXTRACTION", "rules")
            .env("SHUTDOWN_GRACE_SECONDS", grace_seconds.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let replica = Self { child, port, client: reqwest::Client::new() };
        let started = Instant::now();
        while replica.ready().await != Some(200) {
            assert!(started.elapsed() < Duration::from_secs(60), "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        replica
    }

    async fn ready(&self) -> Option<u16> {
        let response = self.client.get(format!("http://127.0.0.1:{}/readyz", self.port)).send().await.ok()?;
        Some(response.status().as_u16())
    }

    async fn gql(&self, key: &str, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("http://127.0.0.1:{}/graphql", self.port))
            .bearer_auth(key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    fn terminate(&self) {
        assert!(Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap().success());
    }

    /// Waits for the process to exit; its exit code.
    async fn exit_code(mut self) -> Option<i32> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the server did not exit after SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A slow answer: one delta per `delay`.
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

/// A user and a conversation on `replica`; (key, conversation id).
async fn user_with_conversation(replica: &Replica) -> (String, String) {
    let created =
        replica.gql(ADMIN_TOKEN, r#"mutation { createUser(input: {displayName: "Ada"}) { apiKey } }"#, json!({})).await;
    let key = created["data"]["createUser"]["apiKey"].as_str().unwrap().to_owned();
    let conversation = replica.gql(&key, r#"mutation { createConversation(input: {}) { id } }"#, json!({})).await;
    (key, conversation["data"]["createConversation"]["id"].as_str().unwrap().to_owned())
}

/// Reads chat events until the answer's last one.
async fn last_event(socket: &mut GqlSocket) -> Value {
    let mut last = Value::Null;
    loop {
        match tokio::time::timeout(Duration::from_secs(60), socket.next_frame()).await.expect("a chat event") {
            Frame::Data(data) => last = data["chat"].clone(),
            Frame::Errors(errors) => panic!("GraphQL errors: {errors}"),
            Frame::Complete => return last,
        }
    }
}

#[tokio::test]
async fn an_answer_longer_than_the_grace_period_ends_retryable_with_its_partial_kept() {
    let anthropic = FakeAnthropic::start().await;
    let data = tempfile::tempdir().unwrap();
    let replica = Replica::start(data.path(), &anthropic, 1).await;
    let (key, conversation) = user_with_conversation(&replica).await;

    anthropic.push_stream(slow_answer(200, Duration::from_millis(100)));
    let mut socket = GqlSocket::with_key(replica.port, Protocol::TransportWs, &key).await;
    socket.subscribe("1", CHAT, json!({ "c": conversation, "m": "tell me a long story" })).await;
    let Frame::Data(started) = socket.next_frame().await else { panic!("ChatStarted first") };
    assert_eq!(started["chat"]["__typename"], "ChatStarted");
    let Frame::Data(delta) = socket.next_frame().await else { panic!("a delta") };
    assert_eq!(delta["chat"]["__typename"], "ChatDelta");

    replica.terminate();
    // Draining at once: not ready, and no new answer starts (on the same socket).
    let started_draining = Instant::now();
    while replica.ready().await != Some(503) {
        assert!(started_draining.elapsed() < Duration::from_secs(5), "/readyz did not turn 503");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = replica
        .gql(
            &key,
            r#"mutation($c: ID!) { sendMessage(input: {conversationId: $c, message: "hi"}) { message { id } } }"#,
            json!({ "c": conversation }),
        )
        .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{refused}");

    let failed = last_event(&mut socket).await;
    assert_eq!(failed["__typename"], "ChatFailed", "{failed}");
    assert_eq!(failed["code"], "UNAVAILABLE");
    assert_eq!(failed["retryable"], true);
    let partial = failed["partialMessage"]["content"].as_str().unwrap().to_owned();
    assert!(partial.starts_with("word0 "), "{partial}");
    assert!(partial.len() < 200 * 6, "cut short by the grace period: {partial}");
    assert_eq!(replica.exit_code().await, Some(0));
    assert!(anthropic.dropped_streams() >= 1, "the upstream stream was dropped");

    // What was kept survives the restart, marked as failed.
    let again = Replica::start(data.path(), &anthropic, 1).await;
    let stored = again
        .gql(
            &key,
            "query($c: ID!) { conversation(id: $c) { messages(last: 5) { edges { node { role content status } } } } }",
            json!({ "c": conversation }),
        )
        .await;
    let answer = stored["data"]["conversation"]["messages"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| &edge["node"])
        .find(|node| node["role"] == "ASSISTANT")
        .cloned()
        .unwrap_or_else(|| panic!("the answer is stored: {stored}"));
    assert_eq!(answer["status"], "FAILED");
    assert_eq!(answer["content"], partial.as_str());
    again.terminate();
    assert_eq!(again.exit_code().await, Some(0));
}

#[tokio::test]
async fn an_answer_within_the_grace_period_completes_after_sigterm() {
    let anthropic = FakeAnthropic::start().await;
    let data = tempfile::tempdir().unwrap();
    let replica = Replica::start(data.path(), &anthropic, 30).await;
    let (key, conversation) = user_with_conversation(&replica).await;

    anthropic.push_stream(slow_answer(15, Duration::from_millis(100)));
    let mut socket = GqlSocket::with_key(replica.port, Protocol::TransportWs, &key).await;
    socket.subscribe("1", CHAT, json!({ "c": conversation, "m": "a short story" })).await;
    let Frame::Data(_started) = socket.next_frame().await else { panic!("ChatStarted first") };
    let Frame::Data(_delta) = socket.next_frame().await else { panic!("a delta") };

    replica.terminate();
    let completed = last_event(&mut socket).await;
    assert_eq!(completed["__typename"], "ChatCompleted", "{completed}");
    assert_eq!(completed["message"]["content"], (0..15).map(|i| format!("word{i} ")).collect::<String>());
    assert_eq!(completed["message"]["status"], "COMPLETE");
    assert_eq!(replica.exit_code().await, Some(0));
}

/// What stays open once the answers are done (a WebSocket, a `memoryEvents` stream) is closed
/// properly, so clients reconnect elsewhere: the socket with 1001 (going away), the event stream
/// with UNAVAILABLE and `complete`; and the process still exits 0.
#[tokio::test]
async fn open_sockets_and_event_streams_are_closed_at_exit() {
    let anthropic = FakeAnthropic::start().await;
    let data = tempfile::tempdir().unwrap();
    let replica = Replica::start(data.path(), &anthropic, 5).await;
    let (key, _) = user_with_conversation(&replica).await;
    let events = "subscription { memoryEvents { kind } }";
    let mut socket = GqlSocket::with_key(replica.port, Protocol::TransportWs, &key).await;
    socket.subscribe("1", events, json!({})).await;
    let mut stream = EventStream::subscribe(&replica.client, replica.port, Some(&key), events, json!({})).await;

    replica.terminate();
    let code = tokio::time::timeout(Duration::from_secs(20), socket.close_code()).await.expect("closed in time");
    assert_eq!(code, Some(1001), "going away");
    let event = tokio::time::timeout(Duration::from_secs(20), stream.next_event()).await.expect("in time").unwrap();
    assert_eq!(event.event, "next", "{event:?}");
    let result: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(result["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{result}");
    assert_eq!(stream.next_event().await.map(|e| e.event).as_deref(), Some("complete"));
    assert_eq!(replica.exit_code().await, Some(0));
}
