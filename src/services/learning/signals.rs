//! What a piece of text says about how its author likes to be helped, without an LLM: explicit
//! style requests ("shorter please"), implicit cues (casual or formal wording, technical
//! vocabulary, asking for clarification), the topics it is about, the kind of request, the
//! language. Pure functions, so the learning rules can be tested on their own.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// The style dimensions, each a value in 0..1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// 0 terse … 1 thorough.
    Verbosity,
    /// 0 casual … 1 formal.
    Formality,
    /// 0 plain language … 1 expert depth.
    TechnicalDepth,
    /// 0 no examples … 1 examples and code.
    Examples,
    /// 0 prose … 1 bullets and headings.
    Structure,
}

impl Dimension {
    pub const ALL: [Dimension; 5] = [
        Dimension::Verbosity,
        Dimension::Formality,
        Dimension::TechnicalDepth,
        Dimension::Examples,
        Dimension::Structure,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Verbosity => "verbosity",
            Dimension::Formality => "formality",
            Dimension::TechnicalDepth => "technical_depth",
            Dimension::Examples => "examples",
            Dimension::Structure => "structure",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// What the two ends mean, for people reading the profile.
    pub fn description(self) -> &'static str {
        match self {
            Dimension::Verbosity => "0 = short and to the point, 1 = thorough and detailed",
            Dimension::Formality => "0 = casual, 1 = formal",
            Dimension::TechnicalDepth => "0 = plain language, 1 = expert depth",
            Dimension::Examples => "0 = no examples, 1 = concrete examples and code",
            Dimension::Structure => "0 = flowing prose, 1 = bullet points and headings",
        }
    }

    /// The instruction for Claude when the value leans to one end.
    pub fn instruction(self, high: bool) -> &'static str {
        match (self, high) {
            (Dimension::Verbosity, false) => "Keep answers short and to the point; skip preambles and recaps.",
            (Dimension::Verbosity, true) => "Give thorough, detailed answers.",
            (Dimension::Formality, false) => "Use a casual, friendly tone.",
            (Dimension::Formality, true) => "Use a formal, professional tone.",
            (Dimension::TechnicalDepth, false) => "Avoid jargon and explain things in plain language.",
            (Dimension::TechnicalDepth, true) => "Go into technical depth; technical terms are welcome.",
            (Dimension::Examples, false) => "Do not add examples unless asked.",
            (Dimension::Examples, true) => "Illustrate with concrete examples (and code when it helps).",
            (Dimension::Structure, false) => "Write in prose rather than lists.",
            (Dimension::Structure, true) => "Structure answers with short headings and bullet points.",
        }
    }
}

/// One piece of evidence about a dimension: towards 1 (`up`) or 0, with a strength in
/// pseudo-observations of the Beta distribution it updates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evidence {
    pub dimension: Dimension,
    pub up: bool,
    pub strength: f64,
}

/// How strongly a kind of signal counts.
pub mod strength {
    /// "Shorter please", "too technical": a clear statement about answers in general.
    pub const STATED: f64 = 3.0;
    /// The reason given with a DOWN rating.
    pub const RATING_REASON: f64 = 2.5;
    /// A one-off request ("give me an example").
    pub const REQUEST: f64 = 1.0;
    /// What an answer rated UP looked like.
    pub const RATED_UP: f64 = 0.5;
    /// How the user writes (message length, wording).
    pub const IMPLICIT: f64 = 0.2;
}

struct StyleRule {
    pattern: Regex,
    dimension: Dimension,
    up: bool,
    strength: f64,
}

