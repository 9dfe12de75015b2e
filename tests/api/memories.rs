use serde_json::json;

use crate::helpers::{TestApp, error_code, error_message, eventually, learned_from};

crate::on_both_backends!(memories_remember_update_forget);

async fn memories_remember_update_forget(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let remember = "mutation($c: String!, $cat: MemoryCategory, $i: Float) {
        remember(input: {content: $c, category: $cat, importance: $i}) { id content category importance source } }";

    let diet =
        app.data(&key, remember, json!({ "c": "I am vegetarian", "cat": "PREFERENCE", "i": 0.9 })).await["remember"]
            .clone();
    assert_eq!(diet["category"], "PREFERENCE");
    assert_eq!(diet["source"], "EXPLICIT");
    assert_eq!(diet["importance"], 0.9);
    let city = app.data(&key, remember, json!({ "c": "Lives in Porto" })).await["remember"].clone();
    assert_eq!(city["category"], "FACT");
    assert_eq!(city["importance"], 0.5);

    // Saying it again (in another case) keeps one memory.
    let again = app.data(&key, remember, json!({ "c": "i am VEGETARIAN " })).await["remember"].clone();
    assert_eq!(again["id"], diet["id"]);

    let bad = app.gql(Some(&key), remember, json!({ "c": "x", "i": 1.5 })).await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    assert_eq!(error_message(&bad), "importance must be between 0 and 1 (got 1.5)");
    let empty = app.gql(Some(&key), remember, json!({ "c": "   " })).await;
    assert_eq!(error_message(&empty), "content must not be empty");

    // Update keeps the former version in the history.
    let updated = app
        .data(
            &key,
            "mutation($id: ID!) { updateMemory(id: $id, input: {content: \"Lives in Lisbon\", importance: 0.7}) { content importance history { content importance change } } }",
            json!({ "id": city["id"] }),
        )
        .await;
    assert_eq!(
        updated["updateMemory"],
        json!({ "content": "Lives in Lisbon", "importance": 0.7,
                "history": [{ "content": "Lives in Porto", "importance": 0.5, "change": "UPDATED" }] })
    );
    let nothing = app
        .gql(Some(&key), "mutation($id: ID!) { updateMemory(id: $id, input: {}) { id } }", json!({ "id": city["id"] }))
        .await;
    assert_eq!(error_code(&nothing), "BAD_USER_INPUT");

    let list = "query($cat: MemoryCategory) { memories(filter: {category: $cat}) { edges { node { content } } } }";
    let preferences = app.data(&key, list, json!({ "cat": "PREFERENCE" })).await;
    assert_eq!(preferences["memories"]["edges"], json!([{ "node": { "content": "I am vegetarian" } }]));
    let all = app.data(&key, list, json!({})).await;
    assert_eq!(
        all["memories"]["edges"],
        json!([{ "node": { "content": "Lives in Lisbon" } }, { "node": { "content": "I am vegetarian" } }])
    );

    let forgot = app.data(&key, "mutation($id: ID!) { forgetMemory(id: $id) }", json!({ "id": diet["id"] })).await;
    assert_eq!(forgot["forgetMemory"], true);
    let gone = app.gql(Some(&key), "query($id: ID!) { memory(id: $id) { id } }", json!({ "id": diet["id"] })).await;
    assert_eq!(error_code(&gone), "NOT_FOUND");
    assert_eq!(
        app.data(&key, list, json!({})).await["memories"]["edges"],
        json!([{ "node": { "content": "Lives in Lisbon" } }])
    );
}

crate::on_both_backends!(what_users_say_is_remembered_for_later_conversations);

/// Clear statements in a chat become memories (by rule, no LLM), and a later, unrelated
/// conversation's request to Claude carries them.
async fn what_users_say_is_remembered_for_later_conversations(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let send =
        "mutation($c: ID!, $m: String!) { sendMessage(input: {conversationId: $c, message: $m}) { message { id } } }";
    let first =
        app.data(&key, "mutation { createConversation { id } }", json!({})).await["createConversation"]["id"].clone();
    app.data(&key, send, json!({ "c": first, "m": "Hi! My name is Ada and I'm allergic to shellfish." })).await;

    let list = "{ memories { edges { node { content source category } } } }";
    let memories = eventually(
        "the two memories the message states",
        || async { app.data(&key, list, json!({})).await["memories"]["edges"].clone() },
        |memories| memories.as_array().unwrap().len() >= 2,
    )
    .await;
    assert_eq!(
        memories,
        json!([
            // A standing condition: it comes with every request for advice, too.
            { "node": { "content": "Allergic to shellfish", "source": "RULE", "category": "CONDITION" } },
            { "node": { "content": "Name: Ada", "source": "RULE", "category": "FACT" } },
        ])
    );

    let second =
        app.data(&key, "mutation { createConversation { id } }", json!({})).await["createConversation"]["id"].clone();
    app.data(&key, send, json!({ "c": second, "m": "Could I order the shellfish paella tonight?" })).await;
    let request = app.anthropic.stream_requests().pop().unwrap();
    assert!(request.system_text().contains("Allergic to shellfish"), "{}", request.system_text());
    assert_eq!(request.messages().len(), 1, "the first conversation's messages are not in the second's window");

    // Saying it again stores nothing twice (checked once learning from it has run).
    app.data(&key, send, json!({ "c": second, "m": "As I said, I'm allergic to shellfish." })).await;
    learned_from(&app, &key, 3).await;
    assert_eq!(app.data(&key, list, json!({})).await["memories"]["edges"], memories);
}
