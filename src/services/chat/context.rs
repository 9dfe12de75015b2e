//! Context assembly: what Claude is told for an answer. One function builds it, so every path
//! (the chat stream, `sendMessage`, `contextPreview`) sends the same thing.
//!
//! The system prompt turns what was learned into instructions: persona, style instructions (the
//! style dimensions that are confident and lean to one side), preferences above a confidence
//! floor (explicit ones marked as such), core memories (importance ≥ 0.9: name, allergies, diet —
//! what must never be missed, whatever the message), top interests, then the memories relevant
//! to this message (with the user's standing conditions when it asks for advice,
//! `memory::conditions`) and the running summary. Stable parts come first and carry `cache_control`, so
//! Anthropic's prompt cache reuses them from turn to turn. The whole system prompt stays within
//! a token budget (estimated at 4 characters per token, which over-counts English a little):
//! the least relevant memories go first, then interests, then the least certain preferences.

use std::time::{Duration, Instant};

use chrono::Utc;
use entity::enums::{MemoryCategory, MessageRole, PreferenceSource};
use entity::{conversation, learned_pattern, memory, preference, prelude::*, user};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};

use super::turn::{Phase, record_phase};
use super::window;
use crate::error::AppResult;
use crate::llm::{ChatMessage, Role, SystemBlock};
use crate::services::learning::style::{self, StyleValue};
use crate::services::learning::{patterns, preferences};
use crate::services::memory::conditions;
use crate::services::memory::retrieval::{self, RELATED_MEMORIES, ScoredMemory};
use crate::state::AppState;
use crate::store::Turn;

/// Preferences below this confidence are not stated to the model.
pub const PREFERENCE_CONFIDENCE_FLOOR: f64 = 0.5;
/// Interests below this confidence are not mentioned.
pub const INTEREST_CONFIDENCE_FLOOR: f64 = 0.4;
const TOP_INTERESTS: usize = 3;

/// Long-term memories relevant to the message put in front of Claude for one answer: this many
/// when found, up to `MAX_MEMORIES_IN_CONTEXT` when those after the fifth score within
/// `CLOSE_SCORES` (a share of the best score) of it, so the cut never falls between near-equals;
/// the token budget still has the last word.
const MEMORIES_IN_CONTEXT: usize = 5;
const MAX_MEMORIES_IN_CONTEXT: usize = 8;
const CLOSE_SCORES: f64 = 0.05;
/// Memories this similar in meaning to one already in the context add nothing to it.
const DUPLICATE_SIMILARITY: f32 = 0.9;

/// Memories this important are always in the context.
pub const CORE_IMPORTANCE: f64 = 0.9;
const CORE_MEMORIES: u64 = 8;

/// The most the system prompt may take, in estimated tokens.
pub const SYSTEM_TOKEN_BUDGET: usize = 1500;

/// Estimated tokens of a text: ~4 characters per token for English prose.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

pub struct AssembledContext {
    pub system: Vec<SystemBlock>,
    pub messages: Vec<ChatMessage>,
    /// The long-term memories included, with their scores.
    pub memories: Vec<ScoredMemory>,
    /// Every memory found related to the message (best first, at most `RELATED_MEMORIES`),
    /// included or not.
    pub related: Vec<ScoredMemory>,
    /// The memories always included (importance ≥ `CORE_IMPORTANCE`).
    pub core_memories: Vec<memory::Model>,
    /// The preferences stated, with their confidence.
    pub preferences: Vec<preference::Model>,
    /// Every style dimension; those with an instruction were stated.
    pub style: Vec<StyleValue>,
    /// The interests mentioned.
    pub interests: Vec<learned_pattern::Model>,
    pub estimated_system_tokens: usize,
}

impl AssembledContext {
    /// The system prompt as one text, as Claude reads it.
    pub fn system_prompt(&self) -> String {
        self.system.iter().map(|b| b.text.as_str()).collect::<Vec<_>>().join("\n\n")
    }

    /// What an answer used, recorded on it.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "memories": self.memories.iter().map(|m| serde_json::json!({
                "id": m.memory.id, "score": m.score, "similarity": m.similarity, "keyword": m.keyword,
            })).collect::<Vec<_>>(),
            "core_memories": self.core_memories.iter().map(|m| m.id).collect::<Vec<_>>(),
            "preferences": self.preferences.iter().map(|p| serde_json::json!({
                "key": p.key, "value": p.value, "confidence": p.confidence,
            })).collect::<Vec<_>>(),
            "style": self.style.iter().filter_map(|s| s.instruction().map(|instruction| serde_json::json!({
                "dimension": s.dimension.name(), "value": s.value, "confidence": s.confidence, "instruction": instruction,
            }))).collect::<Vec<_>>(),
            "interests": self.interests.iter().map(|i| serde_json::json!({
                "topic": i.key, "confidence": i.confidence,
            })).collect::<Vec<_>>(),
            "estimated_system_tokens": self.estimated_system_tokens,
        })
    }
}

