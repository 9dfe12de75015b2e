//! Learning as a user meets it: what they say and how they rate answers shows up in
//! `preferences`, `styleProfile`, `learnedPatterns` and `contextPreview`, and in what later
//! requests to Claude carry; their data can be exported and deleted for good.

use entity::prelude::*;
use entity::{
    api_key, conversation, learned_pattern, memory, memory_history, message, message_feedback, preference,
    preference_history, style_dimension, user,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fake_anthropic::{Reply, StreamReply};
use crate::helpers::{TestApp, error_code, learned_from};

crate::on_both_backends!(
    a_diet_stated_once_reaches_a_later_unrelated_conversation,
    too_long_ratings_make_answers_shorter,
    later_ratings_outweigh_as_many_older_ones,
    explicit_preferences_win_and_inferred_ones_can_be_confirmed_or_rejected,
    patterns_appear_after_a_few_messages,
    context_preview_shows_what_the_next_answer_gets,
    standing_conditions_reach_advice_but_not_questions_of_fact,
    export_holds_everything_and_delete_leaves_nothing,
);

const SEND: &str = "mutation($c: ID!, $m: String!) { sendMessage(input: {conversationId: $c, message: $m}) { message { id content } } }";

async fn conversation(app: &TestApp, key: &str) -> String {
    let data = app.data(key, "mutation { createConversation(input: {}) { id } }", json!({})).await;
    data["createConversation"]["id"].as_str().unwrap().to_owned()
}

/// Sends a message; returns the answer's id.
async fn send(app: &TestApp, key: &str, conversation: &str, message: &str) -> String {
    let data = app.data(key, SEND, json!({ "c": conversation, "m": message })).await;
    data["sendMessage"]["message"]["id"].as_str().unwrap().to_owned()
}

/// Polls a query until `done` holds for its data (learning runs after each message); fails
/// loudly, with the last data seen, when it never does.
async fn eventually(app: &TestApp, key: &str, query: &str, done: impl Fn(&Value) -> bool) -> Value {
    crate::helpers::eventually(&format!("`{query}` to show what was learned"), || app.data(key, query, json!({})), done)
        .await
}

/// `confidence` (a float the server computed) is `expected`, give or take rounding.
fn confidence_is(preference: &Value, expected: f64) -> bool {
    (preference["confidence"].as_f64().unwrap() - expected).abs() < 1e-9
}

fn preference<'a>(data: &'a Value, key: &str) -> Option<&'a Value> {
    data["preferences"].as_array().unwrap().iter().find(|p| p["key"] == key)
}

fn dimension<'a>(data: &'a Value, name: &str) -> &'a Value {
    data["styleProfile"]["dimensions"].as_array().unwrap().iter().find(|d| d["name"] == name).unwrap()
}

async fn a_diet_stated_once_reaches_a_later_unrelated_conversation(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let first = conversation(&app, &key).await;
    send(&app, &key, &first, "Thanks! By the way, I'm vegetarian.").await;
    let data = eventually(&app, &key, "{ preferences { key value source confidence evidenceCount } }", |d| {
        preference(d, "diet").is_some()
    })
    .await;
    assert_eq!(
        preference(&data, "diet").unwrap(),
        &json!({ "key": "diet", "value": "vegetarian", "source": "INFERRED", "confidence": 0.7, "evidenceCount": 1 })
    );

    let later = conversation(&app, &key).await;
    send(&app, &key, &later, "What should I cook for friends on Saturday?").await;
    let system = app.anthropic.stream_requests().pop().unwrap().system_text();
    assert!(system.contains("diet: vegetarian (inferred, confidence 0.70)"), "{system}");
}

