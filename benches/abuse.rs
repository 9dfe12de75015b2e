//! Abuse benchmark: one user (and anyone without a key) runs the attacks of issue #10 in a loop
//! against the release server while another user's chat streams are measured, quietly and under
//! attack, on the same server, in rounds: a quiet run, then one attacked run per attacker
//! priority, so each attacked run is compared with a quiet run made in the same state of the
//! machine. The attacker is a process of its own, run at the lowest CPU priority (`nice 19`: its
//! client work yields to the server, as on another machine) and at the server's own (it takes its
//! share of the two cores). Reports the victim's per-delta and before-upstream percentiles for
//! each run, the median over rounds of their p99 ratio to the quiet run, the server's peak RSS,
//! what each attack met, whether the victim lost anything, and how long a revoked key's open
//! sockets take to be closed with 4403.
//!
//! Run: `cargo bench --bench abuse` (`BENCH_STREAMS` victim streams per run (20), `BENCH_DELTAS`
//! (100), `BENCH_ROUNDS` (3), `BENCH_ATTACKER_NICE` the attacker's priorities (`19,0`),
//! `EMBEDDING_MODEL_DIR` for the real model instead of the announced fallback, `BENCH_SERVER`
//! another build).

#[path = "../tests/api/fake_anthropic.rs"]
#[allow(dead_code)]
mod fake_anthropic;
#[path = "support/server.rs"]
#[allow(dead_code)]
mod server;
#[path = "../tests/api/ws.rs"]
#[allow(dead_code)]
mod ws;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_anthropic::{FakeAnthropic, Recorded, Reply, StreamReply};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use server::{Server, gql, percentile, users};
use tokio::io::AsyncWriteExt as _;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use ws::{CHAT, Frame, GqlSocket, Protocol};

/// The victim's answers are paced like Claude (50 deltas/s), each piece named so its latency can
/// be read off; everything else gets a short answer.
fn reply_for(request: &Recorded, deltas: usize) -> Reply {
    let last = request.messages().last().map(|(_, content)| content.clone()).unwrap_or_default();
    match last.strip_prefix("victim ") {
        Some(tag) => {
            let pieces: Vec<String> = (0..deltas).map(|d| format!("⟨{tag}:{d}⟩ ")).collect();
            Reply::Stream(StreamReply {
                chunk_delay: Duration::from_millis(20),
                chunk_per_event: true,
                pieces: Some(pieces.clone()),
                ..StreamReply::text(pieces.concat())
            })
        }
        None => Reply::Stream(StreamReply::text("ok")),
    }
}

struct Victim {
    per_delta: Vec<f64>,
    before_upstream: Vec<f64>,
    failed: usize,
}

/// `streams` chat turns of the victim, one per conversation, starting over two seconds.
async fn victim_run(
    fake: &FakeAnthropic,
    port: u16,
    accounts: &[(String, String)],
    run: &str,
    deltas: usize,
) -> Victim {
    let streams = accounts.len();
    let tasks: Vec<_> = accounts
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, (key, conversation))| {
            let message = format!("victim {run}{i}");
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(2000 * i as u64 / streams as u64)).await;
                let mut socket = GqlSocket::with_key(port, Protocol::TransportWs, &key).await;
                let subscribed = Instant::now();
                socket.subscribe("1", CHAT, json!({ "c": conversation, "m": message })).await;
                let mut received = Vec::new();
                let mut completed = false;
                while let Frame::Data(data) = socket.next_frame().await {
                    let event = &data["chat"];
                    match event["__typename"].as_str() {
                        Some("ChatDelta") => received.extend(
                            event["text"]
                                .as_str()
                                .unwrap_or_default()
                                .split_inclusive("⟩ ")
                                .map(|piece| (piece.to_owned(), Instant::now())),
                        ),
                        Some("ChatCompleted") => completed = true,
                        _ => {}
                    }
                }
                socket.close().await;
                (message, subscribed, received, completed)
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("victim stream"));
    }
    let sent: HashMap<String, Instant> = fake.sent_deltas().into_iter().collect();
    let arrivals = server::arrivals(fake);
    let mut per_delta: Vec<f64> = results
        .iter()
        .flat_map(|(_, _, received, _)| received.iter())
        .filter_map(|(text, at)| sent.get(text).map(|s| at.duration_since(*s).as_secs_f64() * 1000.0))
        .collect();
    per_delta.sort_by(f64::total_cmp);
    let mut before_upstream: Vec<f64> = results
        .iter()
        .filter_map(|(message, subscribed, ..)| {
            arrivals.get(message).map(|at| at.duration_since(*subscribed).as_secs_f64() * 1000.0)
        })
        .collect();
    before_upstream.sort_by(f64::total_cmp);
    let failed = results.iter().filter(|(_, _, received, completed)| !completed || received.len() != deltas).count();
    Victim { per_delta, before_upstream, failed }
}

