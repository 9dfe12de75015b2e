//! The local embedding model's speed: short queries one at a time (what every chat turn and
//! `searchMemories` waits for) and memory-sized texts in batches (what ingest and extraction do).
//! Queries are LoCoMo's questions, memories its conversation turns, embedded through
//! `MiniLmEmbedder` directly (no batching worker, no cache of recent texts).
//!
//! Run: `scripts/fetch-model.sh && cargo bench --bench embedding`
//! (`EMBEDDING_MODEL_DIR`, `LOCOMO_PATH`, `BENCH_EMBED_QUERIES` (300), `BENCH_EMBED_TEXTS` (512);
//! `BENCH_EMBED_ENGINE=ref|ours` picks the forward pass, candle-transformers' `BertModel` by
//! default; `BENCH_EMBED_COMPARE=1` prints the engine's cosine with it).
//!
//! Wall-clock figures move with the machine's load. For a count that does not, run it under
//! callgrind twice, with `BENCH_EMBED_QUERIES=0` and with, say, 50, and divide the difference in
//! instructions by 50 (`BENCH_EMBED_TEXTS=0` skips the batches).

use std::path::PathBuf;
use std::time::Instant;

use assistant::embed::{Embedder, Engine, MiniLmEmbedder};
use serde_json::Value;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// LoCoMo's questions and its conversation turns, in the file's order.
fn locomo(path: &PathBuf) -> (Vec<String>, Vec<String>) {
    let samples: Vec<Value> = serde_json::from_slice(&std::fs::read(path).expect("read locomo10.json")).unwrap();
    let mut questions = Vec::new();
    let mut turns = Vec::new();
    for sample in &samples {
        for qa in sample["qa"].as_array().into_iter().flatten() {
            questions.extend(qa["question"].as_str().map(str::to_owned));
        }
        let conversation = &sample["conversation"];
        for n in 1.. {
            let Some(session) = conversation.get(format!("session_{n}")).and_then(Value::as_array) else { break };
            for turn in session {
                let speaker = turn["speaker"].as_str().unwrap_or("");
                turns.push(format!("{speaker}: {}", turn["text"].as_str().unwrap_or("")));
            }
        }
    }
    (questions, turns)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model_dir =
        std::env::var("EMBEDDING_MODEL_DIR").map(PathBuf::from).unwrap_or(root.join("data/models/all-MiniLM-L6-v2"));
    let locomo_path =
        std::env::var("LOCOMO_PATH").map(PathBuf::from).unwrap_or(root.join("../shared/datasets/locomo/locomo10.json"));
    let (questions, turns) = locomo(&locomo_path);
    let queries = env_usize("BENCH_EMBED_QUERIES", 300).min(questions.len());
    let batch_texts = env_usize("BENCH_EMBED_TEXTS", 512).min(turns.len());

    let started = Instant::now();
    let engine = match std::env::var("BENCH_EMBED_ENGINE").as_deref() {
        Ok("ours") => Engine::Encoder,
        _ => Engine::Reference,
    };
    println!("engine {engine:?}");
    let model = MiniLmEmbedder::load_with(&model_dir, engine).expect("load all-MiniLM-L6-v2 (EMBEDDING_MODEL_DIR)");
    println!("loaded {} in {:.0} ms", model_dir.display(), started.elapsed().as_secs_f64() * 1e3);

    if queries > 0 {
        // A few queries first, so page faults on the mapped weights are not counted.
        for q in questions.iter().rev().take(5) {
            model.embed(std::slice::from_ref(q)).await.unwrap();
        }
        let mut times = Vec::with_capacity(queries);
        for q in &questions[..queries] {
            let started = Instant::now();
            let vectors = model.embed(std::slice::from_ref(q)).await.unwrap();
            times.push(started.elapsed().as_secs_f64() * 1e3);
            assert_eq!(vectors.len(), 1);
        }
        let total: f64 = times.iter().sum();
        times.sort_by(f64::total_cmp);
        let chars = questions[..queries].iter().map(String::len).sum::<usize>() as f64 / queries as f64;
        println!(
            "\n| one short query ({queries} LoCoMo questions, {chars:.0} chars on average) | p50 | p95 | mean |\n|---|---|---|---|\n| ms per query | {:.2} | {:.2} | {:.2} |",
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            total / queries as f64
        );
    }

    if engine != Engine::Reference && std::env::var("BENCH_EMBED_COMPARE").is_ok() {
        // The engine's vectors against the reference's, for questions one at a time and for
        // turns in batches (padding, so the mask is used).
        let reference = MiniLmEmbedder::load_with(&model_dir, Engine::Reference).unwrap();
        let mut cosines = Vec::new();
        for q in questions.iter().take(200) {
            let (a, b) = (
                model.embed(std::slice::from_ref(q)).await.unwrap(),
                reference.embed(std::slice::from_ref(q)).await.unwrap(),
            );
            cosines.push(a[0].iter().zip(&b[0]).map(|(x, y)| x * y).sum::<f32>() as f64);
        }
        let texts = &turns[..200.min(turns.len())];
        let (a, b) = (model.embed(texts).await.unwrap(), reference.embed(texts).await.unwrap());
        for (a, b) in a.iter().zip(&b) {
            cosines.push(a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() as f64);
        }
        cosines.sort_by(f64::total_cmp);
        println!(
            "cosine with the reference over {} texts: min {:.6}, p1 {:.6}, median {:.6}",
            cosines.len(),
            cosines[0],
            percentile(&cosines, 0.01),
            percentile(&cosines, 0.5)
        );
    }

    if batch_texts > 0 {
        let texts = &turns[..batch_texts];
        let chars = texts.iter().map(String::len).sum::<usize>() as f64 / batch_texts as f64;
        println!(
            "\n| batches of {batch_texts} LoCoMo turns ({chars:.0} chars on average) | texts/s | ms per batch p50 |\n|---|---|---|"
        );
        for size in [1, 16, 32] {
            let mut times = Vec::new();
            let started = Instant::now();
            for chunk in texts.chunks(size) {
                let started = Instant::now();
                let vectors = model.embed(chunk).await.unwrap();
                times.push(started.elapsed().as_secs_f64() * 1e3);
                assert_eq!(vectors.len(), chunk.len());
            }
            let seconds = started.elapsed().as_secs_f64();
            times.sort_by(f64::total_cmp);
            println!("| {size} per call | {:.0} | {:.1} |", batch_texts as f64 / seconds, percentile(&times, 0.5));
        }
    }
}
