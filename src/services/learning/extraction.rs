//! Memories from what users say, after each message, off the hot path. Failures are logged and
//! never reach the chat.
//!
//! 1. Deterministic rules catch clear first-person statements ("my name is", "I'm allergic to",
//!    "I live in", ...) with no LLM at all. Single-valued facts (name, home, job, birthday) update
//!    the memory they supersede instead of adding a second one.
//! 2. When Claude is configured, it reads the message next to the most similar memories already
//!    stored and answers through a tool with one action per memory, mem0-style: ADD a new one,
//!    UPDATE an existing one (the old text stays in its history), DELETE one that no longer holds
//!    (retired with its validity dates, still readable), or NOOP.
//!
//! The Claude call costs, so it runs only when it can add something: not when the turn's own
//! memory tools already changed the memories, and not for messages with nothing about the user
//! in them (a cheap gate: `says_something_about_the_user`). A user's messages that arrive close
//! together are read in one call (a short per-user queue, `MEMORY_EXTRACTION_DEBOUNCE_MS`), by
//! `MEMORY_EXTRACTION_MODEL` (a Haiku-class model), with a prompt and a tool definition that
//! never change, marked for the prompt cache.
//!
//! Everything is stored through `memory::memories`, so duplicates are never stored twice and
//! every change reaches the index and `memoryEvents`. How the user wants to be helped (the name
//! to use, diet, units, language) is a preference (`signals::stated_preferences`), not a memory:
//! each statement has one owner, and the prompt states it once.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use entity::enums::{MemoryCategory, MemorySource};
use entity::{memory, message, prelude::*};
use regex::Regex;
use sea_orm::{ColumnTrait, QueryFilter};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::oneshot;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::llm::{ChatMessage, MessagesRequest, Role, SystemBlock, Tool, ToolChoice};
use crate::services::learning::signals;
use crate::services::memory::memories::{self, MemoryChanges, NewMemory};
use crate::services::memory::retrieval::{self, RELATED_MEMORIES, ScoredMemory};
use crate::state::AppState;

/// A memory a rule found in a message.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub content: String,
    pub category: MemoryCategory,
    pub importance: f64,
    /// For single-valued facts, how every memory of this kind starts ("Lives in "): a new one
    /// replaces the old.
    pub supersedes: Option<&'static str>,
}

struct Rule {
    pattern: Regex,
    /// How the memory reads, with `{}` for what the pattern captured.
    template: &'static str,
    category: MemoryCategory,
    importance: f64,
    single_valued: bool,
}

/// What a capture may hold: up to the end of the clause.
const CLAUSE: &str = r"([^.!?;\n]{1,80}?)\s*(?:[.!?;\n]|,\s*(?:and|but|so)\b|\s+(?:and|but)\s+i\b|$)";

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |pattern: &str, template, category, importance, single_valued| Rule {
        pattern: Regex::new(&format!(r"(?i)\b{pattern}{CLAUSE}")).expect("extraction rules are valid regexes"),
        template,
        category,
        importance,
        single_valued,
    };
    use MemoryCategory::{Fact, Preference};
    vec![
        rule(r"my name is\s+", "Name: {}", Fact, 0.9, true),
        rule(r"i(?:'m|’m| am) (?:severely |very )?allergic to\s+", "Allergic to {}", Fact, 1.0, false),
        rule(r"i (?:now )?live in\s+", "Lives in {}", Fact, 0.8, true),
        rule(r"i (?:really )?prefer\s+", "Prefers {}", Preference, 0.7, false),
        rule(r"i (?:now )?work (?:as|at|for)\s+", "Works as/at {}", Fact, 0.7, true),
        rule(r"my birthday is(?: on)?\s+", "Birthday: {}", Fact, 0.8, true),
    ]
});

