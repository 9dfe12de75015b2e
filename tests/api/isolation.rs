//! One user can never see or touch another user's data: another user's id behaves exactly like
//! an id that does not exist.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, error_code, eventually};

crate::on_both_backends!(another_users_data_reads_as_missing);

/// The error part of a response with the parts that legitimately differ (ids) left out.
fn shape(response: &Value) -> Value {
    json!({ "data": response["data"], "code": response["errors"][0]["extensions"]["code"], "message": response["errors"][0]["message"] })
}

async fn another_users_data_reads_as_missing(app: TestApp) {
    let (_, a) = app.create_user("Alice").await;
    let (_, b) = app.create_user("Bob").await;

    let conversation = app
        .data(&a, r#"mutation { createConversation(input: {title: "Alice's plans"}) { id } }"#, json!({}))
        .await["createConversation"]["id"]
        .clone();
    let memory = app
        .data(&a, r#"mutation { remember(input: {content: "Alice is allergic to peanuts"}) { id } }"#, json!({}))
        .await["remember"]["id"]
        .clone();
    app.data(&a, r#"mutation { setPreference(input: {key: "tone", value: "warm"}) { key } }"#, json!({})).await;
    let a_key_id = app.data(&a, "{ apiKeys { id } }", json!({})).await["apiKeys"][0]["id"].clone();
    let answer = app
        .data(
            &a,
            "mutation($c: ID!) { sendMessage(input: {conversationId: $c, message: \"My garden tomatoes need better soil\"}) { message { id } } }",
            json!({ "c": conversation }),
        )
        .await["sendMessage"]["message"]["id"]
        .clone();
    // Learning runs after the message: wait for Alice's interest in gardening.
    eventually(
        "Alice's interest in gardening",
        || async { app.data(&a, "{ learnedPatterns { key } }", json!({})).await["learnedPatterns"].clone() },
        |patterns| patterns.as_array().unwrap().iter().any(|p| p["key"] == "gardening"),
    )
    .await;

    let missing = json!(Uuid::now_v7().to_string());
    let probes = [
        "query($id: ID!) { conversation(id: $id) { id title } }",
        "mutation($id: ID!) { renameConversation(id: $id, title: \"mine now\") { id } }",
        "mutation($id: ID!) { deleteConversation(id: $id) }",
        "query($id: ID!) { memory(id: $id) { id content } }",
        "mutation($id: ID!) { updateMemory(id: $id, input: {content: \"changed\"}) { id } }",
        "mutation($id: ID!) { forgetMemory(id: $id) }",
        "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
        "mutation($id: ID!) { rateMessage(input: {messageId: $id, rating: DOWN, reason: \"too long\"}) { rating } }",
        "query($id: ID!) { contextPreview(conversationId: $id, message: \"hi\") { systemPrompt } }",
    ];
    let targets =
        [&conversation, &conversation, &conversation, &memory, &memory, &memory, &a_key_id, &answer, &conversation];
    for (probe, target) in probes.iter().zip(targets) {
        let theirs = app.gql(Some(&b), probe, json!({ "id": target })).await;
        let nobodys = app.gql(Some(&b), probe, json!({ "id": missing })).await;
        assert_eq!(error_code(&theirs), "NOT_FOUND", "{probe}: {theirs}");
        assert_eq!(shape(&theirs), shape(&nobodys), "{probe}: another user's id must read like a missing one");
    }
    for probe in [
        r#"mutation { deletePreference(key: "tone") }"#,
        r#"mutation { confirmPreference(key: "tone") { key } }"#,
        r#"mutation { rejectPreference(key: "tone") }"#,
    ] {
        let theirs = app.gql(Some(&b), probe, json!({})).await;
        assert_eq!(error_code(&theirs), "NOT_FOUND", "{probe}: {theirs}");
    }

    // Bob's lists are empty, and his own preference of the same key is his alone.
    let lists = app
        .data(&b, "{ conversations { edges { node { id } } } memories { edges { node { id } } } preferences { key } learnedPatterns { key } }", json!({}))
        .await;
    assert_eq!(
        lists,
        json!({ "conversations": { "edges": [] }, "memories": { "edges": [] }, "preferences": [], "learnedPatterns": [] })
    );
    app.data(&b, r#"mutation { setPreference(input: {key: "tone", value: "blunt"}) { key } }"#, json!({})).await;

    // Alice still has everything, unchanged.
    let alice = app
        .data(
            &a,
            "query($c: ID!, $m: ID!) { conversation(id: $c) { title } memory(id: $m) { content } preferences { key value } apiKeys { revokedAt } styleProfile { dimensions { evidenceCount } } }",
            json!({ "c": conversation, "m": memory }),
        )
        .await;
    assert_eq!(
        alice,
        json!({
            "conversation": { "title": "Alice's plans" },
            "memory": { "content": "Alice is allergic to peanuts" },
            "preferences": [{ "key": "tone", "value": "warm" }],
            "apiKeys": [{ "revokedAt": null }],
            // One weak signal from her own short message; Bob's refused rating taught nothing.
            "styleProfile": { "dimensions": [{ "evidenceCount": 1 }, { "evidenceCount": 0 }, { "evidenceCount": 0 }, { "evidenceCount": 0 }, { "evidenceCount": 0 }] },
        })
    );
}
