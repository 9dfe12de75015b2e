//! Personalisation in a full memory store (`tests/api/personalisation.rs` runs one user of it on
//! every test run). Four users, each with ~350 memories — facts they stated, facts Claude
//! extracted from what they said in passing, work notes, and imported chat lines (250 real LoCoMo
//! turns between two other people, and the user's own chats with friends) — ask 17 questions each
//! in fresh conversations through `sendMessage` against the fake Anthropic API; a probe hits when
//! the request Claude receives carries the memory its answer needs. No probe's memory is a core
//! memory or a preference, so each must be found by retrieval. Then the larger set
//! (`tests/api/personalisation_more.rs`): 16 more memories per user on two crowded topics, 6
//! look-it-up questions on them and 6 multi-turn ones; last, its third batch
//! (`personalisation_more::CROWDED`): 20 more memories per user on one topic and 3 look-ups.
//!
//! Three runs, each on a fresh server: without the memory tools (`CHAT_MEMORY_TOOLS=false`), and
//! with them, the fake Claude a scripted model that decides from the request alone when to call
//! `search_memories` (two policies, `personalisation::SearchPolicy`); with tools a probe hits when
//! its memory is in the prompt or comes back from a search of the same turn. Prints the hit rates
//! by kind of question, how many look-it-up memories really are outside the top five, the
//! memory-related Claude calls per user message (extraction calls and search rounds, from the
//! fake's log), and the misses.
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
#[path = "../tests/api/personalisation_more.rs"]
mod personalisation_more;

use std::path::PathBuf;
use std::time::Instant;

use assistant::services::memory::retrieval::{RELATED_MEMORIES, Weights, nearest_for, rank};
use assistant::store::search_index::Hit;
use chrono::Utc;
use entity::{memory, prelude::*};
use helpers::{Backend, TestApp};
use personalisation::{
    ProbeResult, SearchPolicy, describe_misses, locomo_path, run_more, run_persona, scripted_claude, settle, tally,
};
use personalisation_data::{PERSONAS, QuestionKind};
use personalisation_more::{CROWDED, MORE};
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

/// How the fake Claude of a run answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `CHAT_MEMORY_TOOLS=false`: the request offers no tools.
    NoTools,
    /// The tools offered, and the scripted model searching by this policy.
    Tools(SearchPolicy),
}

impl Mode {
    fn label(self) -> String {
        match self {
            Mode::NoTools => "without tools".into(),
            Mode::Tools(policy) => format!("with tools ({})", policy.label()),
        }
    }
}

/// A run of every user: the results, and what reached the fake Claude.
struct Run {
    mode: Mode,
    results: Vec<ProbeResult>,
    /// How many of `results` are the first set's (today's 68), then the larger set's first two
    /// batches and multi-turn questions; the third batch of look-ups is last.
    first_set: usize,
    more_end: usize,
    sent: usize,
    extraction_calls: usize,
    search_rounds: usize,
    chat_requests: usize,
    memories: Vec<String>,
    seconds: f64,
}

async fn run(
    mode: Mode,
    model_dir: &str,
    locomo: &std::path::Path,
    lines: usize,
) -> (Run, TestApp, Vec<(usize, String)>) {
    let tools = if mode == Mode::NoTools { "false" } else { "true" };
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("EMBEDDING_PROVIDER", "local"),
            ("EMBEDDING_MODEL_DIR", model_dir),
            ("RUST_LOG", "warn"),
            ("CHAT_MEMORY_TOOLS", tools),
        ],
    )
    .await
    .expect("the server");
    if let Mode::Tools(policy) = mode {
        app.anthropic.set_stream_model(scripted_claude(policy));
    }
    let started = Instant::now();
    let (mut results, mut later, mut memories, mut users) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut third = Vec::new();
    let mut sent = 0;
    for (index, persona) in PERSONAS.iter().enumerate() {
        let mut persona_run = run_persona(&app, persona, index, locomo, lines).await;
        memories.push(format!("{} {}", persona.name, persona_run.memories));
        users.push((index, persona_run.user_id.clone()));
        results.append(&mut persona_run.results);
        run_more(&app, &mut persona_run, persona, &MORE[index]).await;
        later.append(&mut persona_run.results);
        run_more(&app, &mut persona_run, persona, &CROWDED[index]).await;
        third.append(&mut persona_run.results);
        settle(&app, &persona_run).await;
        sent += persona_run.sent;
    }
    let first_set = results.len();
    results.append(&mut later);
    let more_end = results.len();
    results.append(&mut third);
    let requests = app.anthropic.stream_requests();
    let run = Run {
        mode,
        first_set,
        more_end,
        sent,
        extraction_calls: app.anthropic.tool_requests().len(),
        search_rounds: requests.iter().filter(|r| !r.tool_results().is_empty()).count(),
        chat_requests: requests.len(),
        results,
        memories,
        seconds: started.elapsed().as_secs_f64(),
    };
    (run, app, users)
}