/// The first `most` distinct memories the rules find in `message` (rule by rule, in message
/// order). Stops there: a message of thousands of "I prefer ..." sentences costs no more than
/// one of `most`.
pub fn candidates(message: &str, most: usize) -> Vec<Candidate> {
    let mut found: Vec<Candidate> = Vec::new();
    for rule in RULES.iter() {
        for captures in rule.pattern.captures_iter(message) {
            if found.len() >= most {
                return found;
            }
            let Some(value) = captures.get(1).map(|m| m.as_str().trim().trim_end_matches(',')) else { continue };
            if value.is_empty() {
                continue;
            }
            let content = rule.template.replace("{}", value);
            let supersedes = rule.single_valued.then(|| rule.template.trim_end_matches("{}"));
            if !found.iter().any(|c| c.content.eq_ignore_ascii_case(&content)) {
                found.push(Candidate { content, category: rule.category, importance: rule.importance, supersedes });
            }
        }
    }
    found
}

/// What the chat turn learned about the message by answering it.
#[derive(Debug, Default)]
pub struct TurnFindings {
    /// The memories found related to the message (best first).
    pub related: Vec<ScoredMemory>,
    /// Whether Claude's memory tools stored, changed or retired a memory during the turn.
    pub memory_changed: bool,
}

/// What the turn found, once it has ended. When it ends before its context was assembled (the
/// sender is dropped), extraction searches by itself.
pub type Related = oneshot::Receiver<TurnFindings>;

/// What the rules find in a user's message, stored.
pub async fn learn_by_rules(state: &AppState, message: &message::Model) {
    // A message of many "I prefer ..." sentences must not become as many memories.
    let most = state.config.limits.quotas.extracted_memories_per_message;
    for candidate in candidates(&message.content, most) {
        if let Err(error) = store_rule_candidate(state, message.user_id, message.id, &candidate).await {
            tracing::warn!(error = format!("{error:#}"), "could not store a memory a rule found");
        }
    }
}

/// Whether a message may tell something lasting about its writer. What surely does not: two words
/// or fewer ("thanks!"), questions that start like a question ("and in Python?", "what does my
/// brother do?": asking about what is stored adds nothing to it), and requests ("explain the
/// borrow checker"). A statement with a first person or a possessive does, as does any other
/// statement of three words or more ("Declan is coming home for Christmas!"), a question that
/// is not phrased as one ("any tips for my first marathon?") and anything not in English (the
/// cues here are English).
pub fn says_something_about_the_user(message: &str) -> bool {
    static POSSESSIVE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(?:my|mine|myself|our|ours|we're|we've|i'm|i’m|i've|i’ve)\b")
            .expect("the gate's patterns are valid")
    });
    static FIRST_PERSON: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)(?:^|[^a-z'’])(?:i|we)\s+\w").expect("the gate's patterns are valid"));
    static REQUEST: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)^(?:tell|explain|write|show|give|help|list|translate|summari[sz]e|make|find|describe|compare|suggest|recommend|please|can|could|would|thanks|thank|ok|okay|great|cool|nice|and|so|what|how|why|which|who|when|where)\b",
        )
        .expect("the gate's patterns are valid")
    });
    static QUESTION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)^(?:what|what's|whats|which|who|who's|whom|whose|when|where|where's|why|how|how's|is|are|do|does|did|can|could|should|would|will)\b",
        )
        .expect("the gate's patterns are valid")
    });
    if message.split_whitespace().count() <= 2 {
        return false;
    }
    if signals::language(message).is_some_and(|language| language != "English") {
        return true;
    }
    message.split_inclusive(['.', '!', '?', '\n']).map(str::trim).filter(|s| !s.is_empty()).any(|sentence| {
        if sentence.ends_with('?') {
            POSSESSIVE.is_match(sentence) && !QUESTION.is_match(sentence)
        } else {
            POSSESSIVE.is_match(sentence)
                || FIRST_PERSON.is_match(sentence)
                || (sentence.split_whitespace().count() >= 3 && !REQUEST.is_match(sentence))
        }
    })
}

/// Why Claude is not asked about a message, if it is not.
fn skip_reason(state: &AppState, message: &str, findings: Option<&TurnFindings>) -> Option<&'static str> {
    if state.config.anthropic.api_key.is_none() || !state.config.memory_extraction_llm {
        return Some("disabled");
    }
    if findings.is_some_and(|f| f.memory_changed) {
        return Some("saved_by_tools");
    }
    if !says_something_about_the_user(message) {
        return Some("nothing_about_the_user");
    }
    None
}

