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
//! Replicas: with `BENCH_REPLICAS_DATABASE_URL` (PostgreSQL) and `BENCH_REPLICAS_REDIS_URL` set,
//! a last scenario starts two servers on that database and Redis (one key prefix, as one
//! deployment) and spreads the streams over them round-robin, as a load balancer would.

#[path = "../tests/api/fake_anthropic.rs"]
#[allow(dead_code)]
mod fake_anthropic;
#[path = "support/server.rs"]
#[allow(dead_code)]
mod server;
#[path = "../tests/api/sse_client.rs"]
#[allow(dead_code)]
mod sse_client;
#[path = "../tests/api/ws.rs"]
#[allow(dead_code)]
mod ws;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fake_anthropic::{FakeAnthropic, Reply, StreamReply};
use serde_json::{Value, json};
use server::{Server, percentile, users};
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

    let arrivals: HashMap<String, Instant> = fake
        .stream_requests()
        .into_iter()
        .filter_map(|r| r.messages().last().map(|(_, content)| (content.clone(), r.at)))
        .collect();
    let mut before_upstream: Vec<f64> = results
        .iter()
        .filter_map(|r| arrivals.get(&r.message).map(|at| at.duration_since(r.subscribed_at).as_secs_f64() * 1000.0))
        .collect();
    before_upstream.sort_by(f64::total_cmp);

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
    let chosen = std::env::var("BENCH_SCENARIOS").unwrap_or_else(|_| "paced,fast,burst,replicas".into());
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
}
