//! The long-term memory at scale, through the running server (HTTP, SQL, the index, the local
//! all-MiniLM-L6-v2 for every query):
//!
//! - ingest: memories stored per second through the `remember` mutation, concurrent clients,
//!   each memory distinct (a repeat is returned without embedding, so it would count work not
//!   done), embedded and indexed;
//! - search latency p50/p95/p99 of `searchMemories` for one user holding 10k and 100k memories,
//!   from one client and from several at once;
//! - index build (first search after a start without index files), save, and reload (first
//!   search after a restart with them); resident memory.
//!
//! The 10k/100k memories are distinct texts — every LoCoMo turn, then generated one-sentence
//! statements — each embedded by the model, written to SQL directly (ingesting 100k through the
//! API is what the ingest figure measures at small scale). Their vectors are cached in the target
//! directory (`memory-index-embeddings-*.bin`, keyed by the forward pass): the first run embeds 100k texts (~10 minutes on two
//! cores), later runs none.
//!
//! Run: `scripts/fetch-model.sh && cargo bench --bench memory_index`
//! (`BENCH_SIZES=10000,100000`, `BENCH_CLIENTS=8` for the concurrent search row).

#[path = "support/embedding_cache.rs"]
mod embedding_cache;
#[path = "support/statements.rs"]
mod statements;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use assistant::embed::{Embedder, MiniLmEmbedder, to_bytes};
use assistant::{Application, Config};
use chrono::Utc;
use embedding_cache::EmbeddingCache;
use entity::enums::{MemoryCategory, MemorySource};
use entity::{memory, prelude::*, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use statements::statements;
use uuid::Uuid;

const ADMIN: &str = "bench-admin-token-0123456789";

struct Server {
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    db: sea_orm::DatabaseConnection,
}

async fn start(data_dir: &std::path::Path, model_dir: &std::path::Path) -> Server {
    let vars = [
        ("PORT", "0".to_string()),
        ("DATA_DIR", data_dir.display().to_string()),
        ("ADMIN_TOKEN", ADMIN.to_string()),
        ("EMBEDDING_PROVIDER", "local".to_string()),
        ("EMBEDDING_MODEL_DIR", model_dir.display().to_string()),
    ];
    let config = Config::from_lookup(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())).unwrap();
    let app = Application::build(config).await.unwrap();
    let url = format!("http://127.0.0.1:{}/graphql", app.port());
    let db = app.state().db.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    Server { url, stop, task, db }
}