/// What each attack met, by outcome.
#[derive(Default)]
struct Tally(Mutex<BTreeMap<(&'static str, String), usize>>);

impl Tally {
    fn add(&self, attack: &'static str, outcome: impl Into<String>) {
        *self.0.lock().unwrap().entry((attack, outcome.into())).or_default() += 1;
    }
}

fn outcome(response: &Value, status: u16) -> String {
    match response["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => format!("{status} {code}"),
        None => format!("{status} ok"),
    }
}

async fn post(client: &reqwest::Client, port: u16, key: Option<&str>, body: Vec<u8>) -> String {
    let mut request =
        client.post(format!("http://127.0.0.1:{port}/graphql")).header("content-type", "application/json").body(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or_default();
            outcome(&body, status)
        }
        Err(error) if error.is_timeout() => "timed out".into(),
        Err(_) => "connection closed".into(),
    }
}

fn query(text: &str, variables: Value) -> Vec<u8> {
    json!({ "query": text, "variables": variables }).to_string().into_bytes()
}

/// One round of every attack, as the attacker (`key`, owning `memory` and `conversation`).
async fn attack_round(port: u16, key: &str, memory: &str, conversation: &str, tally: &Tally) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(40)).build().unwrap();
    // A 10 MB body, no key.
    tally.add("10 MB POST, no key", post(&client, port, None, vec![b' '; 10 << 20]).await);
    // 1,000 aliases of a memory's history.
    let aliases: String = (0..1000).map(|i| format!("m{i}: memory(id: $id) {{ history {{ content }} }} ")).collect();
    let text = format!("query($id: ID!) {{ {aliases} }}");
    tally.add(
        "1,000 aliases of memory.history",
        post(&client, port, Some(key), query(&text, json!({ "id": memory }))).await,
    );
    // 100 aliases of exportMyData.
    let aliases: String = (0..100).map(|i| format!("e{i}: exportMyData ")).collect();
    tally.add(
        "100 aliases of exportMyData",
        post(&client, port, Some(key), query(&format!("{{ {aliases} }}"), json!({}))).await,
    );
    // 15 aliased turns in one request.
    let aliases: String = (0..15)
        .map(|i| {
            format!("s{i}: sendMessage(input: {{conversationId: $c, message: \"hi {i}\"}}) {{ message {{ id }} }} ")
        })
        .collect();
    let text = format!("mutation($c: ID!) {{ {aliases} }}");
    tally.add(
        "15 aliased sendMessage",
        post(&client, port, Some(key), query(&text, json!({ "c": conversation }))).await,
    );
    // One 27 KB message of "I prefer ..." sentences.
    let flood: String =
        (0..1500).map(|i| format!("I prefer item{i}. ")).collect::<String>().chars().take(27_000).collect();
    let send =
        "mutation($c: ID!, $m: String!) { sendMessage(input: {conversationId: $c, message: $m}) { message { id } } }";
    tally.add(
        "27 KB 'I prefer' message",
        post(&client, port, Some(key), query(send, json!({ "c": conversation, "m": flood }))).await,
    );
    // A 10 MB searchMemories query.
    let search = "query($q: String!) { searchMemories(query: $q) { score } }";
    tally.add(
        "10 MB searchMemories",
        post(&client, port, Some(key), query(search, json!({ "q": "x".repeat(10 << 20) }))).await,
    );
    // 500 memoryEvents subscriptions on one socket, then a 5 MB message on it.
    match socket(port, key).await {
        Some(mut socket) => {
            for i in 0..500 {
                let subscribe = json!({ "id": format!("e{i}"), "type": "subscribe",
                    "payload": { "query": "subscription { memoryEvents { kind } }" } });
                if socket.send(Message::Text(subscribe.to_string().into())).await.is_err() {
                    break;
                }
            }
            let mut refused = 0;
            while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_millis(500), socket.next()).await {
                if let Message::Text(text) = frame
                    && text.contains("RATE_LIMITED")
                {
                    refused += 1;
                }
            }
            tally.add("500 memoryEvents on one socket", format!("{refused} refused RATE_LIMITED"));
            let _ = socket.send(Message::Text("x".repeat(5 << 20).into())).await;
            let closed = loop {
                match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
                    Ok(Some(Ok(Message::Close(Some(frame))))) => break format!("closed {}", u16::from(frame.code)),
                    Ok(Some(Ok(_))) => continue,
                    _ => break "dropped".into(),
                }
            };
            tally.add("5 MB WebSocket message", closed);
        }
        None => tally.add("500 memoryEvents on one socket", "no socket"),
    }
}

