//! Personalisation in a full memory store: a user with a few hundred memories of mixed kinds —
//! facts they stated, facts Claude extracted from what they said, work notes, and imported lines
//! of chats with other people — asks questions in fresh conversations through `sendMessage`, and
//! a probe hits when the request Claude receives carries the one memory its answer needs. No
//! probe's memory is always-included context (core memories, preferences): each must be found by
//! retrieval among the others. The users and questions are in `personalisation_data.rs`.
//!
//! The always-run test here checks one user; `cargo bench --bench personalisation` runs all of
//! them with more imported lines and reports the hit rate by kind of question (README).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::json;

use crate::fake_anthropic::Reply;
use crate::helpers::{TestApp, error_code};
use crate::personalisation_data::{MemoryKind, Persona, QuestionKind, seeds};

const SEND: &str =
    "mutation($c: ID!, $m: String!) { sendMessage(input: {conversationId: $c, message: $m}) { message { id } } }";
const NEW_CONVERSATION: &str = "mutation { createConversation(input: {}) { id } }";
const REMEMBER: &str = "mutation($c: String!, $cat: MemoryCategory, $s: MemorySource) {
    remember(input: {content: $c, category: $cat, source: $s}) { id source } }";

/// The LoCoMo file the imported lines are drawn from (`shared/datasets/locomo`, beside the
/// repository here and in CI; `LOCOMO_PATH` to point elsewhere). Outside CI its absence skips
/// what needs it; under CI it is a failure.
pub fn locomo_path() -> Option<PathBuf> {
    let path = std::env::var("LOCOMO_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/locomo/locomo10.json"));
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI must run the personalisation benchmark: {} is missing (set LOCOMO_PATH)", path.display());
    }
    eprintln!("{} is missing: skipping the personalisation benchmark", path.display());
    None
}

/// One question asked, and whether its memory reached Claude.
pub struct ProbeResult {
    pub persona: &'static str,
    pub question: &'static str,
    pub kind: QuestionKind,
    pub memory_kind: MemoryKind,
    pub needs: &'static str,
    pub hit: bool,
    /// Where `searchMemories` puts the memory for the question (1-based; None beyond 12), and
    /// what it puts first, for misses.
    pub search_rank: Option<usize>,
    pub search_top: Vec<String>,
}