/// Builds the context for answering `query`. With `pending`, the message is not stored yet
/// (`contextPreview`) and is appended to the conversation's messages. `query_vector` gives the
/// query's embedding ([`retrieval::embed_query`], or one a turn began earlier); the SQL reads run
/// while it is awaited and searched with.
pub async fn assemble(
    state: &AppState,
    user: &user::Model,
    conversation: &conversation::Model,
    query: &str,
    pending: bool,
    query_vector: impl Future<Output = Option<Vec<f32>>>,
) -> AppResult<AssembledContext> {
    // A preview's timings are not a turn's.
    let record = |phase: Phase, took: Duration| {
        if !pending {
            record_phase(phase, took);
        }
    };
    let now = Utc::now();
    let reads = async {
        let reading = Instant::now();
        let read = tokio::try_join!(
            preferences::list(&state.db, user.id),
            style::profile(&state.db, user.id),
            patterns::top_interests(&state.db, user.id, now, TOP_INTERESTS, INTEREST_CONFIDENCE_FLOOR),
            async {
                Ok(Memory::find_live(user.id)
                    .filter(memory::Column::Importance.gte(CORE_IMPORTANCE))
                    .order_by_desc(memory::Column::Importance)
                    .order_by_desc(memory::Column::Id)
                    .limit(CORE_MEMORIES)
                    .all(&state.db)
                    .await?)
            },
            standing_conditions(state, user.id, query),
            window::recent_turns(state, conversation.id),
        );
        record(Phase::Context, reading.elapsed());
        read
    };
    let search = async {
        let query_vector = query_vector.await;
        let searching = Instant::now();
        let related =
            retrieval::search_with_vector(state, user.id, query, query_vector.as_deref(), RELATED_MEMORIES).await;
        record(Phase::Search, searching.elapsed());
        related
    };
    let (read, related) = tokio::join!(reads, search);
    let (preferences, style, mut interests, mut core_memories, standing, mut turns) = read?;
    let mut preferences: Vec<preference::Model> =
        preferences.into_iter().filter(|p| p.confidence >= PREFERENCE_CONFIDENCE_FLOOR).collect();
    // Most certain first: what the budget cuts is the least certain.
    preferences.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(a.key.cmp(&b.key)));
    let related = match related {
        Ok(memories) => memories,
        Err(error) => {
            // An answer without memories beats no answer.
            tracing::warn!(error = format!("{error:#}"), "memory search failed; answering without memories");
            Vec::new()
        }
    };
    let not_core: Vec<ScoredMemory> =
        related.iter().filter(|found| !core_memories.iter().any(|core| core.id == found.memory.id)).cloned().collect();
    let mut memories = retrieval::select_for_context(
        &not_core,
        MEMORIES_IN_CONTEXT,
        MAX_MEMORIES_IN_CONTEXT,
        CLOSE_SCORES,
        DUPLICATE_SIMILARITY,
    );
    // Advice must fit the user's standing conditions even when the request shares no word with
    // them (a dessert and "type 2 diabetic"): they join the relevant memories, after them, so the
    // token budget lets them go first.
    for condition in standing {
        if !memories.iter().any(|m| m.memory.id == condition.id) {
            memories.push(ScoredMemory { memory: condition, score: 0.0, similarity: None, keyword: 0.0 });
        }
    }

    let summary = conversation.summary.as_deref().filter(|s| !s.trim().is_empty());
    let tools = state.config.chat.memory_tools;
    let system = loop {
        let system = system_blocks(user, tools, &style, &preferences, &core_memories, &interests, &memories, summary);
        let tokens: usize = system.iter().map(|b| estimate_tokens(&b.text)).sum();
        if tokens <= SYSTEM_TOKEN_BUDGET {
            break system;
        }
        if memories.pop().is_some() || interests.pop().is_some() {
            continue;
        }
        match preferences.iter().rposition(|p| p.source != PreferenceSource::Explicit) {
            Some(i) => {
                preferences.remove(i);
            }
            None if !preferences.is_empty() => {
                preferences.pop();
            }
            None if !core_memories.is_empty() => {
                core_memories.pop();
            }
            None => break system,
        }
    };
    let estimated_system_tokens = system.iter().map(|b| estimate_tokens(&b.text)).sum();

    if pending {
        turns.push(Turn { message_id: uuid::Uuid::nil(), role: MessageRole::User, content: query.to_owned() });
    }
    Ok(AssembledContext {
        system,
        messages: to_messages(&turns),
        memories,
        related,
        core_memories,
        preferences,
        style,
        interests,
        estimated_system_tokens,
    })
}