async fn socket(
    port: u16,
    key: &str,
) -> Option<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>> {
    let mut request = format!("ws://127.0.0.1:{port}/graphql").into_client_request().ok()?;
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().ok()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.ok()?;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}") } });
    socket.send(Message::Text(init.to_string().into())).await.ok()?;
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("connection_ack") => Some(socket),
        _ => None,
    }
}

/// Connections that send half a request head and then one byte a second, until cut.
async fn slow_headers(port: u16, connections: usize, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (stop, tally) = (stop.clone(), tally.clone());
            tokio::spawn(async move {
                let Ok(mut tcp) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                    return tally.add("trickled request heads", "refused at connect");
                };
                let started = Instant::now();
                if tcp.write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\n").await.is_err() {
                    return tally.add("trickled request heads", "closed at once");
                }
                // Until cut, or for 20 s (twice the default header timeout) once the victim is done.
                while !stop.load(Ordering::Relaxed) || started.elapsed() < Duration::from_secs(20) {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if tcp.write_all(b"X").await.is_err() {
                        return tally
                            .add("trickled request heads", format!("cut after {} s", started.elapsed().as_secs()));
                    }
                }
                tally.add("trickled request heads", "still open at the end");
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

fn print_run(name: &str, run: &Victim) {
    println!(
        "  {name}: per delta p50 {:.2} / p95 {:.2} / p99 {:.2} ms; before upstream p50 {:.1} / p95 {:.1} / p99 {:.1} ms; {} of the streams failed",
        percentile(&run.per_delta, 0.5),
        percentile(&run.per_delta, 0.95),
        percentile(&run.per_delta, 0.99),
        percentile(&run.before_upstream, 0.5),
        percentile(&run.before_upstream, 0.95),
        percentile(&run.before_upstream, 0.99),
        run.failed,
    );
}

/// The attacker's side as a process of its own (the bench re-runs itself with `ABUSE_ATTACKER`
/// set), so that its client work — building and sending 10 MB bodies — can be given a lower CPU
/// priority than the server, as it would have on another machine. It attacks until its stdin
/// closes, then prints one JSON line: the rounds it made and what each attack met.
async fn attacker_process(spec: &str) {
    let spec: Value = serde_json::from_str(spec).expect("ABUSE_ATTACKER is JSON");
    let text = |name: &str| spec[name].as_str().expect("attacker spec").to_owned();
    let port = spec["port"].as_u64().expect("port") as u16;
    let (key, memory, conversation) = (text("key"), text("memory"), text("conversation"));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            stop.store(true, Ordering::Relaxed);
        });
    }
    let tally = Arc::new(Tally::default());
    let slow = tokio::spawn(slow_headers(port, 50, stop.clone(), tally.clone()));
    let mut rounds = 0;
    let until = Instant::now() + Duration::from_secs(120);
    while !stop.load(Ordering::Relaxed) && Instant::now() < until && rounds < 50 {
        attack_round(port, &key, &memory, &conversation, &tally).await;
        rounds += 1;
    }
    let _ = slow.await;
    let met: Vec<Value> = tally
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|((attack, outcome), count)| json!({ "attack": attack, "outcome": outcome, "count": count }))
        .collect();
    println!("{}", json!({ "rounds": rounds, "met": met }));
}

/// A running attacker process at CPU priority `nice` (0 = the server's own).
struct Attacker {
    child: std::process::Child,
}