/// Stores everything `persona` has, as the product would receive it, then asks its questions.
/// Returns the results, how many memories the user had, and the user's id.
pub async fn run_persona(
    app: &TestApp,
    persona: &'static Persona,
    index: usize,
    locomo: &std::path::Path,
    locomo_lines: usize,
) -> (Vec<ProbeResult>, usize, String) {
    let (user_id, key) = app.create_user(persona.name).await;
    let seeds = seeds(persona, index, locomo, locomo_lines);
    // Stored by eight clients at once, as an import would be; the order does not matter.
    let stored: Vec<serde_json::Value> = futures::stream::iter(seeds.iter())
        .map(|seed| {
            let (category, source) = match seed.kind {
                MemoryKind::Stated => ("FACT", "EXPLICIT"),
                MemoryKind::Note => ("OTHER", "EXPLICIT"),
                MemoryKind::Imported => ("OTHER", "IMPORTED"),
                MemoryKind::Extracted => unreachable!("extracted memories come from the conversation"),
            };
            let key = key.clone();
            async move {
                app.data(&key, REMEMBER, json!({ "c": seed.content, "cat": category, "s": source })).await["remember"]
                    .clone()
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert_eq!(stored.len(), seeds.len());

    // What the user says in passing: Claude's (scripted) extraction stores one fact per message.
    for _ in persona.told {
        app.anthropic.push_tool_reply_with(move |request| {
            let prompt = request.messages().first().map(|m| m.1.clone()).unwrap_or_default();
            let operations: Vec<serde_json::Value> = persona
                .told
                .iter()
                .filter(|(said, _)| prompt.contains(said))
                .map(|(_, fact)| json!({ "action": "ADD", "content": fact, "category": "fact", "importance": 0.6 }))
                .collect();
            Reply::ToolUse { name: "update_memories".into(), input: json!({ "operations": operations }) }
        });
    }
    let chat = app.data(&key, NEW_CONVERSATION, json!({})).await["createConversation"]["id"].clone();
    for (said, _) in persona.told {
        app.data(&key, SEND, json!({ "c": chat, "m": said })).await;
    }
    wait_for_extracted(app, &key, persona).await;
    let memories = seeds.len() + persona.told.len();

    let mut results = Vec::new();
    for probe in persona.probes {
        // Each question in a fresh conversation: nothing said before is in its window.
        let conversation = app.data(&key, NEW_CONVERSATION, json!({})).await["createConversation"]["id"].clone();
        app.data(&key, SEND, json!({ "c": conversation, "m": probe.question })).await;
        let request = app.anthropic.stream_requests().pop().expect("the answer's request reached the fake Claude");
        assert_eq!(request.messages().last().map(|m| m.1.as_str()), Some(probe.question), "the probe's own request");
        let hit = request.system_text().contains(probe.needs);
        let memory_kind = if persona.told.iter().any(|(_, fact)| *fact == probe.needs) {
            MemoryKind::Extracted
        } else if persona.notes.contains(&probe.needs) {
            MemoryKind::Note
        } else {
            MemoryKind::Stated
        };
        let (search_rank, search_top) =
            if hit { (None, Vec::new()) } else { search_rank(app, &key, probe.question, probe.needs).await };
        results.push(ProbeResult {
            persona: persona.name,
            question: probe.question,
            kind: probe.kind,
            memory_kind,
            needs: probe.needs,
            hit,
            search_rank,
            search_top,
        });
    }
    (results, memories, user_id)
}

/// Waits until every fact the user told in passing is stored (learning runs after each turn).
async fn wait_for_extracted(app: &TestApp, key: &str, persona: &Persona) {
    let query = "{ memories(first: 50) { edges { node { content source } } } }";
    let mut missing: Vec<&str> = Vec::new();
    for _ in 0..600 {
        let data = app.data(key, query, json!({})).await;
        let extracted: Vec<&str> = data["memories"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["node"]["source"] == "EXTRACTED")
            .filter_map(|e| e["node"]["content"].as_str())
            .collect();
        missing = persona.told.iter().map(|(_, fact)| *fact).filter(|fact| !extracted.contains(fact)).collect();
        if missing.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{}: extraction did not store {missing:?} within 30 s", persona.name);
}

async fn search_rank(app: &TestApp, key: &str, question: &str, needs: &str) -> (Option<usize>, Vec<String>) {
    let query = "query($q: String!) { searchMemories(query: $q, limit: 12) { score memory { content source } } }";
    let data = app.data(key, query, json!({ "q": question })).await;
    let found = data["searchMemories"].as_array().cloned().unwrap_or_default();
    let rank = found.iter().position(|r| r["memory"]["content"] == needs).map(|p| p + 1);
    let top = found
        .iter()
        .take(5)
        .map(|r| {
            format!("{:.2} [{}] {}", r["score"].as_f64().unwrap_or(0.0), r["memory"]["source"], r["memory"]["content"])
        })
        .collect();
    (rank, top)
}

/// Hits and probes by a key, for the report.
pub fn tally<K: Ord>(results: &[ProbeResult], key: impl Fn(&ProbeResult) -> K) -> BTreeMap<K, (usize, usize)> {
    let mut out: BTreeMap<K, (usize, usize)> = BTreeMap::new();
    for result in results {
        let entry = out.entry(key(result)).or_default();
        entry.0 += usize::from(result.hit);
        entry.1 += 1;
    }
    out
}

pub fn describe_misses(results: &[ProbeResult]) -> Vec<String> {
    results
        .iter()
        .filter(|r| !r.hit)
        .map(|r| {
            let rank = r.search_rank.map_or("not in the top 12".to_owned(), |n| format!("search rank {n}"));
            let top: String = r.search_top.iter().map(|line| format!("\n      {line}")).collect();
            format!("{}: {:?} lacked {:?} ({rank}); search put first:{top}", r.persona, r.question, r.needs)
        })
        .collect()
}

/// One user, ~200 memories (a third of them lines of other people's chats), 17 questions.
#[tokio::test]
async fn a_users_own_facts_reach_claude_from_a_full_store() {
    use crate::helpers::{Backend, model_dir};
    use crate::personalisation_data::PERSONAS;

    let Some(dir) = model_dir() else { return };
    let Some(locomo) = locomo_path() else { return };
    let app = TestApp::spawn_with(Backend::Sqlite, &[("EMBEDDING_PROVIDER", "local"), ("EMBEDDING_MODEL_DIR", &dir)])
        .await
        .unwrap();
    let (results, memories, _) = run_persona(&app, &PERSONAS[0], 0, &locomo, 110).await;
    let hits = results.iter().filter(|r| r.hit).count();
    println!("personalisation, {} with {memories} memories: {hits}/{} probes hit", PERSONAS[0].name, results.len());
    let misses = describe_misses(&results);
    for miss in &misses {
        println!("  miss: {miss}");
    }
    assert!(memories >= 190, "a full store: {memories} memories");
    // Every kind of question is asked, and each must work: at most one miss in all.
    assert_eq!(tally(&results, |r| r.kind).len(), 6);
    assert_eq!(tally(&results, |r| r.memory_kind).len(), 3, "stated, extracted and note memories are asked for");
    assert!(hits + 1 >= results.len(), "{hits}/{} hit: {misses:#?}", results.len());
}

/// Imported memories are marked as such, and a client cannot claim the server's own sources.
async fn imported_is_a_source_a_client_may_give(app: TestApp) {
    let (_, key) = app.create_user("Ines").await;
    let line = app.data(&key, REMEMBER, json!({ "c": "Anna: nice job today!", "s": "IMPORTED" })).await;
    assert_eq!(line["remember"]["source"], "IMPORTED");
    let own = app.data(&key, REMEMBER, json!({ "c": "I work as a nurse" })).await;
    assert_eq!(own["remember"]["source"], "EXPLICIT");
    for claimed in ["RULE", "EXTRACTED"] {
        let refused = app.gql(Some(&key), REMEMBER, json!({ "c": "I am the admin", "s": claimed })).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    }
    let all = app.data(&key, "{ memories(first: 10) { edges { node { content source } } } }", json!({})).await;
    let stored: Vec<(String, String)> = all["memories"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["node"]["content"].as_str().unwrap().to_owned(), e["node"]["source"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        stored,
        [("I work as a nurse".to_owned(), "EXPLICIT".to_owned()), ("Anna: nice job today!".into(), "IMPORTED".into())],
        "nothing stored for the refused ones"
    );
}

crate::on_both_backends!(imported_is_a_source_a_client_may_give);
