//! LoCoMo turn-level retrieval recall through the product's own retrieval: the per-user index
//! shard (usearch HNSW + BM25, `store::memory_index`) gives the candidates and
//! `services::memory::retrieval::rank` fuses them, as `searchMemories` and the chat do, with the local
//! all-MiniLM-L6-v2. Each conversation's turns become one user's memories ("Speaker: text",
//! valid from the session's date); each category 1-4 question retrieves the top k; recall@k is
//! the share of its evidence turns found, averaged over questions. The same function run with
//! only its vector or only its keyword signal gives the two single-signal baselines.
//!
//! The ranking's constants are chosen on conversations 0-4 (the tuning half: `BENCH_GRID` sweeps
//! them there) and the figure that counts is the one on conversations 5-9, which no choice looked
//! at. Embeddings of the turns and questions are cached in the target directory
//! (`locomo-embeddings-<model>-<engine>-<fingerprint of a probe vector>.bin`), so a second run does not embed for a minute.
//!
//! Run: `scripts/fetch-model.sh && cargo bench --bench locomo`
//! (`EMBEDDING_MODEL_DIR` / `LOCOMO_PATH` to point elsewhere;
//! `BENCH_GRID="pool=20,30;similarity=0.5,1;..."` sweeps `Weights` fields on the tuning half).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

#[path = "support/embedding_cache.rs"]
mod embedding_cache;
#[path = "support/grid.rs"]
mod grid;

use assistant::embed::{Embedder, MiniLmEmbedder};
use assistant::services::memory::retrieval::{Weights, nearest_for, rank};
use assistant::store::search_index::{Hit, IndexedMemory, Shard};
use chrono::{DateTime, NaiveDateTime, Utc};
use embedding_cache::EmbeddingCache;
use entity::enums::MemorySource;
use grid::grid;
use serde_json::Value;
use uuid::Uuid;

const KS: [usize; 4] = [1, 5, 10, 20];

struct Question {
    text: String,
    evidence: HashSet<String>,
}

struct Conversation {
    turns: Vec<(String, String, DateTime<Utc>)>, // (dia_id, "Speaker: text", session time)
    questions: Vec<Question>,
}

fn session_time(text: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(text, "%I:%M %p on %d %B, %Y").map(|t| t.and_utc()).unwrap_or_else(|_| Utc::now())
}

fn load(path: &PathBuf) -> Vec<Conversation> {
    let samples: Vec<Value> = serde_json::from_slice(&std::fs::read(path).expect("read locomo10.json")).unwrap();
    samples
        .iter()
        .map(|sample| {
            let conversation = &sample["conversation"];
            let mut turns = Vec::new();
            for n in 1.. {
                let Some(session) = conversation.get(format!("session_{n}")).and_then(Value::as_array) else { break };
                let when = session_time(conversation[format!("session_{n}_date_time")].as_str().unwrap_or_default());
                for turn in session {
                    let text =
                        format!("{}: {}", turn["speaker"].as_str().unwrap_or(""), turn["text"].as_str().unwrap_or(""));
                    turns.push((turn["dia_id"].as_str().unwrap_or("").to_owned(), text, when));
                }
            }
            let known: HashSet<&str> = turns.iter().map(|(id, _, _)| id.as_str()).collect();
            let questions = sample["qa"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|qa| (1..=4).contains(&qa["category"].as_i64().unwrap_or(5)))
                .filter_map(|qa| {
                    let evidence: HashSet<String> = qa["evidence"]
                        .as_array()?
                        .iter()
                        .filter_map(Value::as_str)
                        .filter(|id| known.contains(id))
                        .map(str::to_owned)
                        .collect();
                    let text = qa["question"].as_str()?.to_owned();
                    (!evidence.is_empty()).then_some(Question { text, evidence })
                })
                .collect();
            Conversation { turns, questions }
        })
        .collect()
}

/// Which of a question's candidate lists a variant ranks.
type HitsOf = fn(&Prepared) -> &Vec<Hit>;

/// A question with its candidates from the shard, for each way of searching.
struct Prepared {
    conversation: usize,
    text: String,
    evidence: HashSet<String>,
    hybrid: Vec<Hit>,
    vector_only: Vec<Hit>,
    keywords_only: Vec<Hit>,
    /// Which turn each memory is.
    dia_of: std::sync::Arc<HashMap<Uuid, String>>,
}

/// Recall at each of `KS`, summed over the questions of `part`, and how many there were.
fn recall(
    prepared: &[Prepared],
    part: &dyn Fn(usize) -> bool,
    weights: &Weights,
    hits_of: HitsOf,
) -> ([f64; 4], usize) {
    let mut sums = [0.0f64; 4];
    let mut count = 0;
    for question in prepared.iter().filter(|q| part(q.conversation)) {
        count += 1;
        let found = rank(weights, &question.text, hits_of(question).clone(), Utc::now(), 20);
        for (k_index, &k) in KS.iter().enumerate() {
            let hits = found.iter().take(k).filter(|m| question.evidence.contains(&question.dia_of[&m.hit.id])).count();
            sums[k_index] += hits as f64 / question.evidence.len() as f64;
        }
    }
    (sums, count)
}

