//! The personalisation scenario benchmark: scripted users tell the assistant about themselves
//! in a first conversation (among other things the assistant is asked to remember), then ask
//! unrelated-looking questions in later conversations. A probe hits when the request Claude
//! receives carries the fact or preference that matters for it. Runs the real server, the real
//! embedding model and rule-based learning (Claude's extraction is the fake's empty reply, so
//! nothing here depends on a scripted model). Prints the hit rate; the README quotes it.
//!
//! Only the SQLite backend: what is measured is learning and context, not the database.

use serde_json::json;

use crate::helpers::{Backend, TestApp, learned_from, model_dir};

struct Script {
    name: &'static str,
    /// What the user says in their first conversation.
    says: &'static [&'static str],
    /// Other things they asked the assistant to remember (distractors for retrieval).
    remembers: &'static [&'static str],
    /// Later questions, each with what its request must carry.
    probes: &'static [(&'static str, &'static str)],
}

const SCRIPTS: &[Script] = &[
    Script {
        name: "Ada",
        says: &[
            "Hi! My name is Ada and I'm allergic to peanuts.",
            "I live in Porto, close to the river.",
            "I'm vegetarian, by the way.",
        ],
        remembers: &[
            "Plays the cello on weekends",
            "Has a sister named Eva",
            "Drives an old blue Fiat",
            "Reads science fiction before bed",
            "Collects postage stamps",
        ],
        probes: &[
            ("Could you suggest a snack for my hike tomorrow?", "Allergic to peanuts"),
            ("What should I cook for my friends on Saturday?", "diet: vegetarian"),
            ("Any nice day trips from where I live?", "Lives in Porto"),
            ("Do you remember what my name is?", "Name: Ada"),
        ],
    },
    Script {
        name: "Bruno",
        says: &[
            "Please call me Bruno. I work as a nurse on night shifts.",
            "I live in Lyon with my two kids.",
            "Please answer in French from now on.",
        ],
        remembers: &[
            "Loves hiking in the Alps",
            "Has a cat called Miso",
            "Is learning the guitar",
            "Supports Olympique Lyonnais",
            "Grows tomatoes on the balcony",
        ],
        probes: &[
            ("How can I sleep better during the day?", "Works as/at a nurse on night shifts"),
            ("Which museums are worth a rainy afternoon near me?", "Lives in Lyon"),
            ("Give me three tips for a healthy breakfast.", "language: French"),
            ("Write a short greeting card for a colleague.", "preferred_name: Bruno"),
        ],
    },
    Script {
        name: "Chen",
        says: &[
            "My name is Chen. I'm severely allergic to shellfish.",
            "My birthday is on March 3rd.",
            "I prefer trains over planes for travelling.",
            "Keep it short please, I hate long answers.",
        ],
        remembers: &[
            "Works at a robotics startup",
            "Runs 10k every Sunday",
            "Speaks Mandarin and English",
            "Has a brother in Toronto",
            "Is renovating the kitchen",
        ],
        probes: &[
            ("I'm going to a seafood restaurant tonight, what should I order?", "Allergic to shellfish"),
            ("Plan a small celebration for my next birthday.", "Birthday: March 3rd"),
            ("How should I get from Paris to Amsterdam?", "Prefers trains over planes for travelling"),
            ("Explain how a heat pump works.", "Keep answers short and to the point"),
        ],
    },
    Script {
        name: "Dana",
        says: &[
            "I'm a vegan and I live in Berlin.",
            "I work at a small bakery in Kreuzberg.",
            "Please use metric units.",
        ],
        remembers: &[
            "Owns a golden retriever named Sunny",
            "Plays chess online",
            "Is saving for a trip to Japan",
            "Has a daughter starting school",
            "Likes techno music",
        ],
        probes: &[
            ("Suggest a protein-rich lunch.", "diet: vegan"),
            ("How far is a 5 mile run?", "units: metric"),
            ("What can I do this weekend in my city?", "Lives in Berlin"),
            ("How do I price a new sourdough loaf at work?", "Works as/at a small bakery in Kreuzberg"),
        ],
    },
    Script {
        name: "Emil",
        says: &[
            "My name is Emil and I live in Oslo.",
            "I'm allergic to cats, sadly.",
            "Please answer in bullet points, as a list.",
            "Too technical answers lose me, explain in plain language.",
        ],
        remembers: &[
            "Skis cross-country in winter",
            "Is a high school history teacher",
            "Has twin boys",
            "Brews his own beer",
            "Listens to podcasts about space",
        ],
        probes: &[
            ("My friend wants me to pet-sit her kitten, good idea?", "Allergic to cats"),
            ("What should I pack for a weekend at home in winter?", "Lives in Oslo"),
            ("How does a blockchain work?", "Avoid jargon and explain things in plain language."),
            ("Tell me about the Roman empire.", "Name: Emil"),
        ],
    },
];

#[tokio::test]
async fn stated_facts_and_preferences_reach_later_prompts() {
    let Some(dir) = model_dir() else { return };
    let app = TestApp::spawn_with(Backend::Sqlite, &[("EMBEDDING_PROVIDER", "local"), ("EMBEDDING_MODEL_DIR", &dir)])
        .await
        .unwrap();
    let send =
        "mutation($c: ID!, $m: String!) { sendMessage(input: {conversationId: $c, message: $m}) { message { id } } }";
    let new_conversation = "mutation { createConversation(input: {}) { id } }";
    let (mut hits, mut total, mut misses) = (0, 0, Vec::new());
    for script in SCRIPTS {
        let (_, key) = app.create_user(script.name).await;
        for memory in script.remembers {
            app.data(&key, "mutation($c: String!) { remember(input: {content: $c}) { id } }", json!({ "c": memory }))
                .await;
        }
        let first = app.data(&key, new_conversation, json!({})).await["createConversation"]["id"].clone();
        for message in script.says {
            app.data(&key, send, json!({ "c": first, "m": message })).await;
        }
        // Learning runs after each message: wait until all of them were counted.
        learned_from(&app, &key, script.says.len()).await;
        for (question, must_carry) in script.probes {
            // Each probe in a fresh conversation: nothing of the first one is in its window.
            let later = app.data(&key, new_conversation, json!({})).await["createConversation"]["id"].clone();
            app.data(&key, send, json!({ "c": later, "m": question })).await;
            let system = app.anthropic.stream_requests().pop().unwrap().system_text();
            total += 1;
            if system.contains(must_carry) {
                hits += 1;
            } else {
                misses.push(format!("{}: {question:?} lacked {must_carry:?}", script.name));
            }
        }
    }
    let rate = hits as f64 / total as f64;
    println!("personalisation scenarios: {hits}/{total} probes carried what they needed ({:.0}%)", rate * 100.0);
    for miss in &misses {
        println!("  miss: {miss}");
    }
    assert!(rate >= 0.9, "hit rate {rate:.2} below 0.90: {misses:#?}");
}
