use entity::{message, prelude::Message};
use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fake_anthropic::{Reply, StreamReply};
use crate::helpers::{TestApp, error_code, error_message};

crate::on_both_backends!(conversation_lifecycle, conversations_page_newest_first, messages_page_in_reading_order);

async fn conversation_lifecycle(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let created = app
        .data(
            &key,
            r#"mutation { createConversation(input: {title: "  Trip to Lisbon "}) { id title createdAt } }"#,
            json!({}),
        )
        .await;
    let id = created["createConversation"]["id"].clone();
    assert_eq!(created["createConversation"]["title"], "Trip to Lisbon");
    let untitled = app.data(&key, "mutation { createConversation { id title } }", json!({})).await;
    assert_eq!(untitled["createConversation"]["title"], Value::Null);

    let renamed = app
        .data(
            &key,
            r#"mutation($id: ID!) { renameConversation(id: $id, title: "Lisbon, May") { title } }"#,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(renamed["renameConversation"]["title"], "Lisbon, May");

    // Bad input changes nothing.
    let too_long = app
        .gql(
            Some(&key),
            "mutation($id: ID!, $t: String) { renameConversation(id: $id, title: $t) { title } }",
            json!({ "id": id, "t": "x".repeat(201) }),
        )
        .await;
    assert_eq!(error_code(&too_long), "BAD_USER_INPUT");
    assert_eq!(error_message(&too_long), "title is too long (201 characters; at most 200)");
    let read = app.data(&key, "query($id: ID!) { conversation(id: $id) { title } }", json!({ "id": id })).await;
    assert_eq!(read["conversation"]["title"], "Lisbon, May");

    // Deleting takes the messages and the short-term window with it.
    let conversation_id = Uuid::parse_str(id.as_str().unwrap()).unwrap();
    chat_turns(&app, &key, &id, 2).await;
    assert_eq!(app.state.short_term.window(conversation_id).await.unwrap().map(|w| w.len()), Some(4));

    let deleted = app.data(&key, "mutation($id: ID!) { deleteConversation(id: $id) }", json!({ "id": id })).await;
    assert_eq!(deleted["deleteConversation"], true);
    let gone = app.gql(Some(&key), "query($id: ID!) { conversation(id: $id) { id } }", json!({ "id": id })).await;
    assert_eq!(error_code(&gone), "NOT_FOUND");
    let again = app.gql(Some(&key), "mutation($id: ID!) { deleteConversation(id: $id) }", json!({ "id": id })).await;
    assert_eq!(error_code(&again), "NOT_FOUND");
    let left =
        Message::find().filter(message::Column::ConversationId.eq(conversation_id)).count(&app.state.db).await.unwrap();
    assert_eq!(left, 0, "messages must be deleted with their conversation");
    assert_eq!(app.state.short_term.window(conversation_id).await.unwrap(), None);
}

/// Holds `turns` exchanges through the API; messages read "message 0", "message 1", ...
async fn chat_turns(app: &TestApp, key: &str, conversation_id: &Value, turns: usize) {
    for turn in 0..turns {
        let answer = format!("message {}", 2 * turn + 1);
        app.anthropic.push_stream(Reply::Stream(StreamReply::text(answer.clone())));
        let sent = app
            .data(
                key,
                "mutation($c: ID!, $m: String!) { sendMessage(input: {conversationId: $c, message: $m}) { message { content } } }",
                json!({ "c": conversation_id, "m": format!("message {}", 2 * turn) }),
            )
            .await;
        assert_eq!(sent["sendMessage"]["message"]["content"], answer);
    }
}

fn titles(connection: &Value) -> Vec<String> {
    connection["edges"].as_array().unwrap().iter().map(|e| e["node"]["title"].as_str().unwrap().to_owned()).collect()
}

async fn conversations_page_newest_first(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    for i in 0..25 {
        app.data(
            &key,
            "mutation($t: String) { createConversation(input: {title: $t}) { id } }",
            json!({ "t": format!("c{i:02}") }),
        )
        .await;
    }
    let query = "query($first: Int, $after: String, $last: Int, $before: String) {
        conversations(first: $first, after: $after, last: $last, before: $before) {
            edges { cursor node { title } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

    // Forward through every page: each conversation once, newest first.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let page = app.data(&key, query, json!({ "first": 10, "after": after })).await["conversations"].clone();
        seen.extend(titles(&page));
        pages += 1;
        assert_eq!(page["pageInfo"]["hasPreviousPage"], pages > 1);
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("c{i:02}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);

    // Backward from the end: `last` gives the oldest, still in list order.
    let tail = app.data(&key, query, json!({ "last": 3 })).await["conversations"].clone();
    assert_eq!(titles(&tail), ["c02", "c01", "c00"]);
    assert_eq!(tail["pageInfo"]["hasPreviousPage"], true);
    let before =
        app.data(&key, query, json!({ "last": 2, "before": tail["pageInfo"]["startCursor"] })).await["conversations"]
            .clone();
    assert_eq!(titles(&before), ["c04", "c03"]);

    for (variables, message) in [
        (json!({ "first": 101 }), "`first` must be between 0 and 100 (got 101)"),
        (json!({ "first": -1 }), "`first` must be between 0 and 100 (got -1)"),
        (json!({ "first": 1, "last": 1 }), "pass either `first` or `last`, not both"),
        (json!({ "after": "bm90LWEtY3Vyc29y" }), "`after` is not a cursor returned by this API"),
    ] {
        let response = app.gql(Some(&key), query, variables.clone()).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{variables}");
        assert_eq!(error_message(&response), message);
    }
}

async fn messages_page_in_reading_order(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let id =
        app.data(&key, "mutation { createConversation { id } }", json!({})).await["createConversation"]["id"].clone();
    chat_turns(&app, &key, &id, 3).await;
    let query = "query($id: ID!, $first: Int, $last: Int, $before: String) { conversation(id: $id) {
        messages(first: $first, last: $last, before: $before) { edges { node { content role status } } pageInfo { hasPreviousPage startCursor } } } }";

    let latest = app.data(&key, query, json!({ "id": id, "last": 2 })).await;
    let messages = &latest["conversation"]["messages"];
    assert_eq!(
        messages["edges"],
        json!([
            { "node": { "content": "message 4", "role": "USER", "status": "COMPLETE" } },
            { "node": { "content": "message 5", "role": "ASSISTANT", "status": "COMPLETE" } },
        ])
    );
    assert_eq!(messages["pageInfo"]["hasPreviousPage"], true);
    let earlier =
        app.data(&key, query, json!({ "id": id, "last": 10, "before": messages["pageInfo"]["startCursor"] })).await;
    let contents: Vec<&str> = earlier["conversation"]["messages"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["message 0", "message 1", "message 2", "message 3"]);
    assert_eq!(earlier["conversation"]["messages"]["pageInfo"]["hasPreviousPage"], false);
}