static STYLE_RULES: LazyLock<Vec<StyleRule>> = LazyLock::new(|| {
    use Dimension::*;
    use strength::{REQUEST, STATED};
    let rule = |pattern: &str, dimension, up, strength| StyleRule {
        pattern: Regex::new(&format!(r"(?i)\b(?:{pattern})")).expect("style rules are valid regexes"),
        dimension,
        up,
        strength,
    };
    vec![
        rule(
            r"too long|shorter|(?:be|keep it|more|stay) (?:short|brief|concise)|tl;?dr|less detail|fewer words|get to the point",
            Verbosity,
            false,
            STATED,
        ),
        rule(
            r"too short|more detail|elaborate|longer (?:answers|responses)|go deeper|in depth",
            Verbosity,
            true,
            STATED,
        ),
        rule(r"too formal|less formal|(?:be|more) casual|relax(?:ed)? tone", Formality, false, STATED),
        rule(r"too casual|(?:be|more) formal|more professional", Formality, true, STATED),
        rule(
            r"too technical|too complicated|simpler terms|plain (?:english|language|words)|less jargon|like i'?m (?:5|five)",
            TechnicalDepth,
            false,
            STATED,
        ),
        rule(r"more technical|technical details|too simple|dumbed down|under the hood", TechnicalDepth, true, STATED),
        rule(r"no examples|without examples|no code|skip the examples", Examples, false, STATED),
        rule(r"(?:an|some|more) examples?|show (?:me )?(?:the )?code|code (?:sample|snippet)", Examples, true, REQUEST),
        rule(r"no (?:bullet|lists)|in prose|full sentences|paragraphs", Structure, false, STATED),
        rule(r"bullet(?:s| points?)|as a list|step[- ]by[- ]step|a table", Structure, true, REQUEST),
    ]
});

/// Style requests stated in a message or a rating's reason.
pub fn stated_style(text: &str) -> Vec<Evidence> {
    STYLE_RULES
        .iter()
        .filter(|rule| rule.pattern.is_match(text))
        .map(|rule| Evidence { dimension: rule.dimension, up: rule.up, strength: rule.strength })
        .collect()
}

static CASUAL: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new([
        r"(?i)\b(?:lol|haha+|hey|yo|gonna|wanna|thx|pls|btw|omg|cool|awesome)\b",
        r"[😀-🙏🤣🥲👍🔥]",
        r"!!+",
    ])
    .expect("valid")
});
static FORMAL: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new([
        r"(?i)\b(?:dear|kindly|regards|sincerely|i would appreciate|would you be so kind|could you please)\b",
    ])
    .expect("valid")
});
static TECHNICAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)```|\b(?:api|function|compile[rd]?|algorithm|database|sql|kubernetes|docker|latency|thread|async|regex|runtime|struct|kernel|tensor|gradient|http|json|deploy|stack trace|segfault|borrow checker)\b",
    )
    .expect("valid")
});
static CLARIFICATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:what do you mean|i don'?t (?:understand|get it)|(?:i'?m|that'?s) confus|what does .{1,30} mean|can you explain (?:that|this)|in simpler)",
    )
    .expect("valid")
});

/// What the way a message is written suggests (weak evidence, many messages add up).
pub fn implicit_style(message: &str) -> Vec<Evidence> {
    use Dimension::*;
    let weak = strength::IMPLICIT;
    let mut found = Vec::new();
    let length = message.chars().count();
    if length > 600 {
        found.push(Evidence { dimension: Verbosity, up: true, strength: weak });
    } else if length < 60 {
        found.push(Evidence { dimension: Verbosity, up: false, strength: weak / 2.0 });
    }
    if CASUAL.is_match(message) {
        found.push(Evidence { dimension: Formality, up: false, strength: weak * 1.5 });
    }
    if FORMAL.is_match(message) {
        found.push(Evidence { dimension: Formality, up: true, strength: weak * 1.5 });
    }
    if TECHNICAL.find_iter(message).count() >= 2 {
        found.push(Evidence { dimension: TechnicalDepth, up: true, strength: weak * 1.5 });
    }
    if CLARIFICATION.is_match(message) {
        // The last answer lost them: simpler, and (often) shorter.
        found.push(Evidence { dimension: TechnicalDepth, up: false, strength: 1.0 });
    }
    found
}

/// What an answer the user rated UP looked like: more of the same.
pub fn liked_answer(answer: &str) -> Vec<Evidence> {
    use Dimension::*;
    let liked = strength::RATED_UP;
    let mut found = Vec::new();
    let length = answer.chars().count();
    if length > 1200 {
        found.push(Evidence { dimension: Verbosity, up: true, strength: liked });
    } else if length < 400 {
        found.push(Evidence { dimension: Verbosity, up: false, strength: liked });
    }
    if answer.contains("```") {
        found.push(Evidence { dimension: Examples, up: true, strength: liked });
    }
    let list_lines = answer
        .lines()
        .map(str::trim_start)
        .filter(|l| {
            l.starts_with("- ")
                || l.starts_with("* ")
                || l.split_once(". ").is_some_and(|(n, _)| n.parse::<u32>().is_ok())
        })
        .count();
    found.push(Evidence { dimension: Structure, up: list_lines >= 3, strength: liked / 2.0 });
    found
}

