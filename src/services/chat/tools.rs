//! Claude's memory tools in a chat turn: `search_memories`, `remember`, `update_memory` and
//! `forget_memory`, always run for the caller and through `memory::memories` and
//! `memory::retrieval` (so changes keep their history, reach the index and fire `memoryEvents`
//! like any other). The definitions never change, so the prompt cache keeps the prefix they are
//! part of.
//!
//! Every refusal is an `is_error` result in words Claude can act on (a missing field, an id that
//! is not one of the user's memories), never a failed answer. Forgetting retires the memory (it
//! leaves search and context and stays readable with its dates): only the user deletes for good.

use std::sync::LazyLock;

use entity::enums::{MemoryCategory, MemorySource};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::AppError;
use crate::llm::{Tool, ToolCall};
use crate::services::memory::memories::{self, MemoryChanges, NewMemory};
use crate::services::memory::retrieval;
use crate::state::AppState;

pub const SEARCH_MEMORIES: &str = "search_memories";
pub const REMEMBER: &str = "remember";
pub const UPDATE_MEMORY: &str = "update_memory";
pub const FORGET_MEMORY: &str = "forget_memory";

const DEFAULT_SEARCH_LIMIT: usize = 5;
const MAX_SEARCH_LIMIT: usize = 20;

/// The tool definitions, built once: byte for byte the same in every request.
pub static MEMORY_TOOLS: LazyLock<Vec<Tool>> = LazyLock::new(|| {
    vec![
        Tool::new(
            SEARCH_MEMORIES,
            "Search your long-term memory of this user by meaning and keywords. Use it when the \
             memories in the system prompt do not hold what the user is asking about (\"what did I \
             tell you about ...\"). Returns the memories found, best first, with their ids.",
            json!({
                "type": "object",
                "properties": {
                    "query": { "type": "string", "description": "What to look for, in a few words." },
                    "limit": { "type": "integer", "minimum": 1, "maximum": MAX_SEARCH_LIMIT,
                               "description": "How many memories at most (default 5)." }
                },
                "required": ["query"]
            }),
        ),
        Tool::new(
            REMEMBER,
            "Save a lasting fact about the user that is worth knowing in later conversations \
             (who they are, people in their life, preferences, goals, events). Write it as a \
             short third-person statement (\"Has a sister named Eva\"). Not for small talk.",
            json!({
                "type": "object",
                "properties": {
                    "content": { "type": "string", "description": "The memory, one short statement." },
                    "category": { "type": "string",
                                  "enum": ["fact", "preference", "goal", "relationship", "event", "other"] },
                    "importance": { "type": "number", "minimum": 0, "maximum": 1,
                                    "description": "0 trivia, 0.5 useful (default), 1 must never be forgotten (health, safety)." }
                },
                "required": ["content"]
            }),
        ),
        Tool::new(
            UPDATE_MEMORY,
            "Replace the text of one of the user's memories that has changed or was wrong (the old \
             text is kept in its history). Take the id from search_memories.",
            json!({
                "type": "object",
                "properties": {
                    "id": { "type": "string", "description": "The memory's id, as search_memories gave it." },
                    "content": { "type": "string", "description": "The memory's new full text." }
                },
                "required": ["id", "content"]
            }),
        ),
        Tool::new(
            FORGET_MEMORY,
            "Stop using one of the user's memories that no longer holds or that the user asks you \
             to forget. Take the id from search_memories.",
            json!({
                "type": "object",
                "properties": {
                    "id": { "type": "string", "description": "The memory's id, as search_memories gave it." }
                },
                "required": ["id"]
            }),
        )
        .cached(),
    ]
});

/// What running one tool call gave.
#[derive(Clone, Debug)]
pub struct ToolOutcome {
    /// What Claude reads in the `tool_result`.
    pub for_claude: String,
    /// What the user reads: "searched memories for 'x': 3 found", "remembered: ...".
    pub summary: String,
    pub is_error: bool,
    /// Whether it stored, changed or retired a memory.
    pub changed_memory: bool,
}

