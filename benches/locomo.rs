//! LoCoMo turn-level retrieval recall through the product's own retrieval: the per-user index
//! shard (usearch HNSW + BM25, `store::memory_index`) gives the candidates and
//! `services::memory::retrieval::rank` fuses them, as `searchMemories` and the chat do, with the local
//! all-MiniLM-L6-v2. Each conversation's turns become one user's memories ("Speaker: text",
//! valid from the session's date); each category 1-4 question retrieves the top k; recall@k is
//! the share of its evidence turns found, averaged over questions. The same function run with
//! only its vector or only its keyword signal gives the two single-signal baselines.
//!
//! Run: `scripts/fetch-model.sh && cargo bench --bench locomo`
//! (`EMBEDDING_MODEL_DIR` / `LOCOMO_PATH` to point elsewhere).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use assistant::embed::{Embedder, MiniLmEmbedder};
use assistant::services::memory::retrieval::{Weights, nearest_for, rank};
use assistant::store::search_index::{IndexedMemory, Shard};
use chrono::{DateTime, NaiveDateTime, Utc};
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

    // Sweep: BENCH_SWEEP="k,vector,keyword,floor;..." ranks with other weights too.
    let mut sweep: Vec<(String, Weights)> = vec![("hybrid (product)".into(), Weights::default())];
    for spec in std::env::var("BENCH_SWEEP").unwrap_or_default().split(';').filter(|s| !s.is_empty()) {
        let n: Vec<f64> = spec.split(',').map(|x| x.parse().unwrap()).collect();
        let w =
            Weights { rrf_k: n[0], vector: n[1], keyword: n[2], similarity_floor: n[3] as f32, ..Weights::default() };
        sweep.push((format!("hybrid {spec}"), w));
    }
    let mut variants: Vec<(String, Weights, bool, bool)> =
        sweep.into_iter().map(|(name, w)| (name, w, true, true)).collect();
    variants.push(("vector only".into(), Weights::default(), true, false));
    variants.push(("keywords only".into(), Weights::default(), false, true));
    let mut recall = vec![[0.0f64; 4]; variants.len()];
    let mut questions = 0usize;
    let (mut embedded, mut embed_time, mut rank_times) = (0usize, 0.0f64, Vec::new());
    for conversation in &conversations {
        let texts: Vec<String> = conversation.turns.iter().map(|(_, text, _)| text.clone()).collect();
        let started = Instant::now();
        let vectors = model.embed(&texts).await.unwrap();
        embed_time += started.elapsed().as_secs_f64();
        embedded += texts.len();
        let mut dia_of: HashMap<Uuid, &str> = HashMap::new();
        let mut shard = Shard::new(model.info().dimensions).unwrap();
        for ((dia_id, text, when), vector) in conversation.turns.iter().zip(&vectors) {
            let id = Uuid::now_v7();
            dia_of.insert(id, dia_id);
            let memory = IndexedMemory { id, version: 0, importance: 0.5, valid_from: *when, content: text.clone() };
            shard.upsert(memory, Some(vector)).unwrap();
        }
        let question_texts: Vec<String> = conversation.questions.iter().map(|q| q.text.clone()).collect();
        let question_vectors = model.embed(&question_texts).await.unwrap();
        for (question, vector) in conversation.questions.iter().zip(&question_vectors) {
            questions += 1;
            for (v, (_, weights, use_vector, use_keywords)) in variants.iter().enumerate() {
                let text = if *use_keywords { question.text.as_str() } else { "" };
                let vector = use_vector.then_some(vector.as_slice());
                let started = Instant::now();
                let hits = shard.candidates(text, vector, nearest_for(20)).unwrap();
                let found = rank(weights, hits, Utc::now(), 20);
                if v == 0 {
                    rank_times.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                for (k_index, &k) in KS.iter().enumerate() {
                    let hits = found.iter().take(k).filter(|m| question.evidence.contains(dia_of[&m.hit.id])).count();
                    recall[v][k_index] += hits as f64 / question.evidence.len() as f64;
                }
            }
        }
    }
    println!(
        "LoCoMo turn-level recall ({} conversations, {questions} questions of categories 1-4)",
        conversations.len()
    );
    println!("| retriever | recall@1 | recall@5 | recall@10 | recall@20 |\n|---|---|---|---|---|");
    for (v, (variant, ..)) in variants.iter().enumerate() {
        let r: Vec<String> = recall[v].iter().map(|sum| format!("{:.3}", sum / questions as f64)).collect();
        println!("| {variant} | {} |", r.join(" | "));
    }
    rank_times.sort_by(f64::total_cmp);
    println!(
        "embedding: {embedded} turns in {embed_time:.1}s ({:.0} texts/s); search over ~{} memories: p50 {:.2} ms",
        embedded as f64 / embed_time,
        conversations.iter().map(|c| c.turns.len()).sum::<usize>() / conversations.len(),
        rank_times[rank_times.len() / 2]
    );
}
