use serde_json::json;

use crate::helpers::{TestApp, error_code, error_message};

crate::on_both_backends!(bad_requests_get_clear_errors);

async fn bad_requests_get_clear_errors(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;

    let malformed_id = app.gql(Some(&key), r#"{ conversation(id: "42") { id } }"#, json!({})).await;
    assert_eq!(error_code(&malformed_id), "BAD_USER_INPUT");
    assert_eq!(error_message(&malformed_id), "`id` is not a valid id");

    let syntax = app.gql(Some(&key), "{ me { id ", json!({})).await;
    assert_eq!(error_code(&syntax), "BAD_USER_INPUT");

    let unknown = app.gql(Some(&key), "{ me { password } }", json!({})).await;
    assert_eq!(error_code(&unknown), "BAD_USER_INPUT");
    assert!(error_message(&unknown).contains("password"), "{unknown}");

    let wrong_type = app
        .gql(Some(&key), "query($n: Int) { conversations(first: $n) { edges { cursor } } }", json!({ "n": "ten" }))
        .await;
    assert_eq!(error_code(&wrong_type), "BAD_USER_INPUT");

    // Abusive nesting is refused before anything runs.
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {} name{} }} }} }} }}",
        " { ofType".repeat(14),
        " }".repeat(14)
    );
    let too_deep = app.gql(Some(&key), &deep, json!({})).await;
    assert_eq!(error_code(&too_deep), "BAD_USER_INPUT");
    assert!(error_message(&too_deep).to_lowercase().contains("nested too deep"), "{too_deep}");
}