async fn gql(client: &reqwest::Client, url: &str, key: &str, query: &str, variables: Value) -> Value {
    let response: Value = client
        .post(url)
        .bearer_auth(key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(response.get("errors").is_none(), "{response}");
    response["data"].clone()
}

async fn create_user(client: &reqwest::Client, url: &str) -> (Uuid, String) {
    let data = gql(
        client,
        url,
        ADMIN,
        "mutation { createUser(input: {displayName: \"Bench\"}) { user { id } apiKey } }",
        json!({}),
    )
    .await;
    let id = Uuid::parse_str(data["createUser"]["user"]["id"].as_str().unwrap()).unwrap();
    (id, data["createUser"]["apiKey"].as_str().unwrap().to_owned())
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn locomo_texts(root: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let path =
        std::env::var("LOCOMO_PATH").map(PathBuf::from).unwrap_or(root.join("../shared/datasets/locomo/locomo10.json"));
    let samples: Vec<Value> = serde_json::from_slice(&std::fs::read(path).expect("read locomo10.json")).unwrap();
    let (mut turns, mut questions) = (Vec::new(), Vec::new());
    for sample in &samples {
        for n in 1.. {
            let Some(session) = sample["conversation"].get(format!("session_{n}")).and_then(Value::as_array) else {
                break;
            };
            for turn in session {
                turns.push(format!(
                    "{}: {}",
                    turn["speaker"].as_str().unwrap_or(""),
                    turn["text"].as_str().unwrap_or("")
                ));
            }
        }
        for qa in sample["qa"].as_array().unwrap() {
            if let Some(q) = qa["question"].as_str() {
                questions.push(q.to_owned());
            }
        }
    }
    (turns, questions)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model_dir =
        std::env::var("EMBEDDING_MODEL_DIR").map(PathBuf::from).unwrap_or(root.join("data/models/all-MiniLM-L6-v2"));
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let client = reqwest::Client::new();
    let (turns, questions) = locomo_texts(&root);

    // Ingest through the API: memory-sized texts (the first sentence of each LoCoMo turn, as an
    // extracted memory is one statement) and whole turns, each text once: `remember` gives a
    // repeat back without embedding it.
    let sentences: Vec<String> = distinct(
        turns.iter().map(|t| t.split_inclusive(['.', '!', '?']).next().unwrap_or(t).chars().take(120).collect()),
    );
    let whole_turns = distinct(turns.iter().cloned());
    for (label, texts) in [("memory-sized (first sentence)", &sentences), ("whole LoCoMo turns", &whole_turns)] {
        let dir = tempfile::tempdir().unwrap();
        let server = start(dir.path(), &model_dir).await;
        let (user_id, key) = create_user(&client, &server.url).await;
        let total = 1000usize;
        let clients = 16usize;
        let average = texts.iter().take(total).map(|t| t.len()).sum::<usize>() / total;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (client, url, key) = (client.clone(), server.url.clone(), key.clone());
            let mine: Vec<String> = texts.iter().take(total).skip(c).step_by(clients).cloned().collect();
            tasks.push(tokio::spawn(async move {
                for content in mine {
                    let query = "mutation($c: String!) { remember(input: {content: $c}) { id } }";
                    gql(&client, &url, &key, query, json!({ "c": content })).await;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = started.elapsed().as_secs_f64();
        let stored =
            Memory::find().filter(memory::Column::UserId.eq(user_id)).count(&server.db).await.unwrap() as usize;
        assert_eq!(stored, total, "every text distinct, every one stored");
        let rate = stored as f64 / elapsed;
        println!(
            "ingest, {label}, ~{average} chars: {total} distinct `remember`s from {clients} clients, {stored} stored: {rate:.0} memories stored/s"
        );
        let _ = server.stop.send(());
        server.task.await.unwrap().unwrap();
    }

    // Texts for the scale tests: every distinct LoCoMo turn, then generated statements, each
    // embedded by the model (cached on disk between runs).
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let mut texts = whole_turns.clone();
    texts.extend(statements().take(largest.saturating_sub(texts.len())));
    texts.truncate(largest);
    let model = MiniLmEmbedder::load(&model_dir).expect("the model (run scripts/fetch-model.sh)");
    let mut cache = EmbeddingCache::for_model("memory-index-embeddings", &model).await;
    let (vectors, fresh, seconds) = cache.embed(&model, &texts).await;
    if fresh > 0 {
        println!(
            "embedded {fresh} texts for the scale tests in {seconds:.0} s ({:.0} texts/s)",
            fresh as f64 / seconds
        );
    }
    let clients: usize = std::env::var("BENCH_CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(8);

    for &size in &sizes {
        let dir = tempfile::tempdir().unwrap();
        let server = start(dir.path(), &model_dir).await;
        let (user_id, key) = create_user(&client, &server.url).await;
        let name = model.info().name.clone();
        let now = Utc::now();
        let mut rows = Vec::with_capacity(1000);
        for i in 0..size {
            let vector = &vectors[i];
            let id = Uuid::now_v7();
            rows.push(memory::ActiveModel {
                id: sea_orm::Set(id),
                user_id: sea_orm::Set(user_id),
                content: sea_orm::Set(texts[i].clone()),
                category: sea_orm::Set(MemoryCategory::Event),
                importance: sea_orm::Set(0.5),
                source: sea_orm::Set(if i < whole_turns.len() {
                    MemorySource::Imported
                } else {
                    MemorySource::Extracted
                }),
                source_message_id: sea_orm::Set(None),
                embedding: sea_orm::Set(Some(to_bytes(vector))),
                embedding_model: sea_orm::Set(Some(name.clone())),
                embedding_dim: sea_orm::Set(Some(vector.len() as i32)),
                valid_from: sea_orm::Set(now),
                valid_to: sea_orm::Set(None),
                created_at: sea_orm::Set(now),
                updated_at: sea_orm::Set(now),
            });
            if rows.len() == 1000 || i + 1 == size {
                Memory::insert_many(std::mem::take(&mut rows)).exec(&server.db).await.unwrap();
            }
        }
        User::update_many()
            .col_expr(user::Column::MemoryRevision, Expr::value(1i64))
            .filter(user::Column::Id.eq(user_id))
            .exec(&server.db)
            .await
            .unwrap();

        let search = "query($q: String!) { searchMemories(query: $q, limit: 10) { score } }";
        let rss_before = rss_mib();
        let started = Instant::now();
        gql(&client, &server.url, &key, search, json!({ "q": "warm up" })).await;
        let build = started.elapsed().as_secs_f64();
        let rss_after = rss_mib();
        let mut latencies = Vec::new();
        for question in questions.iter().take(300) {
            let started = Instant::now();
            gql(&client, &server.url, &key, search, json!({ "q": question })).await;
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        latencies.sort_by(f64::total_cmp);

        // The same questions from several clients at once (one user: the shard's read lock is
        // shared, the query embeddings batch together).
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (client, url, key) = (client.clone(), server.url.clone(), key.clone());
            let mine: Vec<String> = questions.iter().take(400).skip(c).step_by(clients).cloned().collect();
            tasks.push(tokio::spawn(async move {
                let mut times = Vec::new();
                for question in mine {
                    let started = Instant::now();
                    gql(&client, &url, &key, search, json!({ "q": question })).await;
                    times.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                times
            }));
        }
        let mut concurrent = Vec::new();
        for task in tasks {
            concurrent.extend(task.await.unwrap());
        }
        let throughput = concurrent.len() as f64 / started.elapsed().as_secs_f64();
        concurrent.sort_by(f64::total_cmp);
        println!(
            "{size} memories, {clients} clients at once: searchMemories p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, {throughput:.0} searches/s",
            percentile(&concurrent, 0.5),
            percentile(&concurrent, 0.95),
            percentile(&concurrent, 0.99),
        );

        let started = Instant::now();
        let _ = server.stop.send(());
        server.task.await.unwrap().unwrap();
        let save = started.elapsed().as_secs_f64();
        let files: u64 = walk_size(&dir.path().join("index"));

        let server = start(dir.path(), &model_dir).await;
        let started = Instant::now();
        gql(&client, &server.url, &key, search, json!({ "q": "warm up" })).await;
        let reload = started.elapsed().as_secs_f64();
        println!(
            "{size} memories, one user: searchMemories p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms ({} queries, query embedding included); \
             index build from SQL {build:.1} s, save {save:.2} s ({:.0} MiB on disk), reload {reload:.2} s; \
             process RSS {rss_before:.0} -> {rss_after:.0} MiB with the shard loaded",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.95),
            percentile(&latencies, 0.99),
            latencies.len(),
            files as f64 / 1048576.0,
        );
        let _ = server.stop.send(());
        server.task.await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn walk_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| if e.path().is_dir() { walk_size(&e.path()) } else { e.metadata().map(|m| m.len()).unwrap_or(0) })
        .sum()
}

/// Each text once (ignoring case, as `remember` does), in order.
fn distinct(texts: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    texts.filter(|t| !t.trim().is_empty() && seen.insert(t.to_lowercase())).collect()
}
