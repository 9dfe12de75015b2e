//! Personalisation in a full memory store (`tests/api/personalisation.rs` runs one user of it on
//! every test run). Four users, each with ~350 memories — facts they stated, facts Claude
//! extracted from what they said in passing, work notes, and imported chat lines (250 real LoCoMo
//! turns between two other people, and the user's own chats with friends) — ask 15 questions each
//! in fresh conversations through `sendMessage` against the fake Anthropic API; a probe hits when
//! the request Claude receives carries the memory its answer needs. No probe's memory is a core
//! memory or a preference, so each must be found by retrieval. Prints the hit rate by kind of
//! question, by kind of memory and by user, and the misses.
//!
//! Run: `scripts/fetch-model.sh && cargo bench --bench personalisation`
//! (`EMBEDDING_MODEL_DIR`, `LOCOMO_PATH`, `BENCH_LOCOMO_LINES` (250) to change it).

#[path = "../tests/api/fake_anthropic.rs"]
#[allow(dead_code)]
mod fake_anthropic;
#[path = "support/grid.rs"]
mod grid;
#[path = "../tests/api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "../tests/api/personalisation.rs"]
#[allow(dead_code)]
mod personalisation;
#[path = "../tests/api/personalisation_data.rs"]
mod personalisation_data;

use std::path::PathBuf;
use std::time::Instant;

use assistant::services::memory::retrieval::{RELATED_MEMORIES, Weights, nearest_for, rank};
use assistant::store::search_index::Hit;
use chrono::Utc;
use entity::{memory, prelude::*};
use helpers::{Backend, TestApp};
use personalisation::{ProbeResult, describe_misses, locomo_path, run_persona, tally};
use personalisation_data::PERSONAS;
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

fn table<K: Ord>(title: &str, results: &[ProbeResult], key: impl Fn(&ProbeResult) -> K, name: impl Fn(&K) -> String) {
    println!("\n| {title} | hits | rate |\n|---|---|---|");
    for (k, (hits, total)) in tally(results, key) {
        println!("| {} | {hits}/{total} | {:.0} % |", name(&k), 100.0 * hits as f64 / total as f64);
    }
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model_dir = std::env::var("EMBEDDING_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or(root.join("data/models/all-MiniLM-L6-v2"))
        .display()
        .to_string();
    let locomo = locomo_path().expect("the LoCoMo file (../shared/datasets/locomo/locomo10.json or LOCOMO_PATH)");
    let lines: usize = std::env::var("BENCH_LOCOMO_LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(250);
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("EMBEDDING_PROVIDER", "local"), ("EMBEDDING_MODEL_DIR", &model_dir), ("RUST_LOG", "warn")],
    )
    .await
    .expect("the server");

    let started = Instant::now();
    let mut results = Vec::new();
    let mut memories = Vec::new();
    let mut prepared: Vec<Prepared> = Vec::new();
    let grid_spec = std::env::var("BENCH_GRID").ok();
    for (index, persona) in PERSONAS.iter().enumerate() {
        let (mut found, stored, user_id) = run_persona(&app, persona, index, &locomo, lines).await;
        memories.push(format!("{} {stored}", persona.name));
        if grid_spec.is_some() {
            prepared.extend(prepare(&app, index, &user_id, persona).await);
        }
        results.append(&mut found);
    }
    if let Some(spec) = grid_spec {
        // The ranking alone, over the candidates the server's index gives: a probe counts when
        // its memory is among the first five (the context's base; it takes more on close scores).
        let mut scored: Vec<(usize, usize, String)> = grid::grid(&spec)
            .into_iter()
            .map(|(name, weights)| {
                let within = |part: &dyn Fn(usize) -> bool| {
                    prepared.iter().filter(|p| part(p.persona) && p.top5(&weights)).count()
                };
                (within(&|p| p < 2), within(&|p| p >= 2), name)
            })
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        let tuning = prepared.iter().filter(|p| p.persona < 2).count();
        println!("grid, memory in the ranking's top 5: tuning users (Maria, Kenji) of {tuning}, the others after:");
        for (t, h, name) in scored.iter().take(20) {
            println!("  {t} {h} {name}");
        }
        if let Some((_, _, best)) = scored.first() {
            let weights = grid::grid(&spec).into_iter().find(|(name, _)| name == best).map(|(_, w)| w).unwrap();
            for p in prepared.iter().filter(|p| !p.top5(&weights)) {
                println!("  outside the top 5 with{best}: {}", p.question);
            }
        }
        return;
    }
    let hits = results.iter().filter(|r| r.hit).count();
    println!(
        "personalisation benchmark: {hits}/{} probes carried their memory ({:.1} %); memories per user: {}; {:.0} s",
        results.len(),
        100.0 * hits as f64 / results.len() as f64,
        memories.join(", "),
        started.elapsed().as_secs_f64()
    );
    table("kind of question", &results, |r| r.kind, |k| k.label().to_owned());
    table("kind of memory needed", &results, |r| r.memory_kind, |k| format!("{k:?}"));
    table("user", &results, |r| r.persona, |k| k.to_string());
    for miss in describe_misses(&results) {
        println!("  miss: {miss}");
    }
}

/// A probe's candidates from the server's own index, for sweeping the ranking's weights.
struct Prepared {
    persona: usize,
    question: &'static str,
    needed: Uuid,
    hits: Vec<Hit>,
}

impl Prepared {
    fn top5(&self, weights: &Weights) -> bool {
        rank(weights, self.question, self.hits.clone(), Utc::now(), RELATED_MEMORIES)
            .iter()
            .take(5)
            .any(|r| r.hit.id == self.needed)
    }
}

async fn prepare(
    app: &TestApp,
    persona_index: usize,
    user_id: &str,
    persona: &personalisation_data::Persona,
) -> Vec<Prepared> {
    let state = &app.state;
    let user_id = Uuid::parse_str(user_id).unwrap();
    let mut out = Vec::new();
    for probe in persona.probes {
        let vector = state.embedder.embed(&[probe.question.to_owned()]).await.unwrap().pop();
        let nearest = std::env::var("BENCH_NEAREST")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| nearest_for(RELATED_MEMORIES));
        let hits = state
            .memory_index
            .candidates(&state.db, state.embedder.as_ref(), user_id, probe.question, vector.as_deref(), nearest)
            .await
            .unwrap();
        let needed = Memory::find_live(user_id)
            .filter(memory::Column::Content.eq(probe.needs))
            .one(&state.db)
            .await
            .unwrap()
            .expect("the probe's memory is stored")
            .id;
        out.push(Prepared { persona: persona_index, question: probe.question, needed, hits });
    }
    out
}