/// Topics of interest and the words that signal them.
const TOPICS: &[(&str, &[&str])] = &[
    (
        "cooking",
        &[
            "cook",
            "cooking",
            "recipe",
            "recipes",
            "bake",
            "baking",
            "dinner",
            "lunch",
            "meal",
            "kitchen",
            "vegetarian",
            "vegan",
            "pasta",
            "soup",
        ],
    ),
    (
        "fitness",
        &[
            "run", "running", "marathon", "gym", "workout", "training", "yoga", "cycling", "swim", "swimming",
            "exercise", "hike", "hiking",
        ],
    ),
    (
        "programming",
        &[
            "code",
            "coding",
            "rust",
            "python",
            "javascript",
            "bug",
            "compile",
            "api",
            "function",
            "programming",
            "software",
            "debug",
            "git",
        ],
    ),
    ("travel", &["travel", "trip", "flight", "hotel", "visit", "vacation", "holiday", "itinerary", "passport", "tour"]),
    ("music", &["music", "song", "songs", "guitar", "piano", "cello", "concert", "band", "album", "violin", "sing"]),
    (
        "finance",
        &["money", "budget", "invest", "investing", "stocks", "savings", "tax", "taxes", "mortgage", "salary", "loan"],
    ),
    (
        "health",
        &["doctor", "health", "sleep", "diet", "allergy", "allergic", "medicine", "symptoms", "headache", "therapy"],
    ),
    ("books", &["book", "books", "novel", "reading", "author", "read", "library", "poetry"]),
    ("film and tv", &["movie", "movies", "film", "films", "series", "netflix", "episode", "show", "cinema"]),
    ("gardening", &["garden", "gardening", "plants", "plant", "tomatoes", "seeds", "flowers", "soil", "compost"]),
    ("photography", &["photo", "photos", "camera", "lens", "photography", "lightroom"]),
    (
        "languages",
        &["spanish", "french", "german", "japanese", "italian", "grammar", "vocabulary", "translate", "language"],
    ),
    ("career", &["job", "interview", "resume", "cv", "career", "boss", "promotion", "colleague", "manager", "work"]),
    ("family", &["kids", "children", "daughter", "son", "wife", "husband", "parents", "mom", "dad", "family", "baby"]),
    ("pets", &["dog", "cat", "puppy", "kitten", "pet", "pets", "vet"]),
    ("science", &["physics", "chemistry", "biology", "space", "astronomy", "science", "experiment", "quantum"]),
    ("games", &["game", "games", "gaming", "chess", "playstation", "xbox", "nintendo", "puzzle"]),
    ("home", &["house", "apartment", "rent", "furniture", "renovation", "cleaning", "move", "moving"]),
];

/// The topics a message touches, with how many of its words point at each.
pub fn topics(message: &str) -> Vec<(&'static str, usize)> {
    let words: Vec<String> =
        message.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    TOPICS
        .iter()
        .filter_map(|(topic, cues)| {
            let hits = words.iter().filter(|w| cues.contains(&w.as_str())).count();
            (hits > 0).then_some((*topic, hits))
        })
        .collect()
}

