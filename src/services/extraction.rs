//! Memories from what users say, without an LLM: deterministic rules catch clear first-person
//! statements ("my name is", "I'm allergic to", "I live in", ...). They run after each turn, off
//! the hot path, and store through the same path as `remember` (so nothing is stored twice).

use std::sync::LazyLock;

use entity::enums::{MemoryCategory, MemorySource};
use regex::Regex;
use uuid::Uuid;

use super::memories::{self, NewMemory};
use crate::AppState;

/// A memory a rule found in a message.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub content: String,
    pub category: MemoryCategory,
    pub importance: f64,
}

struct Rule {
    pattern: Regex,
    /// How the memory reads, with `{}` for what the pattern captured.
    template: &'static str,
    category: MemoryCategory,
    importance: f64,
}

/// What a capture may hold: up to the end of the clause.
const CLAUSE: &str = r"([^.!?;\n]{1,80}?)\s*(?:[.!?;\n]|,\s*(?:and|but|so)\b|\s+(?:and|but)\s+i\b|$)";

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |pattern: &str, template, category, importance| Rule {
        pattern: Regex::new(&format!(r"(?i)\b{pattern}{CLAUSE}")).expect("extraction rules are valid regexes"),
        template,
        category,
        importance,
    };
    vec![
        rule(r"my name is\s+", "Name: {}", MemoryCategory::Fact, 0.9),
        rule(r"(?:please\s+)?call me\s+", "Wants to be called {}", MemoryCategory::Preference, 0.9),
        rule(r"i(?:'m|’m| am) (?:severely |very )?allergic to\s+", "Allergic to {}", MemoryCategory::Fact, 1.0),
        rule(r"i(?:'m|’m| am) an?\s+(vegetarian|vegan|pescatarian)\b()", "{}", MemoryCategory::Preference, 0.9),
        rule(r"i live in\s+", "Lives in {}", MemoryCategory::Fact, 0.8),
        rule(r"i (?:really )?prefer\s+", "Prefers {}", MemoryCategory::Preference, 0.7),
        rule(r"i work (?:as|at|for)\s+", "Works as/at {}", MemoryCategory::Fact, 0.7),
        rule(r"my birthday is(?: on)?\s+", "Birthday: {}", MemoryCategory::Fact, 0.8),
    ]
});

/// The memories the rules find in `message`.
pub fn candidates(message: &str) -> Vec<Candidate> {
    let mut found: Vec<Candidate> = Vec::new();
    for rule in RULES.iter() {
        for captures in rule.pattern.captures_iter(message) {
            let Some(value) = captures.get(1).map(|m| m.as_str().trim().trim_end_matches(',')) else { continue };
            if value.is_empty() {
                continue;
            }
            let content = if rule.template == "{}" {
                // "I'm a vegetarian" → "Is vegetarian".
                format!("Is {}", value.to_lowercase())
            } else {
                rule.template.replace("{}", value)
            };
            if !found.iter().any(|c| c.content.eq_ignore_ascii_case(&content)) {
                found.push(Candidate { content, category: rule.category, importance: rule.importance });
            }
        }
    }
    found
}

/// Stores what the rules find in a user's message. Failures are logged: they never affect chat.
pub async fn remember_from_message(state: &AppState, user_id: Uuid, message_id: Uuid, message: &str) {
    for candidate in candidates(message) {
        let new = NewMemory {
            content: &candidate.content,
            category: Some(candidate.category),
            importance: Some(candidate.importance),
            source: MemorySource::Rule,
            source_message_id: Some(message_id),
        };
        if let Err(error) = memories::remember(&state.db, state.embedder.as_ref(), user_id, new).await {
            tracing::warn!(error = format!("{error:#}"), "could not store an extracted memory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(message: &str) -> Vec<String> {
        candidates(message).into_iter().map(|c| c.content).collect()
    }

    #[test]
    fn clear_statements_become_memories() {
        assert_eq!(
            contents(
                "Hi! My name is Ada Lovelace and I'm allergic to shellfish. I live in Porto, but I prefer the mountains."
            ),
            ["Name: Ada Lovelace", "Allergic to shellfish", "Lives in Porto", "Prefers the mountains"]
        );
        assert_eq!(contents("please call me Addie"), ["Wants to be called Addie"]);
        assert_eq!(contents("I am a Vegetarian, so no meat"), ["Is vegetarian"]);
        assert_eq!(contents("i work as a nurse at night."), ["Works as/at a nurse at night"]);
    }

    #[test]
    fn other_sentences_are_left_alone() {
        assert!(contents("What is the capital of France?").is_empty());
        assert!(contents("They live in a yellow submarine").is_empty());
        assert!(contents("Is my name important?").is_empty());
    }
}
