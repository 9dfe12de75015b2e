use serde_json::json;

use crate::helpers::{TestApp, error_code, error_message};

crate::on_both_backends!(preferences_set_list_delete);

async fn preferences_set_list_delete(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let set = "mutation($k: String!, $v: String!) { setPreference(input: {key: $k, value: $v}) { key value source confidence evidenceCount } }";

    let first = app.data(&key, set, json!({ "k": "Response_Length", "v": "long" })).await;
    assert_eq!(
        first["setPreference"],
        json!({ "key": "response_length", "value": "long", "source": "EXPLICIT", "confidence": 1.0, "evidenceCount": 1 })
    );
    let second = app.data(&key, set, json!({ "k": "response_length", "v": "short" })).await;
    assert_eq!(second["setPreference"]["value"], "short");
    assert_eq!(second["setPreference"]["evidenceCount"], 2);
    app.data(&key, set, json!({ "k": "diet", "v": "vegetarian" })).await;

    let listed = app.data(&key, "{ preferences { key value } }", json!({})).await;
    assert_eq!(
        listed["preferences"],
        json!([{ "key": "diet", "value": "vegetarian" }, { "key": "response_length", "value": "short" }])
    );

    let bad = app.gql(Some(&key), set, json!({ "k": "favourite food", "v": "x" })).await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    assert!(error_message(&bad).starts_with("key must be 1-64 characters"), "{bad}");
    let empty = app.gql(Some(&key), set, json!({ "k": "diet", "v": " " })).await;
    assert_eq!(error_code(&empty), "BAD_USER_INPUT");
    assert_eq!(app.data(&key, "{ preferences { value } }", json!({})).await["preferences"][0]["value"], "vegetarian");

    let deleted = app.data(&key, r#"mutation { deletePreference(key: "DIET") }"#, json!({})).await;
    assert_eq!(deleted["deletePreference"], true);
    let again = app.gql(Some(&key), r#"mutation { deletePreference(key: "diet") }"#, json!({})).await;
    assert_eq!(error_code(&again), "NOT_FOUND");
    assert_eq!(
        app.data(&key, "{ preferences { key } }", json!({})).await["preferences"],
        json!([{ "key": "response_length" }])
    );
}
