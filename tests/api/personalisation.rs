//! Personalisation in a full memory store: a user with a few hundred memories of mixed kinds —
//! facts they stated, facts Claude extracted from what they said, work notes, and imported lines
//! of chats with other people — asks questions in fresh conversations through `sendMessage`, and
//! a probe hits when the request Claude receives carries the one memory its answer needs. No
//! probe's memory is always-included context (core memories, preferences): each must be found by
//! retrieval among the others. The users and questions are in `personalisation_data.rs`.
//!
//! The always-run test here checks one user; `cargo bench --bench personalisation` runs all of
//! them with more imported lines, and the larger set of `personalisation_more.rs` after them, and
//! reports the hit rate by kind of question, with and without the memory tools (README).
//!
//! With the tools, the fake Claude is a scripted model ([`scripted_claude`]) that decides from
//! what it is sent alone — never from which memory a probe needs — whether to call
//! `search_memories`, and with which query. A probe hits with the tools when its memory is in the
//! first request of the turn, or in a `tool_result` of a later round of the same turn.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::json;

use crate::fake_anthropic::{Block, Recorded, Reply, StreamReply};
use crate::helpers::{TestApp, error_code, learned_from};
use crate::personalisation_data::{MemoryKind, Persona, QuestionKind, seeds};
use crate::personalisation_more::{Dialogue, More};

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
    /// The memory was in the first request of the turn: what the answer gets without tools.
    pub hit: bool,
    /// The scripted model called `search_memories` in the turn.
    pub searched: bool,
    /// The memory came back in a `tool_result` of a later round of the turn.
    pub found_by_search: bool,
    /// Where `searchMemories` puts the memory for the question (1-based; None beyond 12), and
    /// what it puts first, for misses.
    pub search_rank: Option<usize>,
    pub search_top: Vec<String>,
}

impl ProbeResult {
    /// A hit with the memory tools: in the prompt, or found by a search of the same turn.
    pub fn hit_with_tools(&self) -> bool {
        self.hit || self.found_by_search
    }
}

/// One user of the scenarios, as it ran.
pub struct PersonaRun {
    pub results: Vec<ProbeResult>,
    /// How many memories the user had when the first set's questions were asked.
    pub memories: usize,
    #[allow(dead_code)] // the benchmark's weight grid reads it
    pub user_id: String,
    pub key: String,
    /// The user's messages sent so far.
    pub sent: usize,
}

