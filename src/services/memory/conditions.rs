//! Standing conditions: facts about the user that shape what any advice should be ("I'm type 2
//! diabetic", "my grandmother lives with us and needs a wheelchair", "I don't own a car").
//!
//! Retrieval finds a memory by what it shares with the message, and these share nothing with the
//! requests they matter to: a dessert for a party, a day out for the family, the airport scanner.
//! So a memory that reads as one is filed as `CONDITION` when it is stored, and a message that
//! asks for advice brings the user's conditions into the context whatever its words. A message
//! that asks for no advice ("what is my sister's name?") leaves them out. Both tests are word
//! patterns, kept here as data; lines imported from other people's chats are never the user's
//! conditions.

use std::sync::LazyLock;

use entity::enums::{MemoryCategory, MemorySource};
use regex::{Regex, RegexBuilder};

/// How many of the user's conditions an answer that gives advice takes at most (the most
/// important, then the newest).
pub const CONDITIONS_IN_CONTEXT: u64 = 4;

/// Health, body and diet; getting around; people the user cares for. Word stems, so "diabetic"
/// and "diabetes", "allergic" and "allergy" are one entry.
const CONDITION_PATTERNS: &[&str] = &[
    // health and the body
    r"\bdiabet",
    r"\basthma",
    r"\bepilep",
    r"\bpacemaker",
    r"\bheart (?:condition|problem|disease|failure)",
    r"\b(?:high|low) blood pressure",
    r"\bhypertensi",
    r"\ballerg",
    r"\bintoleran",
    r"\bc(?:o|oe)eliac|\bceliac",
    r"\bcrohn",
    r"\bmigraine",
    r"\barthrit",
    r"\bpregnan",
    r"\bchronic",
    r"\bdisab",
    r"\bwheelchair",
    r"\bcrutch",
    r"\bwalk(?:s|ing)? with a (?:cane|stick|walker|frame)",
    r"\b(?:hip|knee) (?:replacement|surgery|operation)",
    r"\bsurgery\b",
    r"\bhearing aid",
    r"\bdeaf",
    r"\bblind",
    r"\b(?:short|long|near|far)-?sighted",
    r"\bdyslex",
    r"\bmedication",
    r"\bshould avoid",
    r"\bcan(?:'|’)?t (?:eat|drink|swim|walk|climb|lift|drive)",
    // diet
    r"\bvegan\b",
    r"\bvegetarian",
    r"\bhalal\b",
    r"\bkosher\b",
    r"\bgluten",
    r"\b(?:don(?:'|’)?t|do not|never) (?:drink|eat)\b",
    // getting around
    r"\b(?:don(?:'|’)?t|do not|doesn(?:'|’)?t|does not) (?:own|have) a car",
    r"\bno car\b",
    r"\b(?:don(?:'|’)?t|do not|can(?:'|’)?t|cannot) drive",
    r"\bcycle everywhere|\bwalk everywhere|\bby bike everywhere",
    r"\bpublic transport",
    // people the user cares for
    r"\blives? with (?:us|me)\b",
    r"\b(?:i|we) care for\b",
    r"\bcarer\b|\bcaregiver",
    r"\bnewborn|\btoddler|\bbaby\b",
];

/// Asking for advice, a plan or a judgement about what suits the user.
const ADVICE_PATTERNS: &[&str] = &[
    r"\bsuggest",
    r"\brecommend",
    r"\bplan\b",
    r"\bideas?\b",
    r"\btips?\b",
    r"\badvi[cs]e",
    r"\b(?:should|could|can|may) (?:i|we)\b",
    r"\bsafe\b",
    r"\bgood idea",
    r"\b(?:ok|okay|alright) for (?:me|us)\b",
    r"\bbest way",
    r"\bhelp me\b",
    r"\bgive me\b",
    r"\bhow (?:do|can|should|would) (?:i|we)\b",
    r"\bwhat (?:to|should) (?:i |we )?(?:bring|eat|cook|make|wear|do|buy|pack)\b",
];

fn any_of(patterns: &[&str]) -> Regex {
    let joined = patterns.iter().map(|p| format!("(?:{p})")).collect::<Vec<_>>().join("|");
    RegexBuilder::new(&joined).case_insensitive(true).build().expect("condition patterns are valid regexes")
}

static CONDITION: LazyLock<Regex> = LazyLock::new(|| any_of(CONDITION_PATTERNS));
static ADVICE: LazyLock<Regex> = LazyLock::new(|| any_of(ADVICE_PATTERNS));

/// The category a new memory is filed under: the one asked for, except that a plain fact that
/// reads as a standing condition of the user becomes `CONDITION`.
pub fn file_under(requested: Option<MemoryCategory>, source: MemorySource, content: &str) -> MemoryCategory {
    match requested.unwrap_or(MemoryCategory::Fact) {
        MemoryCategory::Fact if source != MemorySource::Imported && CONDITION.is_match(content) => {
            MemoryCategory::Condition
        }
        category => category,
    }
}

/// Whether a message asks for advice, so the user's standing conditions belong in its context.
pub fn seeks_advice(message: &str) -> bool {
    ADVICE.is_match(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standing_conditions_are_filed_as_such() {
        for text in [
            "I'm type 2 diabetic and watch my sugar intake",
            "My grandmother lives with us and needs a wheelchair",
            "I cycle everywhere and don't own a car",
            "I have a pacemaker since 2019",
            "I walk with a cane after a hip replacement",
            "I'm colour blind (red-green)",
            "I had knee surgery in 2022 and should avoid running downhill",
            "I'm lactose intolerant",
            "We're vegan",
            "I can't swim",
        ] {
            assert_eq!(file_under(None, MemorySource::Explicit, text), MemoryCategory::Condition, "{text}");
        }
        for text in [
            "I teach chemistry at a high school in Osaka",
            "Yuki is a pediatrician",
            "I have a shiba inu named Kinako",
            "I collect vinyl records, mostly 1970s jazz fusion",
            "Order 500 g of copper sulfate for the crystal growing practical",
        ] {
            assert_eq!(file_under(None, MemorySource::Explicit, text), MemoryCategory::Fact, "{text}");
        }
    }

    #[test]
    fn other_peoples_lines_and_chosen_categories_are_kept() {
        let line = "Takeshi: diabetes runs in my family too, my dad has it";
        assert_eq!(file_under(None, MemorySource::Imported, line), MemoryCategory::Fact);
        let goal = "I want to stop needing my asthma inhaler";
        assert_eq!(file_under(Some(MemoryCategory::Goal), MemorySource::Explicit, goal), MemoryCategory::Goal);
        assert_eq!(file_under(None, MemorySource::Rule, "Allergic to peanuts"), MemoryCategory::Condition);
    }

    #[test]
    fn requests_for_advice_are_told_from_questions_of_fact() {
        for text in [
            "Can you suggest a dessert I could make for a party?",
            "Plan a day out for my family that everyone can join.",
            "How should I get to a meeting across town tomorrow?",
            "Is it safe for me to go through the airport security scanner?",
            "Is a steep downhill trail run a good idea for me this weekend?",
            "What should I bring for a day out on the water?",
        ] {
            assert!(seeks_advice(text), "{text}");
        }
        for text in [
            "What is my sister's name?",
            "When is my mother's birthday?",
            "Where did I grow up?",
            "What does my wife do?",
        ] {
            assert!(!seeks_advice(text), "{text}");
        }
    }
}