/// Kinds of request a user may make again and again, by how the message starts.
const REQUESTS: &[(&str, &[&str])] = &[
    ("translate", &["translate"]),
    ("summarise", &["summarise", "summarize", "tl;dr", "sum up"]),
    ("explain", &["explain", "what is", "what's", "what are", "why does", "why is"]),
    ("write", &["write", "draft", "compose"]),
    ("fix", &["fix", "debug", "correct"]),
    ("plan", &["plan", "schedule", "organise", "organize"]),
    ("recommend", &["recommend", "suggest", "what should"]),
    ("review", &["review", "proofread", "check"]),
    ("how-to", &["how do i", "how can i", "how to"]),
    ("remind", &["remind"]),
];

/// The kind of request a message makes, if it is one of the known kinds.
pub fn request_kind(message: &str) -> Option<&'static str> {
    let start = message.trim_start().to_lowercase();
    let start = start.trim_start_matches(|c: char| !c.is_alphanumeric());
    let start = start
        .strip_prefix("please ")
        .or_else(|| start.strip_prefix("can you "))
        .or_else(|| start.strip_prefix("could you "))
        .unwrap_or(start);
    REQUESTS.iter().find(|(_, cues)| cues.iter().any(|cue| start.starts_with(cue))).map(|(kind, _)| *kind)
}

const LANGUAGES: &[(&str, &[&str])] = &[
    ("English", &["the", "and", "is", "you", "what", "with", "this", "that", "have", "for", "my", "are"]),
    ("French", &["le", "la", "les", "et", "est", "vous", "je", "pour", "avec", "une", "des", "mon", "pas", "que"]),
    ("Spanish", &["el", "los", "las", "y", "es", "usted", "yo", "para", "con", "una", "mi", "por", "que", "qué"]),
    ("German", &["der", "die", "das", "und", "ist", "ich", "sie", "mit", "für", "ein", "eine", "nicht", "mein"]),
    ("Portuguese", &["o", "os", "as", "e", "é", "você", "eu", "com", "uma", "não", "meu", "para", "que"]),
    ("Italian", &["il", "gli", "e", "è", "sono", "io", "con", "per", "una", "non", "mio", "che", "della"]),
];

/// The language a message is written in, when it has enough words to tell.
pub fn language(message: &str) -> Option<&'static str> {
    let words: Vec<String> =
        message.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    if words.len() < 4 {
        return None;
    }
    let (best, hits) = LANGUAGES
        .iter()
        .map(|(name, cues)| (*name, words.iter().filter(|w| cues.contains(&w.as_str())).count()))
        .max_by_key(|(_, hits)| *hits)?;
    (hits >= 2 && hits * 5 >= words.len()).then_some(best)
}

static ANSWER_LANGUAGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:answer|reply|respond|talk|speak|write)(?: to me)? in (english|french|spanish|german|portuguese|italian|dutch|japanese|chinese)\b")
        .expect("valid")
});
static CALL_ME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(?:please )?call me ([A-Z][\w'-]{0,30})").expect("valid"));
static DIET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bi(?:'m|’m| am)(?: an?)? (vegetarian|vegan|pescatarian)\b|\bi (?:don'?t|do not) eat (meat|fish|pork|dairy|gluten)\b")
        .expect("valid")
});
static UNITS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(?:use|in|prefer) (metric|imperial)(?: units)?\b").expect("valid"));

/// A preference stated in a message: (key, value, strength in 0..1).
pub fn stated_preferences(message: &str) -> Vec<(&'static str, String, f64)> {
    let mut found = Vec::new();
    if let Some(c) = ANSWER_LANGUAGE.captures(message) {
        found.push(("language", capitalise(&c[1]), 0.8));
    }
    if let Some(c) = CALL_ME.captures(message) {
        found.push(("preferred_name", c[1].to_owned(), 0.8));
    }
    if let Some(c) = DIET.captures(message) {
        let value = match (c.get(1), c.get(2)) {
            (Some(diet), _) => diet.as_str().to_lowercase(),
            (None, Some(food)) => format!("no {}", food.as_str().to_lowercase()),
            _ => return found,
        };
        found.push(("diet", value, 0.7));
    }
    if let Some(c) = UNITS.captures(message) {
        found.push(("units", c[1].to_lowercase(), 0.6));
    }
    found
}