fn row(name: &str, sums: [f64; 4], count: usize) -> String {
    let r: Vec<String> = sums.iter().map(|sum| format!("{:.3}", sum / count.max(1) as f64)).collect();
    format!("| {name} | {} |", r.join(" | "))
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path =
        std::env::var("LOCOMO_PATH").map(PathBuf::from).unwrap_or(root.join("../shared/datasets/locomo/locomo10.json"));
    let model_dir =
        std::env::var("EMBEDDING_MODEL_DIR").map(PathBuf::from).unwrap_or(root.join("data/models/all-MiniLM-L6-v2"));
    let model = MiniLmEmbedder::load(&model_dir).expect("the model (run scripts/fetch-model.sh)");
    let conversations = load(&path);
    let mut cache = EmbeddingCache::for_model("locomo-embeddings", &model).await;

    let (mut embedded, mut embed_time, mut search_times) = (0usize, 0.0f64, Vec::new());
    let mut prepared: Vec<Prepared> = Vec::new();
    for (c, conversation) in conversations.iter().enumerate() {
        let texts: Vec<String> = conversation.turns.iter().map(|(_, text, _)| text.clone()).collect();
        let (vectors, fresh, seconds) = cache.embed(&model, &texts).await;
        embedded += fresh;
        embed_time += seconds;
        let mut dia_of: HashMap<Uuid, String> = HashMap::new();
        let mut shard = Shard::new(model.info().dimensions).unwrap();
        for ((dia_id, text, when), vector) in conversation.turns.iter().zip(&vectors) {
            let id = Uuid::now_v7();
            dia_of.insert(id, dia_id.clone());
            // Lines of a chat between two other people: what the product stores as IMPORTED.
            let memory = IndexedMemory {
                id,
                version: 0,
                importance: 0.5,
                valid_from: *when,
                content: text.clone(),
                source: MemorySource::Imported,
            };
            shard.upsert(memory, Some(vector)).unwrap();
        }
        let dia_of = std::sync::Arc::new(dia_of);
        let question_texts: Vec<String> = conversation.questions.iter().map(|q| q.text.clone()).collect();
        let (question_vectors, fresh, seconds) = cache.embed(&model, &question_texts).await;
        let _ = (fresh, seconds);
        for (question, vector) in conversation.questions.iter().zip(&question_vectors) {
            let started = Instant::now();
            let hybrid = shard.candidates(&question.text, Some(vector), nearest_for(20)).unwrap();
            let _ = rank(&Weights::default(), &question.text, hybrid.clone(), Utc::now(), 20);
            search_times.push(started.elapsed().as_secs_f64() * 1000.0);
            prepared.push(Prepared {
                conversation: c,
                text: question.text.clone(),
                evidence: question.evidence.clone(),
                hybrid,
                vector_only: shard.candidates("", Some(vector), nearest_for(20)).unwrap(),
                keywords_only: shard.candidates(&question.text, None, nearest_for(20)).unwrap(),
                dia_of: dia_of.clone(),
            });
        }
    }

    let tuning = |c: usize| c < 5;
    let held_out = |c: usize| c >= 5;
    let everything = |_: usize| true;
    if let Ok(spec) = std::env::var("BENCH_GRID") {
        let mut results: Vec<(f64, String)> = grid(&spec)
            .into_iter()
            .map(|(name, weights)| {
                let (sums, count) = recall(&prepared, &tuning, &weights, |p| &p.hybrid);
                (sums[2] / count as f64, name)
            })
            .collect();
        results.sort_by(|a, b| b.0.total_cmp(&a.0));
        println!("grid on the tuning half (conversations 0-4), best recall@10 first:");
        for (r, name) in results.iter().take(25) {
            println!("  {r:.4} {name}");
        }
        return;
    }

    let hybrid: HitsOf = |p| &p.hybrid;
    let vector_only: HitsOf = |p| &p.vector_only;
    let keywords_only: HitsOf = |p| &p.keywords_only;
    let variants: [(&str, Weights, HitsOf); 4] = [
        ("**two stages (the product)**", Weights::default(), hybrid),
        ("fusion alone (the product before)", Weights::fusion_only(), hybrid),
        ("our vector signal alone", Weights::fusion_only(), vector_only),
        ("our keyword signal alone", Weights::fusion_only(), keywords_only),
    ];
    for (title, part) in [
        ("held out: conversations 5-9", &held_out as &dyn Fn(usize) -> bool),
        ("tuning: conversations 0-4", &tuning),
        ("all 10 conversations", &everything),
    ] {
        let (_, count) = recall(&prepared, part, &Weights::default(), hybrid);
        println!("\nLoCoMo turn-level recall, {title} ({count} questions of categories 1-4)");
        println!("| retriever | recall@1 | recall@5 | recall@10 | recall@20 |\n|---|---|---|---|---|");
        for (name, weights, hits_of) in &variants {
            let (sums, count) = recall(&prepared, part, weights, *hits_of);
            println!("{}", row(name, sums, count));
        }
    }
    search_times.sort_by(f64::total_cmp);
    let turns = conversations.iter().map(|c| c.turns.len()).sum::<usize>();
    if embedded > 0 {
        println!(
            "\nembedded {embedded} turns in {embed_time:.1}s ({:.0} texts/s), cached in {}",
            embedded as f64 / embed_time,
            cache.path.display()
        );
    } else {
        println!("\nembeddings from the cache ({})", cache.path.display());
    }
    println!(
        "search over ~{} memories (candidates + both stages): p50 {:.2} ms, p99 {:.2} ms",
        turns / conversations.len(),
        search_times[search_times.len() / 2],
        search_times[search_times.len() * 99 / 100]
    );
}
