//! One user can never see or touch another user's data: another user's id behaves exactly like
//! an id that does not exist.

use chrono::Utc;
use entity::enums::PatternKind;
use entity::learned_pattern;
use sea_orm::{ActiveModelTrait as _, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(another_users_data_reads_as_missing);

/// The error part of a response with the parts that legitimately differ (ids) left out.
fn shape(response: &Value) -> Value {
    json!({ "data": response["data"], "code": response["errors"][0]["extensions"]["code"], "message": response["errors"][0]["message"] })
}

async fn another_users_data_reads_as_missing(app: TestApp) {
    let (a_id, a) = app.create_user("Alice").await;
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
    learned_pattern::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(Uuid::parse_str(&a_id).unwrap()),
        kind: Set(PatternKind::Interest),
        key: Set("gardening".into()),
        value: Set("asks about tomatoes".into()),
        confidence: Set(0.7),
        evidence_count: Set(3),
        first_seen_at: Set(Utc::now()),
        last_seen_at: Set(Utc::now()),
    }
    .insert(&app.state.db)
    .await
    .unwrap();

    let missing = json!(Uuid::now_v7().to_string());
    let probes = [
        "query($id: ID!) { conversation(id: $id) { id title } }",
        "mutation($id: ID!) { renameConversation(id: $id, title: \"mine now\") { id } }",
        "mutation($id: ID!) { deleteConversation(id: $id) }",
        "query($id: ID!) { memory(id: $id) { id content } }",
        "mutation($id: ID!) { updateMemory(id: $id, input: {content: \"changed\"}) { id } }",
        "mutation($id: ID!) { forgetMemory(id: $id) }",
        "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
    ];
    for (probe, target) in
        probes.iter().zip([&conversation, &conversation, &conversation, &memory, &memory, &memory, &a_key_id])
    {
        let theirs = app.gql(Some(&b), probe, json!({ "id": target })).await;
        let nobodys = app.gql(Some(&b), probe, json!({ "id": missing })).await;
        assert_eq!(error_code(&theirs), "NOT_FOUND", "{probe}: {theirs}");
        assert_eq!(shape(&theirs), shape(&nobodys), "{probe}: another user's id must read like a missing one");
    }
    let theirs = app.gql(Some(&b), r#"mutation { deletePreference(key: "tone") }"#, json!({})).await;
    assert_eq!(error_code(&theirs), "NOT_FOUND");

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
            "query($c: ID!, $m: ID!) { conversation(id: $c) { title } memory(id: $m) { content } preferences { key value } learnedPatterns { key evidenceCount } apiKeys { revokedAt } }",
            json!({ "c": conversation, "m": memory }),
        )
        .await;
    assert_eq!(
        alice,
        json!({
            "conversation": { "title": "Alice's plans" },
            "memory": { "content": "Alice is allergic to peanuts" },
            "preferences": [{ "key": "tone", "value": "warm" }],
            "learnedPatterns": [{ "key": "gardening", "evidenceCount": 3 }],
            "apiKeys": [{ "revokedAt": null }],
        })
    );
}