fn capitalise(word: &str) -> String {
    let lower = word.to_lowercase();
    let mut chars = lower.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directions(evidence: &[Evidence]) -> Vec<(&'static str, bool)> {
        evidence.iter().map(|e| (e.dimension.name(), e.up)).collect()
    }

    #[test]
    fn stated_style_requests_are_read_both_ways() {
        assert_eq!(directions(&stated_style("Way too long, shorter please")), [("verbosity", false)]);
        assert_eq!(directions(&stated_style("too technical for me")), [("technical_depth", false)]);
        assert_eq!(directions(&stated_style("Can you give more detail?")), [("verbosity", true)]);
        assert_eq!(directions(&stated_style("as a list, with an example")), [("examples", true), ("structure", true)]);
        assert!(stated_style("What's the weather in Porto?").is_empty());
    }

    #[test]
    fn wording_and_confusion_are_weak_signals() {
        assert!(directions(&implicit_style("hey lol thx")).contains(&("formality", false)));
        assert!(
            directions(&implicit_style("Dear assistant, could you please review this letter."))
                .contains(&("formality", true))
        );
        assert!(
            directions(&implicit_style("Sorry, what do you mean by a monad?")).contains(&("technical_depth", false))
        );
        assert!(implicit_style("hi").iter().all(|e| e.strength < 1.0));
    }

    #[test]
    fn topics_requests_languages_and_preferences() {
        assert_eq!(topics("Any recipe for a vegan pasta dinner?"), [("cooking", 4)]);
        assert_eq!(request_kind("Please translate this into German"), Some("translate"));
        assert_eq!(request_kind("How do I bake bread?"), Some("how-to"));
        assert_eq!(request_kind("Nice weather"), None);
        assert_eq!(language("Je voudrais une recette pour le dîner avec mon fils"), Some("French"));
        assert_eq!(language("ok"), None);
        assert_eq!(
            stated_preferences("I'm vegetarian, please call me Addie and answer in french"),
            [
                ("language", "French".to_owned(), 0.8),
                ("preferred_name", "Addie".to_owned(), 0.8),
                ("diet", "vegetarian".to_owned(), 0.7)
            ]
        );
    }

    #[test]
    fn every_topic_request_and_language_of_the_tables_is_recognised() {
        for (topic, cues) in TOPICS {
            for cue in *cues {
                assert!(
                    topics(&format!("tell me about {cue} today")).iter().any(|(t, _)| t == topic),
                    "{cue} -> {topic}"
                );
            }
        }
        for (kind, cues) in REQUESTS {
            for cue in *cues {
                assert_eq!(request_kind(&format!("{cue} this for me")), Some(*kind), "{cue}");
                assert_eq!(request_kind(&format!("Could you {cue} this")), Some(*kind), "could you {cue}");
            }
        }
        let samples = [
            ("English", "What is the best way to learn this and have fun with my friends?"),
            ("French", "Je voudrais savoir pour le train et la gare avec vous"),
            ("Spanish", "Quiero saber el horario de los trenes para mi viaje con usted"),
            ("German", "Ich möchte wissen, ob die Bahn mit der Karte für mein Kind ist"),
            ("Portuguese", "Eu quero saber se você vai com uma amiga para o Porto"),
            ("Italian", "Io sono con il gatto della vicina e non per il cane"),
        ];
        assert_eq!(samples.len(), LANGUAGES.len());
        for (expected, text) in samples {
            assert_eq!(language(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn every_stated_preference_pattern() {
        let cases = [
            ("Please reply in Spanish from now on", ("language", "Spanish")),
            ("You can call me Bruno", ("preferred_name", "Bruno")),
            ("I'm a pescatarian", ("diet", "pescatarian")),
            ("I don't eat pork", ("diet", "no pork")),
            ("Please use metric units", ("units", "metric")),
        ];
        for (message, (key, value)) in cases {
            let found = stated_preferences(message);
            assert_eq!(found.len(), 1, "{message}: {found:?}");
            assert_eq!((found[0].0, found[0].1.as_str()), (key, value), "{message}");
        }
        assert!(stated_preferences("What do vegetarians eat in Porto?").is_empty());
    }
}