/// Queues a user's message for Claude's extraction when it can add something. The receiver
/// answers once the batch the message went into has been read; `None` when Claude is not asked.
pub fn queue_for_claude(
    state: &AppState,
    message: &message::Model,
    findings: Option<TurnFindings>,
) -> Option<oneshot::Receiver<()>> {
    if let Some(reason) = skip_reason(state, &message.content, findings.as_ref()) {
        metrics::counter!("memory_extraction_skipped_total", "reason" => reason).increment(1);
        return None;
    }
    let (done, finished) = oneshot::channel();
    let queued =
        Queued { message_id: message.id, text: message.content.clone(), related: findings.map(|f| f.related), done };
    {
        let mut queues = QUEUES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match queues.get_mut(&message.user_id) {
            Some(queue) if queue.len() >= MAX_QUEUED => {
                metrics::counter!("memory_extraction_skipped_total", "reason" => "queue_full").increment(1);
                tracing::warn!("too many messages wait for memory extraction; this one is left to the rules");
                return None;
            }
            Some(queue) => queue.push(queued),
            None => {
                queues.insert(message.user_id, vec![queued]);
                let (state, user_id) = (state.clone(), message.user_id);
                tokio::spawn(extract_batches(state, user_id).in_current_span());
            }
        }
    }
    Some(finished)
}

/// A message waiting for extraction.
struct Queued {
    message_id: Uuid,
    text: String,
    related: Option<Vec<ScoredMemory>>,
    done: oneshot::Sender<()>,
}

/// Messages per extraction call at most.
const MAX_BATCH: usize = 8;
/// Messages of one user that may wait; beyond, the rules alone learn from a message.
const MAX_QUEUED: usize = 32;

/// The messages waiting, per user; a user is in it while a worker (`extract_batches`) runs for
/// them. Keyed by user id, which is unique across every app in the process.
static QUEUES: LazyLock<Mutex<HashMap<Uuid, Vec<Queued>>>> = LazyLock::new(Mutex::default);

/// Reads a user's waiting messages in batches: waits a moment for more to arrive, takes up to
/// `MAX_BATCH`, asks Claude once; ends when none are left. It takes no lock: the learning of the
/// batch's first message holds the user's learning lock while it waits for the batch.
async fn extract_batches(state: AppState, user_id: Uuid) {
    /// Should the worker end abnormally (a panic), the user's queue goes with it: the messages
    /// in it are answered (their senders dropped) and the next message starts a new worker.
    struct Leaving(Option<Uuid>);
    impl Drop for Leaving {
        fn drop(&mut self) {
            if let Some(user_id) = self.0.take() {
                QUEUES.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&user_id);
            }
        }
    }
    let mut leaving = Leaving(Some(user_id));
    loop {
        if !state.config.memory_extraction_debounce.is_zero() {
            tokio::time::sleep(state.config.memory_extraction_debounce).await;
        }
        let batch: Vec<Queued> = {
            let mut queues = QUEUES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let Some(queue) = queues.get_mut(&user_id) else {
                leaving.0 = None;
                return;
            };
            if queue.is_empty() {
                queues.remove(&user_id);
                leaving.0 = None;
                return;
            }
            let take = queue.len().min(MAX_BATCH);
            queue.drain(..take).collect()
        };
        metrics::histogram!("memory_extraction_batch_messages").record(batch.len() as f64);
        if let Err(error) = extract_with_claude(&state, user_id, &batch).await {
            tracing::warn!(
                error = format!("{error:#}"),
                messages = batch.len(),
                "memory extraction by Claude failed; the rules' memories stand"
            );
        }
        for queued in batch {
            let _ = queued.done.send(());
        }
    }
}

async fn store_rule_candidate(
    state: &AppState,
    user_id: Uuid,
    message_id: Uuid,
    candidate: &Candidate,
) -> anyhow::Result<()> {
    if let Some(prefix) = candidate.supersedes {
        // The memory this one supersedes: same kind of single-valued fact, still holding.
        let previous =
            Memory::find_live(user_id).filter(memory::Column::Content.starts_with(prefix)).one(&state.db).await?;
        if let Some(previous) = previous {
            if !previous.content.eq_ignore_ascii_case(&candidate.content) {
                let changes = MemoryChanges { content: Some(&candidate.content), category: None, importance: None };
                memories::update(state, user_id, previous.id, changes).await?;
            }
            return Ok(());
        }
    }
    let new = NewMemory {
        content: &candidate.content,
        category: Some(candidate.category),
        importance: Some(candidate.importance),
        source: MemorySource::Rule,
        source_message_id: Some(message_id),
    };
    memories::remember(state, user_id, new).await?;
    Ok(())
}