impl ToolOutcome {
    fn ok(for_claude: String, summary: String, changed_memory: bool) -> Self {
        Self { for_claude, summary, is_error: false, changed_memory }
    }

    fn refused(summary: impl Into<String>, for_claude: impl Into<String>) -> Self {
        Self { for_claude: for_claude.into(), summary: summary.into(), is_error: true, changed_memory: false }
    }
}

/// Runs one of Claude's tool calls for `user_id`.
pub async fn run(state: &AppState, user_id: Uuid, message_id: Uuid, call: &ToolCall) -> ToolOutcome {
    let Some(input) = call.input.as_object() else {
        return ToolOutcome::refused(
            format!("{}: the input was not valid", call.name),
            "The tool input was not a JSON object. Call the tool again with a JSON object matching its schema.",
        );
    };
    let text = |field: &str| input.get(field).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let missing = |field: &str| {
        ToolOutcome::refused(
            format!("{}: `{field}` was missing", call.name),
            format!("`{field}` is required and must be a non-empty string. Call {} again with it.", call.name),
        )
    };
    match call.name.as_str() {
        SEARCH_MEMORIES => {
            let Some(query) = text("query") else { return missing("query") };
            let limit = match input.get("limit") {
                None | Some(Value::Null) => DEFAULT_SEARCH_LIMIT,
                Some(limit) => match limit.as_u64() {
                    Some(n) if (1..=MAX_SEARCH_LIMIT as u64).contains(&n) => n as usize,
                    _ => {
                        return ToolOutcome::refused(
                            format!("{SEARCH_MEMORIES}: the limit was not valid"),
                            format!("`limit` must be a whole number from 1 to {MAX_SEARCH_LIMIT}."),
                        );
                    }
                },
            };
            match retrieval::search(state, user_id, query, limit).await {
                Ok(found) => {
                    let memories: Vec<Value> = found
                        .iter()
                        .map(|m| {
                            json!({
                                "id": m.memory.id, "content": m.memory.content,
                                "category": m.memory.category, "remembered_on": m.memory.created_at.date_naive(),
                            })
                        })
                        .collect();
                    let n = memories.len();
                    let summary = format!("searched memories for '{query}': {n} found");
                    ToolOutcome::ok(json!({ "memories": memories }).to_string(), summary, false)
                }
                Err(error) => failed(error, SEARCH_MEMORIES, "search memories"),
            }
        }
        REMEMBER => {
            let Some(content) = text("content") else { return missing("content") };
            let category = match input.get("category").and_then(Value::as_str) {
                None => None,
                Some(name) => match category(name) {
                    Some(category) => Some(category),
                    None => {
                        return ToolOutcome::refused(
                            format!("{REMEMBER}: the category was not valid"),
                            "`category` must be one of fact, preference, goal, relationship, event, other.",
                        );
                    }
                },
            };
            let importance = input.get("importance").and_then(Value::as_f64);
            let new = NewMemory {
                content,
                category,
                importance,
                source: MemorySource::Extracted,
                source_message_id: Some(message_id),
            };
            match memories::remember(state, user_id, new).await {
                Ok(memory) => ToolOutcome::ok(
                    json!({ "id": memory.id, "content": memory.content, "status": "remembered" }).to_string(),
                    format!("remembered: {}", memory.content),
                    true,
                ),
                Err(error) => failed(error, REMEMBER, "remember"),
            }
        }
        UPDATE_MEMORY => {
            let id = match memory_id(input) {
                Ok(id) => id,
                Err(outcome) => return outcome.named(UPDATE_MEMORY),
            };
            let Some(content) = text("content") else { return missing("content") };
            let changes = MemoryChanges { content: Some(content), category: None, importance: None };
            match memories::update(state, user_id, id, changes).await {
                Ok(memory) => ToolOutcome::ok(
                    json!({ "id": memory.id, "content": memory.content, "status": "updated" }).to_string(),
                    format!("updated memory: {}", memory.content),
                    true,
                ),
                Err(AppError::NotFound(_)) => not_found(&id.to_string()).named(UPDATE_MEMORY),
                Err(error) => failed(error, UPDATE_MEMORY, "update a memory"),
            }
        }
        FORGET_MEMORY => {
            let id = match memory_id(input) {
                Ok(id) => id,
                Err(outcome) => return outcome.named(FORGET_MEMORY),
            };
            match memories::retire(state, user_id, id).await {
                Ok(memory) => ToolOutcome::ok(
                    json!({ "id": memory.id, "status": "forgotten" }).to_string(),
                    format!("forgot: {}", memory.content),
                    true,
                ),
                Err(AppError::NotFound(_)) => not_found(&id.to_string()).named(FORGET_MEMORY),
                Err(error) => failed(error, FORGET_MEMORY, "forget a memory"),
            }
        }
        other => ToolOutcome::refused(
            format!("{other}: no such tool"),
            format!(
                "There is no tool named `{other}`. The tools are {SEARCH_MEMORIES}, {REMEMBER}, {UPDATE_MEMORY} \
                 and {FORGET_MEMORY}."
            ),
        ),
    }
}

