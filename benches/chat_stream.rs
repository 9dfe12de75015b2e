//! Chat streaming benchmark: N concurrent `chat` subscriptions through the real server (a
//! separate process, release build) against the fake Anthropic API, with a fast and a slow
//! upstream. Reports what the server adds:
//!
//! - per delta: from the moment the fake hands a delta's bytes to its socket to the moment the
//!   client has the `ChatDelta` (SSE parse, GraphQL, WebSocket or SSE, two loopback hops);
//! - before the upstream request leaves: from the client's `subscribe` to the fake receiving the
//!   Messages request (auth, SQL writes, context assembly, request build);
//! - errors, and the server's peak RSS.
//!
//! Run: `cargo bench --bench chat_stream` (`BENCH_STREAMS`, `BENCH_DELTAS` to change the load;
//! `BENCH_TRANSPORTS`, default `ws,legacy,sse`, the transports the clients take in turn;
//! `BENCH_SERVER` another server binary, e.g. a build from before a change).
//!
//! Memories (`BENCH_SCENARIOS=memories`, skipped without `EMBEDDING_MODEL_DIR`): the real model,
//! `MEMORY_EXTRACTION=rules`, 20 users x 1,000 memories each (`BENCH_MEMORY_USERS`,
//! `BENCH_MEMORIES`; vectors cached in the target directory, rows written to the server's SQLite
//! file), one warm-up turn per user (reported apart: it loads the user's shard), then turns at
//! `BENCH_RATES` per second (10,50,100) for `BENCH_RATE_SECONDS` (5) each: before-upstream
//! percentiles and the mean of each `chat_turn_phase_seconds` phase, from `/metrics`.
//!
//! Replicas: with `BENCH_REPLICAS_DATABASE_URL` (PostgreSQL) and `BENCH_REPLICAS_REDIS_URL` set,
//! a last scenario starts two servers on that database and Redis (one key prefix, as one
//! deployment) and spreads the streams over them round-robin, as a load balancer would.

#[path = "support/embedding_cache.rs"]
mod embedding_cache;
#[path = "../tests/api/fake_anthropic.rs"]
#[allow(dead_code)]
mod fake_anthropic;
#[path = "support/server.rs"]
#[allow(dead_code)]
mod server;
#[path = "../tests/api/sse_client.rs"]
#[allow(dead_code)]
mod sse_client;
#[path = "support/statements.rs"]
mod statements;
#[path = "../tests/api/ws.rs"]
#[allow(dead_code)]
mod ws;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use entity::enums::{MemoryCategory, MemorySource};
use entity::{memory, prelude::*, user};
use fake_anthropic::{FakeAnthropic, Reply, StreamReply};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use server::{Server, gql, percentile, users};
use sse_client::EventStream;
use ws::{CHAT, Frame, GqlSocket, Protocol};

/// How a bench client streams its chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    /// WebSocket, graphql-transport-ws or the legacy graphql-ws.
    WebSocket(Protocol),
    /// GraphQL over SSE: one streaming POST.
    Sse,
}

impl Transport {
    fn from_name(name: &str) -> Self {
        match name.trim() {
            "ws" => Self::WebSocket(Protocol::TransportWs),
            "legacy" => Self::WebSocket(Protocol::LegacyWs),
            "sse" => Self::Sse,
            other => panic!("BENCH_TRANSPORTS: unknown transport {other:?} (ws, legacy, sse)"),
        }
    }
}

/// The PostgreSQL and Redis that replicas share.
struct Shared {
    database_url: String,
    redis_url: String,
    redis_key_prefix: String,
}

impl Shared {
    /// The servers' configuration for this deployment.
    fn vars(&self) -> [(&str, &str); 3] {
        [
            ("DATABASE_URL", self.database_url.as_str()),
            ("REDIS_URL", self.redis_url.as_str()),
            ("REDIS_KEY_PREFIX", self.redis_key_prefix.as_str()),
        ]
    }
}

struct StreamResult {
    subscribed_at: Instant,
    message: String,
    received: Vec<(String, Instant)>,
    completed: bool,
}