async fn too_long_ratings_make_answers_shorter(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let long = "Here is a very thorough answer. ".repeat(60);
    app.anthropic.push_stream(Reply::Stream(StreamReply::text(long.clone())));
    let first = send(&app, &key, &conversation, "Tell me about the history of bread baking in Europe").await;

    let rate = "mutation($m: ID!, $r: String) { rateMessage(input: {messageId: $m, rating: DOWN, reason: $r}) {
        rating reason styleProfile { dimensions { name value confidence evidenceCount instruction } } } }";
    let rated = app.data(&key, rate, json!({ "m": first, "r": "Way too long" })).await["rateMessage"].clone();
    assert_eq!(rated["rating"], "DOWN");
    let verbosity = dimension(&rated, "verbosity");
    assert!(verbosity["value"].as_f64().unwrap() < 0.4, "{verbosity}");
    assert_eq!(verbosity["instruction"], "Keep answers short and to the point; skip preambles and recaps.");
    let after_one = verbosity["value"].as_f64().unwrap();

    // Rating the same answer again replaces the rating; a second answer rated "too long" pushes further.
    app.data(&key, rate, json!({ "m": first, "r": "too long" })).await;
    assert_eq!(MessageFeedback::find().count(&app.state.db).await.unwrap(), 1);
    app.anthropic.push_stream(Reply::Stream(StreamReply::text(long)));
    let second = send(&app, &key, &conversation, "And in Asia?").await;
    let rated = app.data(&key, rate, json!({ "m": second, "r": "still too long, shorter please" })).await;
    assert!(dimension(&rated["rateMessage"], "verbosity")["value"].as_f64().unwrap() < after_one);

    send(&app, &key, &conversation, "What about rye?").await;
    let system = app.anthropic.stream_requests().pop().unwrap().system_text();
    assert!(system.contains("Keep answers short and to the point"), "{system}");

    // Only answers can be rated, and a reason has a length limit.
    let messages = app
        .data(
            &key,
            "query($c: ID!) { conversation(id: $c) { messages(first: 1) { edges { node { id role } } } } }",
            json!({ "c": conversation }),
        )
        .await;
    let question = &messages["conversation"]["messages"]["edges"][0]["node"];
    assert_eq!(question["role"], "USER");
    let refused = app.gql(Some(&key), rate, json!({ "m": question["id"], "r": null })).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
    let refused = app.gql(Some(&key), rate, json!({ "m": second, "r": "x".repeat(501) })).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
}

/// Old evidence fades: as many ratings one way as the other leave the style leaning towards
/// the later ones. Were all evidence kept at full weight, both users would end at exactly 0.5.
async fn later_ratings_outweigh_as_many_older_ones(app: TestApp) {
    let rate = "mutation($m: ID!, $r: String) { rateMessage(input: {messageId: $m, rating: DOWN, reason: $r}) {
        styleProfile { dimensions { name value evidenceCount } } } }";
    // Questions of 60-600 plain characters, which say nothing about style themselves.
    let questions = [
        "Could you tell me about the history of the bicycle in the Netherlands, and why it caught on?",
        "And what about the trams of Amsterdam during the twentieth century, how did they change?",
    ];
    for (name, reasons, leans_longer) in
        [("Ada", ["too long", "too short"], true), ("Bob", ["too short", "too long"], false)]
    {
        let (_, key) = app.create_user(name).await;
        let conversation = conversation(&app, &key).await;
        let mut rated = Value::Null;
        for (question, reason) in questions.iter().zip(reasons) {
            let answer = send(&app, &key, &conversation, question).await;
            rated = app.data(&key, rate, json!({ "m": answer, "r": reason })).await;
        }
        let verbosity = dimension(&rated["rateMessage"], "verbosity");
        assert_eq!(verbosity["evidenceCount"], 2, "{name}: {verbosity}");
        let value = verbosity["value"].as_f64().unwrap();
        assert_eq!(value > 0.5, leans_longer, "{name} said {reasons:?} last: verbosity {value}");
        assert!((value - 0.5).abs() > 0.001, "{name}: the later rating must count for more: verbosity {value}");
    }
}