const TOOL_NAME: &str = "update_memories";

const EXTRACTION_PROMPT: &str = "You maintain the long-term memory of a personal assistant about its user. \
Read the user's newest messages and decide what, if anything, is worth remembering across conversations: \
lasting facts about the user and their world, preferences, goals, relationships and notable events. Ignore \
small talk, questions with nothing about the user, and things only relevant to the current task. \
Write each memory as a short third-person statement (\"Has a daughter named Mia\"). \
Compare with the numbered memories already stored and choose one action per memory: \
ADD a new memory; UPDATE an existing one (give its number and the new full text) when a message refines or \
changes it; DELETE an existing one (give its number) when a message says it no longer holds; NOOP when it \
is already stored as it is. When messages disagree, the later one holds. Never store the same thing twice. \
Also list preferences the messages state about how the user wants to be helped (diet, language, units, ...). \
Call the tool once; empty lists are fine.";

/// Built once: the same bytes in every request, for the prompt cache.
static EXTRACTION_TOOL: LazyLock<Tool> = LazyLock::new(|| {
    Tool::new(
        TOOL_NAME,
        "Record the memory changes these messages call for.",
        json!({
            "type": "object",
            "properties": {
                "operations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "action": { "type": "string", "enum": ["ADD", "UPDATE", "DELETE", "NOOP"] },
                            "content": { "type": "string", "description": "The memory's full text (ADD, UPDATE)." },
                            "category": {
                                "type": "string",
                                "enum": ["fact", "preference", "goal", "relationship", "event", "condition"],
                                "description": "condition: a standing condition that shapes what suits the user (health, mobility, diet, who they care for, how they get around)."
                            },
                            "importance": {
                                "type": "number", "minimum": 0, "maximum": 1,
                                "description": "0 trivia, 0.5 useful, 1 must never be forgotten (health, safety)."
                            },
                            "existing": {
                                "type": "integer",
                                "description": "Number of the stored memory concerned (UPDATE, DELETE, NOOP)."
                            }
                        },
                        "required": ["action"]
                    }
                },
                "preferences": {
                    "type": "array",
                    "description": "How the user wants to be helped, when the message says so (e.g. diet, language, units).",
                    "items": {
                        "type": "object",
                        "properties": {
                            "key": { "type": "string", "description": "snake_case name, e.g. diet, language, units" },
                            "value": { "type": "string" },
                            "confidence": { "type": "number", "minimum": 0, "maximum": 1 }
                        },
                        "required": ["key", "value"]
                    }
                }
            },
            "required": ["operations"]
        }),
    )
    // The last (only) tool: the definition is a prefix the prompt cache can keep.
    .cached()
});

/// One action Claude chose.
#[derive(Debug, Deserialize, PartialEq)]
pub struct Operation {
    pub action: String,
    pub content: Option<String>,
    pub category: Option<String>,
    pub importance: Option<f64>,
    pub existing: Option<usize>,
}