async fn run_stream(
    port: u16,
    key: String,
    conversation: String,
    message: String,
    transport: Transport,
    start_after: Duration,
) -> StreamResult {
    let variables = json!({ "c": conversation, "m": message });
    let mut received = Vec::new();
    let mut completed = false;
    // Deltas that queued up arrive joined; each piece ends with "⟩ ".
    let mut on_event = |event: &Value, now: Instant| match event["__typename"].as_str() {
        Some("ChatDelta") => received.extend(
            event["text"].as_str().unwrap_or_default().split_inclusive("⟩ ").map(|piece| (piece.to_owned(), now)),
        ),
        Some("ChatCompleted") => completed = true,
        _ => {}
    };
    let subscribed_at;
    match transport {
        Transport::WebSocket(protocol) => {
            let mut socket = GqlSocket::with_key(port, protocol, &key).await;
            tokio::time::sleep(start_after).await;
            subscribed_at = Instant::now();
            socket.subscribe("1", CHAT, variables).await;
            while let Frame::Data(data) = socket.next_frame().await {
                on_event(&data["chat"], Instant::now());
            }
            socket.close().await;
        }
        Transport::Sse => {
            let client = reqwest::Client::new();
            tokio::time::sleep(start_after).await;
            subscribed_at = Instant::now();
            let mut stream = EventStream::subscribe(&client, port, Some(&key), CHAT, variables).await;
            while let Some(event) = stream.next_event().await {
                if event.event != "next" {
                    break;
                }
                let result: Value = serde_json::from_str(&event.data).unwrap_or_default();
                on_event(&result["data"]["chat"], Instant::now());
            }
        }
    }
    StreamResult { subscribed_at, message, received, completed }
}

/// Where a scenario runs: one server, or `replicas` servers on one PostgreSQL and Redis.
struct Deployment<'a> {
    replicas: usize,
    shared: Option<&'a Shared>,
}

const ONE_SERVER: Deployment<'static> = Deployment { replicas: 1, shared: None };