/// The user's standing conditions when `query` asks for advice (`conditions::seeks_advice`), the
/// most important first; none otherwise.
async fn standing_conditions(state: &AppState, user_id: uuid::Uuid, query: &str) -> AppResult<Vec<memory::Model>> {
    if !conditions::seeks_advice(query) {
        return Ok(Vec::new());
    }
    Ok(Memory::find_live(user_id)
        .filter(memory::Column::Category.eq(MemoryCategory::Condition))
        .filter(memory::Column::Importance.lt(CORE_IMPORTANCE))
        .order_by_desc(memory::Column::Importance)
        .order_by_desc(memory::Column::UpdatedAt)
        .limit(conditions::CONDITIONS_IN_CONTEXT)
        .all(&state.db)
        .await?)
}

#[allow(clippy::too_many_arguments)]
fn system_blocks(
    user: &user::Model,
    memory_tools: bool,
    style: &[StyleValue],
    preferences: &[preference::Model],
    core_memories: &[memory::Model],
    interests: &[learned_pattern::Model],
    memories: &[ScoredMemory],
    summary: Option<&str>,
) -> Vec<SystemBlock> {
    let name =
        preferences.iter().find(|p| p.key == "preferred_name").map(|p| p.value.as_str()).unwrap_or(&user.display_name);
    let mut stable = format!(
        "You are a personal assistant for {name}. You remember what {name} tells you across \
         conversations and adapt to how they like to be helped. Be accurate and honest, and say \
         so when you are unsure."
    );
    if memory_tools {
        stable.push_str(
            "\n\nYou have tools for your long-term memory of the user. When what you are given below \
             does not hold what they ask about, look with search_memories before saying you do not \
             know. Save lasting facts they tell you with remember; correct or drop outdated ones \
             with update_memory or forget_memory (their ids come from search_memories). Do not \
             save small talk.",
        );
    }
    let instructions: Vec<&str> = style.iter().filter_map(StyleValue::instruction).collect();
    if !instructions.is_empty() {
        stable.push_str("\n\nHow this user likes answers (learned from their messages and ratings):");
        for instruction in instructions {
            stable.push_str(&format!("\n- {instruction}"));
        }
    }
    if !preferences.is_empty() {
        stable.push_str("\n\nThe user's preferences (follow them):");
        for preference in preferences {
            let how = match preference.source {
                PreferenceSource::Explicit => String::new(),
                _ => format!(" (inferred, confidence {:.2})", preference.confidence),
            };
            stable.push_str(&format!("\n- {}: {}{how}", preference.key, preference.value));
        }
    }
    if !core_memories.is_empty() {
        stable.push_str("\n\nWhat you always keep in mind about the user:");
        for memory in core_memories {
            stable.push_str(&format!("\n- {}", memory.content));
        }
    }
    if !interests.is_empty() {
        let topics: Vec<&str> = interests.iter().map(|i| i.key.as_str()).collect();
        stable.push_str(&format!("\n\nTopics the user often brings up: {}.", topics.join(", ")));
    }
    let mut system = vec![SystemBlock::text(stable).cached()];
    // Memories depend on the message, so they come after the cached prefix.
    if !memories.is_empty() {
        let mut block = String::from("Other things you remember about the user that may matter here:");
        for found in memories {
            block.push_str(&format!("\n- {}", found.memory.content));
        }
        system.push(SystemBlock::text(block));
    }
    if let Some(summary) = summary {
        system.push(SystemBlock::text(format!("Summary of the earlier part of this conversation:\n{summary}")));
    }
    system
}

/// Turns as Messages API messages: starting with the user, alternating roles (adjacent turns of
/// one role, e.g. after an answer that failed before any text, are joined).
fn to_messages(turns: &[Turn]) -> Vec<ChatMessage> {
    let mut messages: Vec<(Role, String)> = Vec::new();
    for turn in turns.iter().filter(|t| !t.content.trim().is_empty()) {
        let role = match turn.role {
            MessageRole::User => Role::User,
            MessageRole::Assistant => Role::Assistant,
        };
        if messages.is_empty() && role == Role::Assistant {
            continue;
        }
        match messages.last_mut() {
            Some((last_role, content)) if *last_role == role => {
                content.push_str("\n\n");
                content.push_str(&turn.content);
            }
            _ => messages.push((role, turn.content.clone())),
        }
    }
    messages.into_iter().map(|(role, content)| ChatMessage::text(role, content)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(role: MessageRole, content: &str) -> Turn {
        Turn { message_id: uuid::Uuid::now_v7(), role, content: content.into() }
    }

    #[test]
    fn messages_start_with_the_user_and_alternate() {
        let turns = [
            turn(MessageRole::Assistant, "left over from a cut window"),
            turn(MessageRole::User, "hi"),
            turn(MessageRole::Assistant, ""),
            turn(MessageRole::User, "anyone there?"),
            turn(MessageRole::Assistant, "yes"),
        ];
        let messages = to_messages(&turns);
        assert_eq!(
            messages,
            [ChatMessage::text(Role::User, "hi\n\nanyone there?"), ChatMessage::text(Role::Assistant, "yes"),]
        );
    }
}