/// A preference Claude noticed.
#[derive(Debug, Deserialize)]
struct ProposedPreference {
    key: String,
    value: String,
    #[serde(default)]
    confidence: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Operations {
    #[serde(default)]
    operations: Vec<Operation>,
    #[serde(default)]
    preferences: Vec<ProposedPreference>,
}

fn category(name: Option<&str>) -> Option<MemoryCategory> {
    Some(match name?.to_ascii_lowercase().as_str() {
        "fact" => MemoryCategory::Fact,
        "preference" => MemoryCategory::Preference,
        "goal" => MemoryCategory::Goal,
        "relationship" => MemoryCategory::Relationship,
        "event" => MemoryCategory::Event,
        "condition" => MemoryCategory::Condition,
        _ => return None,
    })
}

async fn extract_with_claude(state: &AppState, user_id: Uuid, batch: &[Queued]) -> anyhow::Result<()> {
    let Some(last) = batch.last() else { return Ok(()) };
    let message_id = last.message_id;
    // The memories related to any message of the batch, each once, best first per message.
    let mut similar: Vec<ScoredMemory> = Vec::new();
    for queued in batch {
        let found = match &queued.related {
            Some(found) => found.clone(),
            None => retrieval::search(state, user_id, &queued.text, RELATED_MEMORIES).await?,
        };
        for memory in found {
            if !similar.iter().any(|m| m.memory.id == memory.memory.id) {
                similar.push(memory);
            }
        }
    }
    let mut known = String::new();
    for (n, found) in similar.iter().enumerate() {
        known.push_str(&format!("[{}] {}\n", n + 1, found.memory.content));
    }
    if known.is_empty() {
        known.push_str("(none)\n");
    }
    let heading =
        if batch.len() == 1 { "The user's newest message" } else { "The user's newest messages, oldest first" };
    let mut prompt = format!("Memories already stored:\n{known}\n{heading}:");
    for queued in batch {
        prompt.push_str(&format!("\n<message>\n{}\n</message>", queued.text));
    }
    let mut request = MessagesRequest::new(
        state.config.memory_extraction_model.clone(),
        1024,
        vec![ChatMessage::text(Role::User, prompt)],
    );
    request.purpose = "extraction";
    request.user = Some(user_id);
    request.system = vec![SystemBlock::text(EXTRACTION_PROMPT).cached()];
    request.tools = vec![EXTRACTION_TOOL.clone()];
    request.tool_choice = Some(ToolChoice::Tool { name: TOOL_NAME.into() });
    request.metadata = Some(json!({ "user_id": user_id }));
    let reply = state.llm.complete(&request).await?;
    let Some(call) = reply.tool_calls.into_iter().find(|c| c.name == TOOL_NAME) else {
        tracing::info!("Claude proposed no memory changes");
        return Ok(());
    };
    let operations: Operations = serde_json::from_value(call.input)?;
    for operation in operations.operations {
        let action = match operation.action.to_ascii_uppercase().as_str() {
            "ADD" => "add",
            "UPDATE" => "update",
            "DELETE" => "delete",
            "NOOP" => "noop",
            _ => "unknown",
        };
        metrics::counter!("memory_extraction_operations_total", "action" => action).increment(1);
        if let Err(error) = apply(state, user_id, message_id, &similar, &operation).await {
            // The action only: memory text stays out of logs.
            tracing::warn!(
                error = format!("{error:#}"),
                action = operation.action,
                "a memory change Claude proposed was not applied"
            );
        }
    }
    for proposed in operations.preferences {
        // Inferred, never above what a clear rule gives: the user can confirm it.
        let strength = proposed.confidence.unwrap_or(0.6).clamp(0.1, 0.8);
        if let Err(error) =
            super::preferences::infer(&state.db, user_id, &proposed.key, &proposed.value, strength).await
        {
            tracing::warn!(
                error = format!("{error:#}"),
                key = proposed.key,
                "a preference Claude proposed was not stored"
            );
        }
    }
    Ok(())
}

/// Applies one of Claude's actions. Numbers refer to `similar` (1-based); an action naming a
/// memory that is not there, or missing its text, is refused.
async fn apply(
    state: &AppState,
    user_id: Uuid,
    message_id: Uuid,
    similar: &[ScoredMemory],
    operation: &Operation,
) -> anyhow::Result<()> {
    let target = || {
        operation
            .existing
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| similar.get(i))
            .map(|found| found.memory.id)
            .ok_or_else(|| anyhow::anyhow!("no stored memory has number {:?}", operation.existing))
    };
    let content = || {
        operation
            .content
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| anyhow::anyhow!("{} without content", operation.action))
    };
    let importance = operation.importance.map(|i| i.clamp(0.0, 1.0));
    match operation.action.to_ascii_uppercase().as_str() {
        "ADD" => {
            let new = NewMemory {
                content: content()?,
                category: category(operation.category.as_deref()),
                importance,
                source: MemorySource::Extracted,
                source_message_id: Some(message_id),
            };
            memories::remember(state, user_id, new).await?;
        }
        "UPDATE" => {
            let changes = MemoryChanges {
                content: Some(content()?),
                category: category(operation.category.as_deref()),
                importance,
            };
            memories::update(state, user_id, target()?, changes).await?;
        }
        "DELETE" => {
            memories::retire(state, user_id, target()?).await?;
        }
        "NOOP" => {}
        other => anyhow::bail!("unknown action {other}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(message: &str) -> Vec<String> {
        candidates(message, usize::MAX).into_iter().map(|c| c.content).collect()
    }

    #[test]
    fn clear_statements_become_memories() {
        assert_eq!(
            contents(
                "Hi! My name is Ada Lovelace and I'm allergic to shellfish. I live in Porto, but I prefer the mountains."
            ),
            ["Name: Ada Lovelace", "Allergic to shellfish", "Lives in Porto", "Prefers the mountains"]
        );
        assert_eq!(contents("i work as a nurse at night."), ["Works as/at a nurse at night"]);
    }

    #[test]
    fn every_rule_fires_and_single_valued_facts_supersede() {
        // One statement per rule of the table, in its order.
        let cases = [
            ("my name is Ada", "Name: Ada", true),
            ("I am severely allergic to peanuts", "Allergic to peanuts", false),
            ("I now live in Lisbon", "Lives in Lisbon", true),
            ("I really prefer trains", "Prefers trains", false),
            ("I work at the harbour", "Works as/at the harbour", true),
            ("my birthday is on 3 May", "Birthday: 3 May", true),
        ];
        assert_eq!(cases.len(), RULES.len(), "a rule without a case here");
        for (message, memory, single_valued) in cases {
            let found = candidates(message, usize::MAX);
            assert_eq!(found.len(), 1, "{message}: {found:?}");
            assert_eq!(found[0].content, memory);
            // A single-valued fact names the prefix its successor replaces.
            assert_eq!(found[0].supersedes.is_some_and(|p| memory.starts_with(p)), single_valued, "{message}");
        }
    }

    #[test]
    fn a_flood_of_statements_gives_the_first_few() {
        let flood: String = (0..3000).map(|i| format!("I prefer item{i}. ")).collect();
        let found: Vec<String> = candidates(&flood, 5).into_iter().map(|c| c.content).collect();
        assert_eq!(found, ["Prefers item0", "Prefers item1", "Prefers item2", "Prefers item3", "Prefers item4"]);
        // Repeats do not count against the limit.
        let repeated = "I prefer tea. I prefer tea. I prefer coffee.";
        assert_eq!(contents(repeated), ["Prefers tea", "Prefers coffee"]);
        assert_eq!(candidates(repeated, 2).len(), 2);
    }

    #[test]
    fn how_to_help_is_left_to_preferences() {
        // Stated once, as a preference (`signals::stated_preferences`), not also as a memory.
        assert!(contents("please call me Addie").is_empty());
        assert!(contents("I am a Vegetarian, so no meat").is_empty());
    }

    #[test]
    fn the_gate_lets_through_what_may_tell_about_the_user() {
        for message in [
            "My sister Eva is getting married in June.",
            "I moved to Lisbon last year",
            "Any tips for my first marathon?",
            "Declan is coming home from Boston for Christmas!",
            "We're expecting a baby in March!",
            "Ich wohne mit der Katze und dem Hund in Berlin, das ist schön.",
            "Thanks! I have a dentist appointment on Friday.",
        ] {
            assert!(says_something_about_the_user(message), "{message}");
        }
        for message in [
            "thanks!",
            "ok cool",
            "and in Python?",
            "How do I reverse a list in Rust?",
            "Can I use a HashMap here?",
            "Explain the borrow checker in simple terms.",
            "Tell me a joke about cats",
            "What does my brother do for work?",
        ] {
            assert!(!says_something_about_the_user(message), "{message}");
        }
    }

    #[test]
    fn other_sentences_are_left_alone() {
        assert!(contents("What is the capital of France?").is_empty());
        assert!(contents("They live in a yellow submarine").is_empty());
        assert!(contents("Is my name important?").is_empty());
    }
}