/// `ramp`: the subscriptions start evenly spread over this time (zero: all at once).
async fn scenario(
    name: &str,
    streams: usize,
    deltas: usize,
    chunk_delay: Duration,
    ramp: Duration,
    transports: &[Transport],
    deployment: Deployment<'_>,
) {
    let fake = FakeAnthropic::start().await;
    let vars: Vec<(&str, &str)> = deployment.shared.map(|shared| shared.vars().to_vec()).unwrap_or_default();
    let mut servers = Vec::new();
    for _ in 0..deployment.replicas {
        servers.push(Server::start(&fake, &vars).await);
    }
    // Round-robin: stream i goes to replica i mod n (its user created there too).
    let mut accounts = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let share = (streams + servers.len() - 1 - i) / servers.len();
        accounts
            .extend(users(server.port, share, "bench user").await.into_iter().map(|account| (server.port, account)));
    }
    let n = servers.len();
    let per_server = accounts.len().div_ceil(n);
    let accounts: Vec<(u16, (String, String))> =
        (0..accounts.len()).map(|i| accounts[(i % n) * per_server + i / n].clone()).collect();

    for s in 0..streams {
        let pieces: Vec<String> = (0..deltas).map(|d| format!("⟨{s}:{d}⟩ ")).collect();
        fake.push_stream(Reply::Stream(StreamReply {
            chunk_delay,
            chunk_per_event: true,
            pieces: Some(pieces.clone()),
            ..StreamReply::text(pieces.concat())
        }));
    }

    let cpu = |servers: &[Server]| servers.iter().map(Server::cpu_seconds).sum::<f64>();
    let cpu_before = cpu(&servers);
    let started = Instant::now();
    let tasks: Vec<_> = accounts
        .into_iter()
        .enumerate()
        .map(|(i, (port, (key, conversation)))| {
            let transport = transports[i % transports.len()];
            let start_after = ramp.mul_f64(i as f64 / streams as f64);
            tokio::spawn(run_stream(port, key, conversation, format!("bench message {i}"), transport, start_after))
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("stream task"));
    }
    let wall = started.elapsed();
    let cpu = cpu(&servers) - cpu_before;

    let sent: HashMap<String, Instant> = fake.sent_deltas().into_iter().collect();
    let mut per_delta: Vec<f64> = results
        .iter()
        .flat_map(|r| r.received.iter())
        .filter_map(|(text, at)| sent.get(text).map(|sent| at.duration_since(*sent).as_secs_f64() * 1000.0))
        .collect();
    per_delta.sort_by(f64::total_cmp);

    let before_upstream = before_upstream_ms(&fake, &results);

    let failed = results.iter().filter(|r| !r.completed || r.received.len() != deltas).count();
    println!(
        "{name}: {streams} streams x {deltas} deltas (upstream {:?}/delta, starts over {:?}) on {} server(s) in {:.2}s, {failed} failed\n  \
         per-delta overhead ms: p50 {:.3}  p95 {:.3}  p99 {:.3}  (n={})\n  \
         before upstream request ms: p50 {:.2}  p95 {:.2}  p99 {:.2}\n  \
         server CPU: {:.2}s ({:.0} us per delta, whole turn included)\n  \
         server peak RSS: {:.1} MiB (the largest server)",
        chunk_delay,
        ramp,
        servers.len(),
        wall.as_secs_f64(),
        percentile(&per_delta, 0.50),
        percentile(&per_delta, 0.95),
        percentile(&per_delta, 0.99),
        per_delta.len(),
        percentile(&before_upstream, 0.50),
        percentile(&before_upstream, 0.95),
        percentile(&before_upstream, 0.99),
        cpu,
        cpu * 1e6 / (streams * deltas) as f64,
        servers.iter().map(Server::peak_rss_mib).fold(f64::NAN, f64::max),
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test --benches`) only checks it builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let number = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let streams = number("BENCH_STREAMS", 200);
    let deltas = number("BENCH_DELTAS", 100);
    let ramp = Duration::from_millis(number("BENCH_RAMP_MS", 2000) as u64);
    // The clients take turns over these (a third each by default).
    let transports: Vec<Transport> = std::env::var("BENCH_TRANSPORTS")
        .unwrap_or_else(|_| "ws,legacy,sse".into())
        .split(',')
        .map(Transport::from_name)
        .collect();
    println!("transports, in turn: {transports:?}");
    // Claude-like pace (50 tokens/s), new chats arriving over the ramp: the main figures.
    let paced = Duration::from_millis(20);
    // BENCH_SCENARIOS picks some (e.g. `replicas`); all by default.
    let chosen = std::env::var("BENCH_SCENARIOS").unwrap_or_else(|_| "paced,fast,burst,replicas,memories".into());
    let chosen: Vec<&str> = chosen.split(',').map(str::trim).collect();
    if chosen.contains(&"paced") {
        scenario("paced upstream", streams, deltas, paced, ramp, &transports, ONE_SERVER).await;
    }
    // Upstream as fast as the fake can write: throughput under backlog.
    if chosen.contains(&"fast") {
        scenario("fast upstream", streams, deltas, Duration::ZERO, ramp, &transports, ONE_SERVER).await;
    }
    // Every chat starting in the same instant: the worst burst.
    if chosen.contains(&"burst") {
        scenario("burst", streams, deltas, paced, Duration::ZERO, &transports, ONE_SERVER).await;
    }
    // Two replicas behind one address, sharing PostgreSQL and Redis.
    if chosen.contains(&"replicas") {
        let url = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (url("BENCH_REPLICAS_DATABASE_URL"), url("BENCH_REPLICAS_REDIS_URL")) {
            (Some(database_url), Some(redis_url)) => {
                let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
                let shared = Shared { database_url, redis_url, redis_key_prefix: format!("bench:{nanos}:") };
                let two = Deployment { replicas: 2, shared: Some(&shared) };
                scenario("two replicas, paced upstream", streams, deltas, paced, ramp, &transports, two).await;
            }
            _ => println!(
                "two replicas: skipped (set BENCH_REPLICAS_DATABASE_URL to a PostgreSQL database and \
                 BENCH_REPLICAS_REDIS_URL to a Redis to run it)"
            ),
        }
    }
    // Users holding memories, the real model, turns arriving at 10, 50 and 100 per second.
    if chosen.contains(&"memories") {
        memories_scenario().await;
    }
}

/// The memories scenario: users who hold memories, the real model, turns arriving at steady
/// rates. Skipped without `EMBEDDING_MODEL_DIR` (the all-MiniLM-L6-v2 files).
async fn memories_scenario() {
    let Some(model_dir) = std::env::var("EMBEDDING_MODEL_DIR")
        .ok()
        .map(std::path::PathBuf::from)
        .filter(|dir| dir.join("config.json").is_file())
    else {
        println!("memories: skipped (set EMBEDDING_MODEL_DIR to the all-MiniLM-L6-v2 files to run it)");
        return;
    };
    let number = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let user_count = number("BENCH_MEMORY_USERS", 20);
    let per_user = number("BENCH_MEMORIES", 1000);
    let seconds = number("BENCH_RATE_SECONDS", 5) as f64;
    let rates: Vec<usize> = std::env::var("BENCH_RATES")
        .unwrap_or_else(|_| "10,50,100".into())
        .split(',')
        .map(|r| r.trim().parse().expect("BENCH_RATES: numbers of turns per second"))
        .collect();
    // Each user's conversations, taken in turn: a conversation's next turn comes after its last
    // ended (so its window holds whole turns, and each request's last message is one turn's).
    let conversations_per_user = 10;

    let fake = FakeAnthropic::start().await;
    let dir = model_dir.display().to_string();
    let server = Server::start(
        &fake,
        &[
            ("EMBEDDING_PROVIDER", "local"),
            ("EMBEDDING_MODEL_DIR", dir.as_str()),
            ("MEMORY_EXTRACTION", "rules"),
            // Turns of one user overlap at 100 turns/s; the default cap (3) would refuse some.
            ("CHAT_MAX_CONCURRENT_STREAMS", "1000"),
        ],
    )
    .await;
    let port = server.port;
    let client = reqwest::Client::new();
    let accounts = users(port, user_count, "memory user").await;
    let mut conversations: Vec<Vec<String>> = Vec::new();
    for (key, first) in &accounts {
        let mut mine = vec![first.clone()];
        for _ in 1..conversations_per_user {
            let created = gql(&client, port, key, "mutation { createConversation { id } }", json!({})).await;
            mine.push(created["createConversation"]["id"].as_str().unwrap().to_owned());
        }
        conversations.push(mine);
    }

    // The memories: distinct statements, embedded by the model in this process (cached in the
    // target directory), written to the server's SQLite file directly.
    let texts: Vec<String> = statements::statements().take(user_count * per_user).collect();
    assert_eq!(texts.len(), user_count * per_user, "not that many distinct statements");
    let model = assistant::embed::MiniLmEmbedder::load(&model_dir).expect("load the model");
    let info = assistant::embed::Embedder::info(&model).clone();
    let mut cache = embedding_cache::EmbeddingCache::for_model("chat-stream-embeddings", &model).await;
    let (vectors, fresh, embed_seconds) = cache.embed(&model, &texts).await;
    drop(model);
    let seeding = Instant::now();
    let db_url = format!("sqlite://{}?mode=rw", server.data_dir().join("assistant.db").display());
    let db = sea_orm::Database::connect(db_url).await.expect("open the server's SQLite file");
    let now = chrono::Utc::now();
    for (u, (key, _)) in accounts.iter().enumerate() {
        let me = gql(&client, port, key, "query { me { id } }", json!({})).await;
        let user_id = uuid::Uuid::parse_str(me["me"]["id"].as_str().unwrap()).unwrap();
        let rows: Vec<memory::ActiveModel> = (u * per_user..(u + 1) * per_user)
            .map(|i| memory::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                user_id: Set(user_id),
                content: Set(texts[i].clone()),
                category: Set(MemoryCategory::Relationship),
                // A few core memories (always in the context), the rest ordinary.
                importance: Set(if i % 200 == 0 { 0.95 } else { 0.5 }),
                source: Set(MemorySource::Extracted),
                source_message_id: Set(None),
                embedding: Set(Some(assistant::embed::to_bytes(&vectors[i]))),
                embedding_model: Set(Some(info.name.clone())),
                embedding_dim: Set(Some(vectors[i].len() as i32)),
                valid_from: Set(now),
                valid_to: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .collect();
        for chunk in rows.chunks(500) {
            Memory::insert_many(chunk.to_vec()).exec(&db).await.expect("insert memories");
        }
        // The index learns of the change from the revision, as from another replica's write.
        User::update_many()
            .col_expr(user::Column::MemoryRevision, Expr::col(user::Column::MemoryRevision).add(1))
            .filter(user::Column::Id.eq(user_id))
            .exec(&db)
            .await
            .expect("bump the memory revision");
    }
    db.close().await.ok();
    println!(
        "memories: {user_count} users x {per_user} memories written to SQL in {:.1} s ({fresh} texts embedded in {embed_seconds:.0} s, the rest cached)",
        seeding.elapsed().as_secs_f64()
    );

    let questions = |i: usize| {
        let place = statements::WHERE[i % statements::WHERE.len()];
        let what = statements::WHAT[i % statements::WHAT.len()];
        let who = statements::WHO[i % statements::WHO.len()].trim_start_matches("Has ").trim_start_matches("a ");
        match i % 4 {
            0 => format!("Which of the people I know lives {place}? (turn {i})"),
            1 => format!("Do I know anyone {what}? (turn {i})"),
            2 => format!("What does my {who} do for a living? (turn {i})"),
            _ => format!("I am going to be {place} next month, anyone I should visit? (turn {i})"),
        }
    };
    let mut turn_number = 0usize;
    let mut conversation_turns = 0usize;
    let mut next_turn = |accounts: &[(String, String)]| {
        let user = turn_number % accounts.len();
        let conversation = conversations[user][(conversation_turns / accounts.len()) % conversations_per_user].clone();
        let turn = (accounts[user].0.clone(), conversation, questions(turn_number));
        turn_number += 1;
        conversation_turns += 1;
        turn
    };

    // Warm-up: one turn per user, one at a time. The first search loads the user's shard (from
    // SQL: 1,000 vectors into a new index), which the rates below then do not pay.
    let mut warm = Vec::new();
    for _ in 0..accounts.len() {
        let (key, conversation, message) = next_turn(&accounts);
        let result = timed_turn(port, key, conversation, message, tokio::time::Instant::now(), Duration::ZERO).await;
        warm.push(result);
    }
    let warm_ms = before_upstream_ms(&fake, &warm);
    println!(
        "memories, warm-up (one turn per user, one at a time, shard load included): before upstream p50 {:.1} ms, max {:.1} ms, {} failed",
        percentile(&warm_ms, 0.5),
        warm_ms.last().copied().unwrap_or(f64::NAN),
        warm.iter().filter(|r| !r.completed).count(),
    );

    for &rate in &rates {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let metrics_before = phase_totals(&client, port).await;
        let cpu_before = server.cpu_seconds();
        let turns = (rate as f64 * seconds).round() as usize;
        let origin = tokio::time::Instant::now() + Duration::from_millis(500);
        let tasks: Vec<_> = (0..turns)
            .map(|t| {
                let (key, conversation, message) = next_turn(&accounts);
                let at = Duration::from_secs_f64(t as f64 / rate as f64);
                tokio::spawn(timed_turn(port, key, conversation, message, origin, at))
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("turn task"));
        }
        let cpu = server.cpu_seconds() - cpu_before;
        let metrics_after = phase_totals(&client, port).await;
        let ms = before_upstream_ms(&fake, &results);
        let failed = results.iter().filter(|r| !r.completed).count();
        let phases: Vec<String> = PHASES
            .iter()
            .map(|phase| {
                let (sum, count) = metrics_after.get(*phase).copied().unwrap_or_default();
                let (sum0, count0) = metrics_before.get(*phase).copied().unwrap_or_default();
                format!("{phase} {:.2}", (sum - sum0) * 1000.0 / (count - count0).max(1.0))
            })
            .collect();
        println!(
            "memories, {rate} turns/s for {seconds} s ({turns} turns over {user_count} users, {} measured, {failed} failed):\n  \
             before upstream request ms: p50 {:.1}  p95 {:.1}  p99 {:.1}  max {:.1}\n  \
             phase means ms: {}\n  \
             server CPU: {cpu:.2} s ({:.1} ms per turn, background learning and summaries included)",
            ms.len(),
            percentile(&ms, 0.50),
            percentile(&ms, 0.95),
            percentile(&ms, 0.99),
            ms.last().copied().unwrap_or(f64::NAN),
            phases.join(", "),
            cpu * 1000.0 / turns as f64,
        );
    }
    println!("  server peak RSS: {:.1} MiB", server.peak_rss_mib());
}

/// The phases of `chat_turn_phase_seconds`, in the order a turn meets them.
const PHASES: &[&str] = &["checks", "writes", "context", "embedding", "search", "request"];

/// `chat_turn_phase_seconds` from the server's `/metrics`: (sum, count) per phase.
async fn phase_totals(client: &reqwest::Client, port: u16) -> HashMap<String, (f64, f64)> {
    let text = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("scrape /metrics")
        .text()
        .await
        .expect("metrics text");
    let mut totals: HashMap<String, (f64, f64)> = HashMap::new();
    for line in text.lines().filter(|l| l.starts_with("chat_turn_phase_seconds_")) {
        let Some((name, value)) = line.rsplit_once(' ') else { continue };
        let Some(phase) = name.split("phase=\"").nth(1).and_then(|rest| rest.split('"').next()) else { continue };
        let value: f64 = value.parse().unwrap_or(f64::NAN);
        let entry = totals.entry(phase.to_owned()).or_default();
        if name.starts_with("chat_turn_phase_seconds_sum") {
            entry.0 = value;
        } else if name.starts_with("chat_turn_phase_seconds_count") {
            entry.1 = value;
        }
    }
    totals
}

/// Before-upstream times (ms, sorted) of turns: from the subscribe to the fake receiving the
/// Messages request whose last message is the turn's.
fn before_upstream_ms(fake: &FakeAnthropic, results: &[StreamResult]) -> Vec<f64> {
    let arrivals = server::arrivals(fake);
    let mut ms: Vec<f64> = results
        .iter()
        .filter_map(|r| arrivals.get(&r.message).map(|at| at.duration_since(r.subscribed_at).as_secs_f64() * 1000.0))
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

/// One turn over graphql-transport-ws, subscribed at `origin + at`; the socket opens shortly
/// before (its handshake is not the turn's).
async fn timed_turn(
    port: u16,
    key: String,
    conversation: String,
    message: String,
    origin: tokio::time::Instant,
    at: Duration,
) -> StreamResult {
    tokio::time::sleep_until((origin + at).checked_sub(Duration::from_millis(300)).unwrap_or(origin)).await;
    let mut socket = GqlSocket::with_key(port, Protocol::TransportWs, &key).await;
    tokio::time::sleep_until(origin + at).await;
    let subscribed_at = Instant::now();
    socket.subscribe("1", CHAT, json!({ "c": conversation, "m": message })).await;
    let mut received = Vec::new();
    let mut completed = false;
    while let Frame::Data(data) = socket.next_frame().await {
        match data["chat"]["__typename"].as_str() {
            Some("ChatDelta") => {
                received.push((data["chat"]["text"].as_str().unwrap_or_default().to_owned(), Instant::now()))
            }
            Some("ChatCompleted") => completed = true,
            _ => {}
        }
    }
    socket.close().await;
    StreamResult { subscribed_at, message, received, completed }
}