impl Attacker {
    fn start(nice: i32, spec: &Value) -> Self {
        let child = std::process::Command::new("nice")
            .arg("-n")
            .arg(nice.to_string())
            .arg(std::env::current_exe().expect("the bench binary"))
            .arg("--bench")
            .env("ABUSE_ATTACKER", spec.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the attacker process (needs `nice`)");
        Self { child }
    }

    /// Tells the attacker to stop (closes its stdin) and adds what it met to `tally`; its rounds.
    fn stop(mut self, tally: &Tally) -> usize {
        drop(self.child.stdin.take());
        let output = self.child.wait_with_output().expect("the attacker's report");
        let report: Value = serde_json::from_slice(&output.stdout).expect("the attacker prints JSON");
        for met in report["met"].as_array().into_iter().flatten() {
            let attack: &'static str =
                ATTACKS.iter().find(|a| met["attack"] == **a).copied().unwrap_or("trickled request heads");
            let outcome = met["outcome"].as_str().unwrap_or_default().to_owned();
            *tally.0.lock().unwrap().entry((attack, outcome)).or_default() +=
                met["count"].as_u64().unwrap_or(0) as usize;
        }
        report["rounds"].as_u64().unwrap_or(0) as usize
    }
}

/// The attacks' names, as the tally reports them.
const ATTACKS: [&str; 9] = [
    "10 MB POST, no key",
    "1,000 aliases of memory.history",
    "100 aliases of exportMyData",
    "15 aliased sendMessage",
    "27 KB 'I prefer' message",
    "10 MB searchMemories",
    "500 memoryEvents on one socket",
    "5 MB WebSocket message",
    "trickled request heads",
];

/// Time from `revokeApiKey` (over HTTP) until each of `sockets` WebSockets open with that key,
/// each running a `memoryEvents` subscription, is closed with 4403; sorted, in ms. `None` for a
/// socket closed otherwise.
async fn revocation_latency(port: u16, owner_key: &str, sockets: usize) -> Vec<Option<f64>> {
    let client = reqwest::Client::new();
    let created = gql(
        &client,
        port,
        owner_key,
        r#"mutation { createApiKey(input: {name: "doomed"}) { apiKey key { id } } }"#,
        json!({}),
    )
    .await;
    let secret = created["createApiKey"]["apiKey"].as_str().expect("a new key").to_owned();
    let id = created["createApiKey"]["key"]["id"].as_str().expect("its id").to_owned();
    let mut open = Vec::new();
    for i in 0..sockets {
        let mut socket = GqlSocket::with_key(port, Protocol::TransportWs, &secret).await;
        socket.subscribe(&format!("events{i}"), "subscription { memoryEvents { kind } }", json!({})).await;
        open.push(socket);
    }
    // Give the subscriptions a moment to be running on the server.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let revoked = Instant::now();
    let waits: Vec<_> = open
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let code = tokio::time::timeout(Duration::from_secs(30), socket.close_code()).await;
                (code, revoked.elapsed().as_secs_f64() * 1000.0)
            })
        })
        .collect();
    let answer =
        gql(&client, port, owner_key, "mutation($id: ID!) { revokeApiKey(id: $id) { id } }", json!({ "id": id })).await;
    assert_eq!(answer["revokeApiKey"]["id"], id.as_str(), "revoked: {answer}");
    let mut latencies = Vec::new();
    for wait in waits {
        let (code, ms) = wait.await.expect("socket task");
        latencies.push(matches!(code, Ok(Some(4403))).then_some(ms));
    }
    latencies.sort_by(|a, b| a.unwrap_or(f64::INFINITY).total_cmp(&b.unwrap_or(f64::INFINITY)));
    latencies
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if let Ok(spec) = std::env::var("ABUSE_ATTACKER") {
        return attacker_process(&spec).await;
    }
    let number = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let streams = number("BENCH_STREAMS", 20);
    let deltas = number("BENCH_DELTAS", 100);
    let rounds = number("BENCH_ROUNDS", 3);
    // The attacker's CPU priorities, one attacked run each: 19 stands for an attacker on another
    // machine (its client work yields to the server), 0 shares the cores with the server evenly.
    let priorities: Vec<i32> = std::env::var("BENCH_ATTACKER_NICE")
        .unwrap_or_else(|_| "19,0".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let fake = FakeAnthropic::start().await;
    for _ in 0..(rounds * ((1 + priorities.len()) * streams + 400 * priorities.len())) {
        fake.push_stream_with(move |request| reply_for(request, deltas));
    }
    // The victim's turns must not queue behind each other for this figure: a stream cap above
    // their number (the attacker meets the same cap).
    let server = Server::start(&fake, &[("CHAT_MAX_CONCURRENT_STREAMS", "64"), ("MEMORY_EXTRACTION", "rules")]).await;
    let port = server.port;
    let client = reqwest::Client::new();

    let victim: Vec<(String, String)> = users(port, 1, "victim").await;
    let (victim_key, _) = victim[0].clone();
    let mut accounts = vec![victim[0].clone()];
    for _ in 1..streams {
        let created = gql(&client, port, &victim_key, "mutation { createConversation { id } }", json!({})).await;
        accounts.push((victim_key.clone(), created["createConversation"]["id"].as_str().unwrap().to_owned()));
    }
    let kept = gql(
        &client,
        port,
        &victim_key,
        r#"mutation { remember(input: {content: "My sister Eva gets married in June"}) { id } }"#,
        json!({}),
    )
    .await;
    let kept_id = kept["remember"]["id"].as_str().unwrap().to_owned();

    let attacker = users(port, 1, "attacker").await;
    let (attacker_key, attacker_conversation) = attacker[0].clone();
    let memory =
        gql(&client, port, &attacker_key, r#"mutation { remember(input: {content: "I like tea"}) { id } }"#, json!({}))
            .await["remember"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let spec = json!({ "port": port, "key": attacker_key, "memory": memory, "conversation": attacker_conversation });

    println!("abuse benchmark: {streams} victim streams x {deltas} deltas, paced 50/s, starting over 2 s");
    // Rounds of a quiet run and one attacked run per priority, back to back, so each attacked run
    // is compared with a quiet run made in the same state of the machine.
    let tally = Tally::default();
    let mut ratios: Vec<(i32, Vec<(f64, f64)>)> = priorities.iter().map(|&nice| (nice, Vec::new())).collect();
    let mut rss_quiet = 0.0;
    for round in 0..rounds {
        println!("round {}:", round + 1);
        let quiet = victim_run(&fake, port, &accounts, &format!("quiet{round}_"), deltas).await;
        rss_quiet = server.peak_rss_mib();
        print_run("quiet            ", &quiet);
        for (nice, ratios) in &mut ratios {
            let attacker = Attacker::start(*nice, &spec);
            // Let the attacks get going before the victim starts.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let run = victim_run(&fake, port, &accounts, &format!("attacked{round}_{nice}_"), deltas).await;
            let attack_rounds = attacker.stop(&tally);
            print_run(&format!("attacked, nice {nice:>2}"), &run);
            let ratio = |f: fn(&Victim) -> &Vec<f64>| percentile(f(&run), 0.99) / percentile(f(&quiet), 0.99);
            let (per_delta, before_upstream) = (ratio(|v| &v.per_delta), ratio(|v| &v.before_upstream));
            println!(
                "      {attack_rounds} attack rounds; p99 attacked/quiet: per delta {per_delta:.2}x, before upstream {before_upstream:.2}x"
            );
            ratios.push((per_delta, before_upstream));
        }
    }
    println!("p99 attacked/quiet, median of {rounds} rounds (target <= 2x):");
    for (nice, ratios) in &ratios {
        let median = |f: fn(&(f64, f64)) -> f64| {
            let mut values: Vec<f64> = ratios.iter().map(f).collect();
            values.sort_by(f64::total_cmp);
            percentile(&values, 0.5)
        };
        println!(
            "  attacker at nice {nice:>2}: per delta {:.2}x, before upstream {:.2}x",
            median(|r| r.0),
            median(|r| r.1)
        );
    }
    let revocation = revocation_latency(port, &victim_key, 20).await;
    let closed: Vec<f64> = revocation.iter().flatten().copied().collect();
    println!(
        "revokeApiKey -> close 4403: {} of {} sockets, p50 {:.1} ms, max {:.1} ms (target <= 1 s)",
        closed.len(),
        revocation.len(),
        percentile(&closed, 0.5),
        closed.last().copied().unwrap_or(f64::NAN),
    );
    println!(
        "server peak RSS: {rss_quiet:.0} MiB after the quiet run, {:.0} MiB at the end (target < 300)",
        server.peak_rss_mib()
    );

    // Nothing the victim stored is lost.
    let memories =
        gql(&client, port, &victim_key, "{ memories(first: 50) { edges { node { id } } } }", json!({})).await;
    let has_memory =
        memories["memories"]["edges"].as_array().unwrap().iter().any(|e| e["node"]["id"] == kept_id.as_str());
    let mut answers = 0;
    for (_, conversation) in &accounts {
        let data = gql(
            &client,
            port,
            &victim_key,
            "query($c: ID!) { conversation(id: $c) { messages(first: 50) { edges { node { role status } } } } }",
            json!({ "c": conversation }),
        )
        .await;
        answers += data["conversation"]["messages"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["node"]["role"] == "ASSISTANT" && e["node"]["status"] == "COMPLETE")
            .count();
    }
    let turns = rounds * (1 + priorities.len()) * streams;
    println!("victim's data: memory kept {has_memory}; {answers} of {turns} answers stored complete");
    println!("\n| attack | what it met | times |\n|---|---|---|");
    for ((attack, outcome), count) in tally.0.lock().unwrap().iter() {
        println!("| {attack} | {outcome} | {count} |");
    }
}