async fn explicit_preferences_win_and_inferred_ones_can_be_confirmed_or_rejected(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    app.data(&key, r#"mutation { setPreference(input: {key: "diet", value: "vegan"}) { key } }"#, json!({})).await;
    send(&app, &key, &conversation, "I'm vegetarian, please call me Addie and use metric units.").await;
    let prefs = "{ preferences { key value source confidence } }";
    let data = eventually(&app, &key, prefs, |d| preference(d, "units").is_some()).await;
    assert_eq!(
        preference(&data, "diet").unwrap(),
        &json!({ "key": "diet", "value": "vegan", "source": "EXPLICIT", "confidence": 1.0 })
    );
    assert_eq!(preference(&data, "preferred_name").unwrap()["value"], "Addie");

    let units = preference(&data, "units").unwrap();
    assert_eq!((&units["value"], &units["source"]), (&json!("metric"), &json!("INFERRED")));
    assert!(confidence_is(units, 0.6), "{units}");

    // A clear statement against an inferred value is stronger than what is left of it (0.6
    // against 0.6 · (1 − 0.6)): it replaces the value at once, kept in the history.
    send(&app, &key, &conversation, "Actually, I prefer imperial units.").await;
    learned_from(&app, &key, 2).await;
    let data = app.data(&key, prefs, json!({})).await;
    let units = preference(&data, "units").unwrap();
    assert_eq!((&units["value"], &units["source"]), (&json!("imperial"), &json!("INFERRED")), "{data}");
    assert!(confidence_is(units, 0.6), "{units}");
    let history = app.data(&key, r#"{ preferenceHistory(key: "units") { value change } }"#, json!({})).await;
    assert_eq!(history["preferenceHistory"], json!([{ "value": "metric", "change": "REPLACED" }]));
    // Saying it again strengthens it: 1 − (1 − 0.6)².
    send(&app, &key, &conversation, "Imperial please: use imperial units.").await;
    learned_from(&app, &key, 3).await;
    let data = app.data(&key, prefs, json!({})).await;
    let units = preference(&data, "units").unwrap();
    assert_eq!(units["value"], "imperial");
    assert!(confidence_is(units, 0.84), "{units}");

    // Weak evidence against an inferred value first only weakens it: a message written in
    // Spanish (0.25) against "answer in French" (0.8) leaves French at 0.8 · (1 − 0.25)...
    send(&app, &key, &conversation, "Please answer in French from now on.").await;
    send(&app, &key, &conversation, "Hola, yo quiero una receta para mi cena con los amigos").await;
    learned_from(&app, &key, 5).await;
    let data = app.data(&key, prefs, json!({})).await;
    let language = preference(&data, "language").unwrap();
    assert_eq!((&language["value"], &language["source"]), (&json!("French"), &json!("INFERRED")), "{data}");
    assert!(confidence_is(language, 0.6), "weakened, not replaced: {language}");
    let history = app.data(&key, r#"{ preferenceHistory(key: "language") { value change } }"#, json!({})).await;
    assert_eq!(history["preferenceHistory"], json!([]));
    // ...and a clear statement then replaces what is left.
    send(&app, &key, &conversation, "Please answer in Spanish.").await;
    learned_from(&app, &key, 6).await;
    let data = app.data(&key, prefs, json!({})).await;
    let language = preference(&data, "language").unwrap();
    assert_eq!(language["value"], "Spanish", "{data}");
    assert!(confidence_is(language, 0.8), "{language}");
    let history = app.data(&key, r#"{ preferenceHistory(key: "language") { value change } }"#, json!({})).await;
    assert_eq!(history["preferenceHistory"], json!([{ "value": "French", "change": "REPLACED" }]));

    let confirmed = app
        .data(&key, r#"mutation { confirmPreference(key: "preferred_name") { value source confidence } }"#, json!({}))
        .await;
    assert_eq!(confirmed["confirmPreference"], json!({ "value": "Addie", "source": "EXPLICIT", "confidence": 1.0 }));

    app.data(&key, r#"mutation { rejectPreference(key: "units") }"#, json!({})).await;
    send(&app, &key, &conversation, "Use imperial units, as I said.").await;
    learned_from(&app, &key, 7).await;
    let data = app.data(&key, prefs, json!({})).await;
    assert!(preference(&data, "units").is_none(), "a rejected value is not inferred again: {data}");
    let missing = app.gql(Some(&key), r#"mutation { confirmPreference(key: "units") { key } }"#, json!({})).await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
}

async fn patterns_appear_after_a_few_messages(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let first = conversation(&app, &key).await;
    send(&app, &key, &first, "How do I make a sourdough recipe work in a cold kitchen?").await;
    send(&app, &key, &first, "How do I keep pasta from sticking when I cook for ten?").await;
    let second = conversation(&app, &key).await;
    send(&app, &key, &second, "Translate 'good morning' into Italian").await;

    learned_from(&app, &key, 3).await;
    let data = app.data(&key, "{ learnedPatterns { kind key value confidence evidenceCount } }", json!({})).await;
    let patterns = data["learnedPatterns"].as_array().unwrap();
    let find = |kind: &str, key: &str| patterns.iter().find(|p| p["kind"] == kind && p["key"] == key).cloned();
    let cooking = find("INTEREST", "cooking").expect("an interest in cooking");
    assert!(cooking["confidence"].as_f64().unwrap() > 0.6, "{cooking}");
    assert_eq!(find("RECURRING_REQUEST", "how-to").unwrap()["value"], "asked 2 times");
    assert!(find("RECURRING_REQUEST", "translate").is_none(), "once is not a pattern yet");
    assert_eq!(find("HABIT", "conversation_count").unwrap()["value"], "2 conversations");
    assert_eq!(find("HABIT", "messages_per_conversation").unwrap()["value"], "about 1.5 messages per conversation");
    let hours: Vec<&Value> = patterns
        .iter()
        .filter(|p| p["kind"] == "ACTIVITY" && p["key"].as_str().unwrap().starts_with("hour:"))
        .collect();
    assert_eq!(hours.iter().map(|p| p["evidenceCount"].as_i64().unwrap()).sum::<i64>(), 3, "{hours:?}");
    // Sorted by confidence, most certain first.
    let confidences: Vec<f64> = patterns.iter().map(|p| p["confidence"].as_f64().unwrap()).collect();
    assert!(confidences.windows(2).all(|w| w[0] >= w[1]), "{confidences:?}");
}

async fn context_preview_shows_what_the_next_answer_gets(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    app.data(
        &key,
        r#"mutation { remember(input: {content: "Allergic to peanuts", importance: 1.0}) { id } }"#,
        json!({}),
    )
    .await;
    let satay = r#"mutation { remember(input: {content: "Has a favourite satay place downtown"}) { id } }"#;
    app.data(&key, satay, json!({})).await;
    send(&app, &key, &conversation, "I'm vegetarian. Shorter answers please, no essays. Any quick dinner recipe?")
        .await;
    // Preferences, style and patterns of a message are learned together.
    eventually(&app, &key, "{ learnedPatterns { key } }", |d| {
        d["learnedPatterns"].as_array().unwrap().iter().any(|p| p["key"] == "cooking")
    })
    .await;

    let preview = "query($c: ID!, $m: String!) { contextPreview(conversationId: $c, message: $m) {
        systemPrompt systemBlocks { text cached } messages { role content }
        memories { score memory { content } } coreMemories { content } preferences { key value confidence }
        style { name value confidence instruction } interests { key confidence }
        estimatedSystemTokens systemTokenBudget } }";
    let message = "Is a peanut satay sauce a good idea for dinner?";
    let shown = app.data(&key, preview, json!({ "c": conversation, "m": message })).await["contextPreview"].clone();
    let prompt = shown["systemPrompt"].as_str().unwrap();
    assert!(prompt.contains("Keep answers short and to the point"), "{prompt}");
    assert!(prompt.contains("diet: vegetarian"), "{prompt}");
    assert!(prompt.contains("Topics the user often brings up: cooking."), "{prompt}");
    // Important facts are always there, in the stable (cached) part; the rest by relevance.
    assert!(prompt.contains("What you always keep in mind about the user:\n- Allergic to peanuts"), "{prompt}");
    assert!(shown["coreMemories"].as_array().unwrap().contains(&json!({ "content": "Allergic to peanuts" })));
    assert_eq!(shown["systemBlocks"][0]["cached"], true);
    assert_eq!(shown["systemBlocks"][1]["cached"], false);
    assert!(shown["systemBlocks"][1]["text"].as_str().unwrap().contains("- Has a favourite satay place downtown"));
    assert_eq!(shown["memories"][0]["memory"]["content"], "Has a favourite satay place downtown");
    assert!(shown["memories"][0]["score"].as_f64().unwrap() > 0.0);
    assert_eq!(shown["preferences"][0], json!({ "key": "diet", "value": "vegetarian", "confidence": 0.7 }));
    assert_eq!(shown["interests"][0]["key"], "cooking");
    let messages = shown["messages"].as_array().unwrap();
    assert_eq!(messages.last().unwrap(), &json!({ "role": "user", "content": message }));
    assert_eq!(messages.len(), 3, "the earlier exchange, then the new message: {messages:?}");
    let tokens = shown["estimatedSystemTokens"].as_i64().unwrap();
    assert!(tokens > 50 && tokens <= shown["systemTokenBudget"].as_i64().unwrap());

    // A preview stores nothing; sending the message sends the same system prompt's parts.
    let count = Message::find().count(&app.state.db).await.unwrap();
    assert_eq!(count, 2);
    send(&app, &key, &conversation, message).await;
    let sent = app.anthropic.stream_requests().pop().unwrap();
    for block in shown["systemBlocks"].as_array().unwrap() {
        assert!(sent.system_text().contains(block["text"].as_str().unwrap()), "{block} not in {}", sent.system_text());
    }
    // The answer records what it used.
    let answer = app.last_answer().await;
    let used = answer.context_used.unwrap();
    assert_eq!(used["preferences"][0]["key"], "diet");
    assert_eq!(used["style"][0]["dimension"], "verbosity");
    assert_eq!(used["interests"][0]["topic"], "cooking");
}

/// "I'm type 2 diabetic" shares no word with "suggest a dessert": it is filed as a CONDITION and
/// comes with every request for advice, never with another user's, and stays out of a question
/// of fact.
async fn standing_conditions_reach_advice_but_not_questions_of_fact(app: TestApp) {
    let (_, key) = app.create_user("Kenji").await;
    let (_, other_key) = app.create_user("Priya").await;
    assert_eq!(category(&app, &key, "I'm type 2 diabetic and watch my sugar intake", None).await, "CONDITION");
    assert_eq!(category(&app, &key, "I teach chemistry at a high school in Osaka", None).await, "FACT");
    // Someone else's line in an imported chat is not the user's condition.
    assert_eq!(category(&app, &key, "Takeshi: diabetes runs in my family too", Some("IMPORTED")).await, "FACT");
    for filler in
        ["Party for the science fair on Friday", "Bring the dessert plates back to the lab", "Make a party playlist"]
    {
        category(&app, &key, filler, None).await;
    }
    assert_eq!(category(&app, &other_key, "I use a wheelchair", None).await, "CONDITION");

    let conversation = conversation(&app, &key).await;
    let preview = "query($c: ID!, $m: String!) { contextPreview(conversationId: $c, message: $m) {
        systemPrompt memories { memory { content category } } } }";
    let advice = "Can you suggest a dessert I could make for a party?";
    let shown = app.data(&key, preview, json!({ "c": conversation, "m": advice })).await["contextPreview"].clone();
    let prompt = shown["systemPrompt"].as_str().unwrap();
    assert!(prompt.contains("- I'm type 2 diabetic and watch my sugar intake"), "{prompt}");
    assert!(!prompt.contains("wheelchair"), "another user's condition: {prompt}");
    assert!(!prompt.contains("Takeshi"), "{prompt}");
    assert!(shown["memories"].as_array().unwrap().iter().any(|m| m["memory"]["category"] == "CONDITION"), "{shown}");

    let fact = "Which day is the science fair party?";
    let shown = app.data(&key, preview, json!({ "c": conversation, "m": fact })).await["contextPreview"].clone();
    assert!(!shown["systemPrompt"].as_str().unwrap().contains("diabetic"), "{shown}");

    // What the preview shows is what the answer gets.
    send(&app, &key, &conversation, advice).await;
    let sent = app.anthropic.stream_requests().pop().unwrap();
    assert!(sent.system_text().contains("I'm type 2 diabetic"), "{}", sent.system_text());
}

/// Remembers `content`; returns the category it was filed under.
async fn category(app: &TestApp, key: &str, content: &str, source: Option<&str>) -> String {
    let query = "mutation($c: String!, $s: MemorySource) { remember(input: {content: $c, source: $s}) { category } }";
    let data = app.data(key, query, json!({ "c": content, "s": source })).await;
    data["remember"]["category"].as_str().unwrap().to_owned()
}

async fn export_holds_everything_and_delete_leaves_nothing(app: TestApp) {
    let (user_id, key) = app.create_user("Ada").await;
    let (_, other_key) = app.create_user("Grace").await;
    let conversation = conversation(&app, &key).await;
    let answer = send(&app, &key, &conversation, "My name is Ada and I live in Porto. I'm vegetarian.").await;
    app.data(
        &key,
        "mutation($m: ID!) { rateMessage(input: {messageId: $m, rating: UP}) { rating } }",
        json!({ "m": answer }),
    )
    .await;
    app.data(&key, r#"mutation { setPreference(input: {key: "tone", value: "warm"}) { key } }"#, json!({})).await;
    send(&app, &key, &conversation, "Actually I now live in Lisbon.").await;
    eventually(&app, &key, "{ memories { edges { node { content } } } }", |d| {
        d["memories"]["edges"].as_array().unwrap().iter().any(|e| e["node"]["content"] == "Lives in Lisbon")
    })
    .await;
    let other_conversation = conversation_of(&app, &other_key).await;

    let export = app.data(&key, "{ exportMyData }", json!({})).await["exportMyData"].clone();
    assert_eq!(export["user"]["displayName"], "Ada");
    let messages = export["conversations"][0]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[0]["content"], "My name is Ada and I live in Porto. I'm vegetarian.");
    let lisbon = export["memories"].as_array().unwrap().iter().find(|m| m["content"] == "Lives in Lisbon").unwrap();
    assert_eq!(lisbon["history"][0]["content"], "Lives in Porto");
    assert!(export["preferences"].as_array().unwrap().iter().any(|p| p["key"] == "tone"));
    assert!(export["preferences"].as_array().unwrap().iter().any(|p| p["key"] == "diet"));
    assert_eq!(export["ratings"][0]["messageId"], answer);
    assert!(!export["styleProfile"].as_array().unwrap().is_empty());
    assert!(!export["learnedPatterns"].as_array().unwrap().is_empty());
    assert!(export["apiKeys"][0].get("keyHash").is_none() && export["apiKeys"][0]["prefix"].is_string());
    assert!(!export.to_string().contains("Grace"), "nothing of another user");

    // The memory index has a shard on disk for this user.
    app.data(&key, r#"{ searchMemories(query: "lisbon") { score } }"#, json!({})).await;
    app.state.memory_index.save_changed().await;
    let user = Uuid::parse_str(&user_id).unwrap();
    let files = app.state.memory_index.files_of(user);
    assert!(files.iter().all(|f| f.exists()));
    let conversation_id = Uuid::parse_str(&conversation).unwrap();
    assert!(app.state.short_term.window(conversation_id).await.unwrap().is_some());

    let deleted = app.data(&key, "mutation { deleteMyData }", json!({})).await;
    assert_eq!(deleted["deleteMyData"], true);

    let db = &app.state.db;
    let counts = [
        User::find().filter(user::Column::Id.eq(user)).count(db).await.unwrap(),
        ApiKey::find().filter(api_key::Column::UserId.eq(user)).count(db).await.unwrap(),
        Conversation::find().filter(conversation::Column::UserId.eq(user)).count(db).await.unwrap(),
        Message::find().filter(message::Column::UserId.eq(user)).count(db).await.unwrap(),
        Memory::find().filter(memory::Column::UserId.eq(user)).count(db).await.unwrap(),
        MemoryHistory::find().filter(memory_history::Column::UserId.eq(user)).count(db).await.unwrap(),
        Preference::find().filter(preference::Column::UserId.eq(user)).count(db).await.unwrap(),
        PreferenceHistory::find().filter(preference_history::Column::UserId.eq(user)).count(db).await.unwrap(),
        StyleDimension::find().filter(style_dimension::Column::UserId.eq(user)).count(db).await.unwrap(),
        LearnedPattern::find().filter(learned_pattern::Column::UserId.eq(user)).count(db).await.unwrap(),
        MessageFeedback::find().filter(message_feedback::Column::UserId.eq(user)).count(db).await.unwrap(),
    ];
    assert_eq!(counts, [0; 11], "rows left in SQL");
    assert!(app.state.short_term.window(conversation_id).await.unwrap().is_none(), "short-term window left");
    assert!(files.iter().all(|f| !f.exists()), "index files left");
    app.state.memory_index.save_changed().await;
    assert!(files.iter().all(|f| !f.exists()), "index files came back");

    let after = app.gql(Some(&key), "{ me { id } }", json!({})).await;
    assert_eq!(error_code(&after), "UNAUTHENTICATED");
    // Grace is untouched.
    let grace = app
        .data(&other_key, "query($c: ID!) { conversation(id: $c) { id } }", json!({ "c": other_conversation }))
        .await;
    assert_eq!(grace["conversation"]["id"], other_conversation);
}

async fn conversation_of(app: &TestApp, key: &str) -> String {
    let id = conversation(app, key).await;
    send(app, key, &id, "Hello from Grace").await;
    id
}