impl ToolOutcome {
    fn named(mut self, tool: &str) -> Self {
        self.summary = format!("{tool}: {}", self.summary);
        self
    }
}

/// The `id` field, as one of the user's memory ids could be.
fn memory_id(input: &serde_json::Map<String, Value>) -> Result<Uuid, ToolOutcome> {
    let Some(raw) = input.get("id").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()) else {
        return Err(ToolOutcome::refused(
            "`id` was missing",
            "`id` is required: the id of one of the user's memories, as search_memories returned it.",
        ));
    };
    Uuid::parse_str(raw).map_err(|_| not_found(raw))
}

fn not_found(id: &str) -> ToolOutcome {
    ToolOutcome::refused(
        "no such memory",
        format!("No memory of this user has the id `{id}`. Use search_memories to find the memory and its id."),
    )
}

/// A service's refusal in words for Claude; our own failures logged and told as such.
fn failed(error: AppError, tool: &str, doing: &str) -> ToolOutcome {
    match error {
        AppError::BadInput(message) => {
            ToolOutcome::refused(format!("{tool}: {message}"), format!("Refused: {message}. Correct it and try again."))
        }
        other => {
            tracing::warn!(error = format!("{other:#}"), tool, "a memory tool failed");
            ToolOutcome::refused(
                format!("could not {doing}"),
                "The memory store failed for a moment; go on without it, or try once more.",
            )
        }
    }
}

fn category(name: &str) -> Option<MemoryCategory> {
    Some(match name.to_ascii_lowercase().as_str() {
        "fact" => MemoryCategory::Fact,
        "preference" => MemoryCategory::Preference,
        "goal" => MemoryCategory::Goal,
        "relationship" => MemoryCategory::Relationship,
        "event" => MemoryCategory::Event,
        "other" => MemoryCategory::Other,
        _ => return None,
    })
}

/// The input of a tool call as it can be sent back to the API (which wants an object): input
/// that was not JSON goes back as an empty object.
pub fn input_for_replay(call: &ToolCall) -> Value {
    if call.input.is_object() { call.input.clone() } else { json!({}) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_are_stable_and_the_last_one_marks_the_cache() {
        let names: Vec<&str> = MEMORY_TOOLS.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, [SEARCH_MEMORIES, REMEMBER, UPDATE_MEMORY, FORGET_MEMORY]);
        assert!(MEMORY_TOOLS[..3].iter().all(|t| t.cache_control.is_none()));
        assert!(MEMORY_TOOLS[3].cache_control.is_some());
        let once = serde_json::to_string(&*MEMORY_TOOLS).unwrap();
        assert_eq!(once, serde_json::to_string(&*MEMORY_TOOLS).unwrap());
    }
}