/// Stores everything `persona` has, as the product would receive it, then asks its questions.
pub async fn run_persona(
    app: &TestApp,
    persona: &'static Persona,
    index: usize,
    locomo: &std::path::Path,
    locomo_lines: usize,
) -> PersonaRun {
    let (user_id, key) = app.create_user(persona.name).await;
    let seeds = seeds(persona, index, locomo, locomo_lines);
    // Stored by eight clients at once, as an import would be; the order does not matter.
    let stored: Vec<serde_json::Value> = futures::stream::iter(seeds.iter())
        .map(|seed| {
            let (category, source) = match seed.kind {
                MemoryKind::Stated => ("FACT", "EXPLICIT"),
                MemoryKind::Note => ("OTHER", "EXPLICIT"),
                MemoryKind::Imported => ("OTHER", "IMPORTED"),
                MemoryKind::Extracted | MemoryKind::Said => unreachable!("these come from the conversation"),
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
    // Bursts are read in one call, so a reply may be left over for the next user's burst: each
    // knows every user's facts.
    for _ in persona.told {
        app.anthropic.push_tool_reply_with(move |request| {
            let prompt = request.messages().first().map(|m| m.1.clone()).unwrap_or_default();
            let operations: Vec<serde_json::Value> = crate::personalisation_data::PERSONAS
                .iter()
                .flat_map(|persona| persona.told)
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

    let mut run = PersonaRun { results: Vec::new(), memories, user_id, key, sent: persona.told.len() };
    for probe in persona.probes {
        let memory_kind = if persona.told.iter().any(|(_, fact)| *fact == probe.needs) {
            MemoryKind::Extracted
        } else if persona.notes.contains(&probe.needs) {
            MemoryKind::Note
        } else {
            MemoryKind::Stated
        };
        let dialogue = Dialogue { before: &[], question: probe.question, kind: probe.kind, needs: probe.needs };
        let result = ask(app, &mut run, persona.name, &dialogue, memory_kind).await;
        run.results.push(result);
    }
    run
}

/// The larger set, after the first: stores the crowded topics' memories, then asks the look-it-up
/// questions (each in a fresh conversation) and the multi-turn ones.
pub async fn run_more(app: &TestApp, run: &mut PersonaRun, persona: &'static Persona, more: &'static More) {
    for content in more.crowd {
        app.data(&run.key, REMEMBER, json!({ "c": content, "cat": "FACT", "s": "EXPLICIT" })).await;
    }
    for dialogue in more.lookups.iter().chain(more.harder).chain(more.dialogues) {
        let memory_kind = if dialogue.kind == QuestionKind::Earlier { MemoryKind::Said } else { MemoryKind::Stated };
        let result = ask(app, run, persona.name, dialogue, memory_kind).await;
        run.results.push(result);
    }
}

/// Waits until learning has read every message the user sent (so extraction calls are counted).
#[allow(dead_code)] // used by the benchmark
pub async fn settle(app: &TestApp, run: &PersonaRun) {
    learned_from(app, &run.key, run.sent).await;
}

/// Says `dialogue.before` in a fresh conversation, then asks its question, and looks at what the
/// question's turn sent to Claude.
async fn ask(
    app: &TestApp,
    run: &mut PersonaRun,
    persona: &'static str,
    dialogue: &Dialogue,
    memory_kind: MemoryKind,
) -> ProbeResult {
    let key = run.key.clone();
    let conversation = app.data(&key, NEW_CONVERSATION, json!({})).await["createConversation"]["id"].clone();
    for said in dialogue.before {
        app.data(&key, SEND, json!({ "c": conversation, "m": said })).await;
    }
    let before = app.anthropic.stream_requests().len();
    app.data(&key, SEND, json!({ "c": conversation, "m": dialogue.question })).await;
    run.sent += dialogue.before.len() + 1;
    let rounds: Vec<Recorded> = app.anthropic.stream_requests().split_off(before);
    let first = rounds.first().expect("the answer's request reached the fake Claude");
    assert_eq!(first.messages().last().map(|m| m.1.as_str()), Some(dialogue.question), "the probe's own request");
    let hit = carries(first, dialogue.needs);
    let searched = rounds.iter().any(|r| !r.tool_results().is_empty());
    let found_by_search = rounds.iter().skip(1).any(|r| found_in_results(r, dialogue.needs));
    let lookup =
        matches!(dialogue.kind, QuestionKind::LookUp | QuestionKind::LookUpHarder | QuestionKind::LookUpCrowded);
    let (search_rank, search_top) = if hit && !lookup {
        (None, Vec::new())
    } else {
        search_rank(app, &key, dialogue.question, dialogue.needs).await
    };
    ProbeResult {
        persona,
        question: dialogue.question,
        kind: dialogue.kind,
        memory_kind,
        needs: dialogue.needs,
        hit,
        searched,
        found_by_search,
        search_rank,
        search_top,
    }
}

/// Whether a request carries `needs`: in the system prompt, or in the conversation's messages.
fn carries(request: &Recorded, needs: &str) -> bool {
    request.system_text().contains(needs) || request.messages().iter().any(|(_, text)| text.contains(needs))
}

/// Whether a memory `search_memories` gave back in this request's `tool_result`s is `needs`.
fn found_in_results(request: &Recorded, needs: &str) -> bool {
    request.tool_results().iter().any(|result| {
        let content = result["content"].as_str().unwrap_or_default();
        let found: serde_json::Value = serde_json::from_str(content).unwrap_or_default();
        found["memories"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["content"].as_str().is_some_and(|c| c.contains(needs)))
    })
}

/// When the scripted Claude calls `search_memories`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchPolicy {
    /// Whenever the message asks something about the user ("my", "I", "we", ... in a question or
    /// a request), whatever the prompt holds.
    AboutTheUser,
    /// As `AboutTheUser`, but only when nothing it was given (the memories in the system prompt,
    /// the conversation so far) shares a content word with the question: the system prompt's
    /// "when what you are given below does not hold what they ask about", read literally.
    WhenThePromptLacksIt,
}

impl SearchPolicy {
    #[allow(dead_code)] // used by the benchmark
    pub fn label(self) -> &'static str {
        match self {
            SearchPolicy::AboutTheUser => "searches every question about the user",
            SearchPolicy::WhenThePromptLacksIt => "searches when no memory given shares a word with the question",
        }
    }
}

const FIRST_PERSON: &[&str] = &["i", "my", "me", "mine", "we", "our", "us", "ours", "myself"];
const REFERRING: &[&str] = &["he", "she", "it", "its", "they", "them", "their", "his", "her", "him", "that", "there"];
const ASKING: &[&str] = &[
    "what",
    "which",
    "where",
    "when",
    "who",
    "whose",
    "how",
    "why",
    "is",
    "are",
    "am",
    "do",
    "does",
    "did",
    "can",
    "could",
    "should",
    "would",
    "will",
    "tell",
    "remind",
    "suggest",
    "recommend",
    "plan",
    "give",
    "any",
    "find",
];
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "and",
    "or",
    "but",
    "of",
    "to",
    "in",
    "on",
    "at",
    "for",
    "with",
    "from",
    "by",
    "about",
    "as",
    "into",
    "up",
    "out",
    "over",
    "this",
    "these",
    "those",
    "be",
    "been",
    "was",
    "were",
    "has",
    "have",
    "had",
    "s",
    "m",
    "ll",
    "ve",
    "re",
    "d",
    "t",
    "again",
    "say",
    "said",
    "tell",
    "told",
    "you",
    "your",
    "me",
    "kind",
    "some",
    "thing",
    "now",
    "still",
    "exactly",
    "please",
    "if",
    "so",
    "than",
    "then",
    "other",
    "besides",
    "since",
    "get",
    "got",
    "going",
    "good",
    "idea",
    "ideas",
    "lately",
    "recently",
    "originally",
    "do",
    "does",
    "did",
    "doing",
];

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// The words of a text that carry its content: no function words, pronouns or question words.
fn content_words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in words(text) {
        let skip = STOPWORDS.contains(&word.as_str())
            || FIRST_PERSON.contains(&word.as_str())
            || REFERRING.contains(&word.as_str())
            || ASKING.contains(&word.as_str());
        if !skip && !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

/// A crude stem, for comparing words ("records" and "record").
fn stem(word: &str) -> &str {
    if word.len() > 3 { word.strip_suffix('s').unwrap_or(word) } else { word }
}

/// What the scripted Claude does with a streamed request, decided from the request alone: when
/// the user's message (read with the one before it, when it refers back: "Which city does he live
/// in?", "And what subject?") asks about the user, it calls `search_memories` once, with the
/// content words of what it asks (limit 10), as `policy` says; given the `tool_result`, or when it
/// does not search, it answers with a line of text that quotes nothing.
pub fn scripted_claude(policy: SearchPolicy) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    move |request: &Recorded| {
        let answer = || Reply::Stream(StreamReply::text("Here is what I can tell you."));
        if !request.allows_tools() || !request.tool_results().is_empty() {
            return answer();
        }
        let messages = request.messages();
        let users: Vec<&str> =
            messages.iter().filter(|(role, _)| role == "user").map(|(_, text)| text.as_str()).collect();
        let Some(&message) = users.last() else { return answer() };
        let own = words(message);
        let refers_back =
            own.first().is_some_and(|w| w == "and") || own.iter().any(|w| REFERRING.contains(&w.as_str()));
        let previous = if refers_back && users.len() > 1 { users[users.len() - 2] } else { "" };
        let subject = format!("{previous} {message}");
        let about_user = words(&subject).iter().any(|w| FIRST_PERSON.contains(&w.as_str()));
        let asks = message.trim_end().ends_with('?') || own.first().is_some_and(|w| ASKING.contains(&w.as_str()));
        let query = content_words(&subject);
        if !about_user || !asks || query.is_empty() {
            return answer();
        }
        if policy == SearchPolicy::WhenThePromptLacksIt {
            // What it was given: the memory lines of the system prompt, and the conversation before.
            let mut given: Vec<String> =
                request.system_text().lines().filter_map(|l| l.strip_prefix("- ")).map(str::to_owned).collect();
            given.extend(messages[..messages.len().saturating_sub(1)].iter().map(|(_, text)| text.clone()));
            let asked: Vec<String> = content_words(message).iter().map(|w| stem(w).to_owned()).collect();
            let holds = given.iter().any(|line| content_words(line).iter().any(|w| asked.iter().any(|a| a == stem(w))));
            if holds {
                return answer();
            }
        }
        let query = query.into_iter().take(8).collect::<Vec<_>>().join(" ");
        Reply::Stream(StreamReply {
            stop_reason: "tool_use",
            ..StreamReply::blocks(vec![
                Block::Text("Let me check what you told me.".into()),
                Block::tool("toolu_search", "search_memories", json!({ "query": query, "limit": 10 })),
            ])
        })
    }
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

/// One user, ~200 memories (a third of them lines of other people's chats), 17 questions; then
/// her 14 questions of the larger set, with the memory tools.
#[tokio::test]
async fn a_users_own_facts_reach_claude_from_a_full_store() {
    use crate::helpers::{Backend, model_dir};
    use crate::personalisation_data::PERSONAS;
    use crate::personalisation_more::MORE;

    let Some(dir) = model_dir() else { return };
    let Some(locomo) = locomo_path() else { return };
    let app = TestApp::spawn_with(Backend::Sqlite, &[("EMBEDDING_PROVIDER", "local"), ("EMBEDDING_MODEL_DIR", &dir)])
        .await
        .unwrap();
    let mut run = run_persona(&app, &PERSONAS[0], 0, &locomo, 110).await;
    let (results, memories) = (std::mem::take(&mut run.results), run.memories);
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

    // Then the larger set's questions for her (16 more memories on two crowded topics, look-it-up
    // and multi-turn questions), with the scripted Claude searching every question about her:
    // what the prompt lacks must come back from the search of the same turn.
    app.anthropic.set_stream_model(scripted_claude(SearchPolicy::AboutTheUser));
    run.results.clear();
    run_more(&app, &mut run, &PERSONAS[0], &MORE[0]).await;
    let more = &run.results;
    let without = more.iter().filter(|r| r.hit).count();
    let with = more.iter().filter(|r| r.hit_with_tools()).count();
    let through_search = more.iter().filter(|r| !r.hit && r.found_by_search).count();
    println!("the larger set, {}: {without}/{} in the prompt, {with} with the search", PERSONAS[0].name, more.len());
    for r in more.iter().filter(|r| !r.hit_with_tools()) {
        println!("  miss (searched: {}): {:?} lacked {:?}", r.searched, r.question, r.needs);
    }
    assert!(through_search >= 1, "no probe was answered through search_memories");
    assert!(with >= without + through_search && with + 1 >= more.len(), "{with}/{} with the tools", more.len());
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