fn rate(hits: usize, total: usize) -> String {
    format!("{hits}/{total} = {:.1} %", 100.0 * hits as f64 / total.max(1) as f64)
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

    if let Ok(spec) = std::env::var("BENCH_GRID") {
        let (_, app, users) = run(Mode::NoTools, &model_dir, &locomo, lines).await;
        let mut prepared: Vec<Prepared> = Vec::new();
        for (index, user_id) in &users {
            prepared.extend(prepare(&app, *index, user_id, &PERSONAS[*index]).await);
        }
        grid_report(&spec, &prepared);
        return;
    }

    let modes =
        [Mode::NoTools, Mode::Tools(SearchPolicy::AboutTheUser), Mode::Tools(SearchPolicy::WhenThePromptLacksIt)];
    let mut runs = Vec::new();
    for mode in modes {
        let (run, _app, _) = run(mode, &model_dir, &locomo, lines).await;
        println!(
            "{}: {} probes, {} user messages, {:.0} s; memories per user: {}",
            mode.label(),
            run.results.len(),
            run.sent,
            run.seconds,
            run.memories.join(", ")
        );
        runs.push(run);
    }

    // Hit rates: without tools the memory must be in the prompt; with them, in the prompt or in
    // what a search of the same turn gave back.
    let hit = |run: &Run, r: &ProbeResult| if run.mode == Mode::NoTools { r.hit } else { r.hit_with_tools() };
    let header: Vec<String> = runs.iter().map(|r| r.mode.label()).collect();
    println!("\n| kind of question | {} |\n|---|{}", header.join(" | "), "---|".repeat(runs.len()));
    let kinds = tally(&runs[0].results, |r| r.kind);
    for kind in kinds.keys() {
        let cells: Vec<String> = runs
            .iter()
            .map(|run| {
                let of: Vec<&ProbeResult> = run.results.iter().filter(|r| r.kind == *kind).collect();
                format!("{}/{}", of.iter().filter(|r| hit(run, r)).count(), of.len())
            })
            .collect();
        println!("| {} | {} |", kind.label(), cells.join(" | "));
    }
    for (name, range) in [
        ("today's set (68)", 0..runs[0].first_set),
        ("the larger set's first two batches and multi-turn", runs[0].first_set..runs[0].more_end),
        ("the third batch of look-ups", runs[0].more_end..runs[0].results.len()),
        ("all", 0..runs[0].results.len()),
    ] {
        let cells: Vec<String> = runs
            .iter()
            .map(|run| {
                let part = &run.results[range.clone()];
                rate(part.iter().filter(|r| hit(run, r)).count(), part.len())
            })
            .collect();
        println!("| **{name}** | {} |", cells.join(" | "));
    }

    // Look it up: how many needed memories really are outside the top five by similarity.
    for kind in [QuestionKind::LookUp, QuestionKind::LookUpHarder, QuestionKind::LookUpCrowded] {
        let lookups: Vec<&ProbeResult> = runs[0].results.iter().filter(|r| r.kind == kind).collect();
        let outside = lookups.iter().filter(|r| r.search_rank.is_none_or(|n| n > 5)).count();
        println!(
            "\n{}: {outside} of {} needed memories are outside searchMemories' top 5 for the question (ranks: {:?})",
            kind.label(),
            lookups.len(),
            lookups.iter().map(|r| r.search_rank).collect::<Vec<_>>()
        );
        for run in &runs {
            let outside: Vec<&ProbeResult> =
                run.results.iter().filter(|r| r.kind == kind && r.search_rank.is_none_or(|n| n > 5)).collect();
            let answered = outside.iter().filter(|r| hit(run, r)).count();
            let through_search = outside.iter().filter(|r| !r.hit && r.found_by_search).count();
            println!(
                "  {}: those answered {answered}/{}, through search_memories {through_search}",
                run.mode.label(),
                outside.len()
            );
        }
    }
    for run in &runs {
        let through_search = run.results.iter().filter(|r| !r.hit && r.found_by_search).count();
        let searched = run.results.iter().filter(|r| r.searched).count();
        println!(
            "{}: probes answered only through search_memories: {through_search}; probe turns that searched: {searched}/{}",
            run.mode.label(),
            run.results.len()
        );
    }

    // Memory-related Claude calls per user message, counted in the fake's log.
    println!(
        "\n| run | user messages | extraction calls | search rounds | memory-related calls per message |\n|---|---|---|---|---|"
    );
    for run in &runs {
        let per = |n: usize| n as f64 / run.sent as f64;
        println!(
            "| {} | {} | {} ({:.2}) | {} ({:.2}) | {:.2} |",
            run.mode.label(),
            run.sent,
            run.extraction_calls,
            per(run.extraction_calls),
            run.search_rounds,
            per(run.search_rounds),
            per(run.extraction_calls + run.search_rounds)
        );
    }
    for run in &runs {
        println!("\n{} ({} chat requests in all):", run.mode.label(), run.chat_requests);
        for r in run.results.iter().filter(|r| !hit(run, r)) {
            let searched = if r.searched { "searched, not found" } else { "did not search" };
            let mut miss = describe_misses(std::slice::from_ref(r)).pop().unwrap_or_default();
            if run.mode == Mode::NoTools {
                miss = miss.lines().next().unwrap_or_default().to_owned();
            }
            println!("  miss ({searched}): {miss}");
        }
    }
}

fn grid_report(spec: &str, prepared: &[Prepared]) {
    // The ranking alone, over the candidates the server's index gives: a probe counts when its
    // memory is among the first five (the context's base; it takes more on close scores).
    let mut scored: Vec<(usize, usize, String)> = grid::grid(spec)
        .into_iter()
        .map(|(name, weights)| {
            let within =
                |part: &dyn Fn(usize) -> bool| prepared.iter().filter(|p| part(p.persona) && p.top5(&weights)).count();
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
        let weights = grid::grid(spec).into_iter().find(|(name, _)| name == best).map(|(_, w)| w).unwrap();
        for p in prepared.iter().filter(|p| !p.top5(&weights)) {
            println!("  outside the top 5 with{best}: {}", p.question);
        }
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
