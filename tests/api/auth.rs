use entity::prelude::ApiKey;
use sea_orm::EntityTrait as _;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, TestApp, error_code, error_message};

crate::on_both_backends!(keys_authenticate_and_revoke, only_the_admin_creates_users);

async fn keys_authenticate_and_revoke(app: TestApp) {
    let me = "{ me { id displayName } }";

    let anonymous = app.gql(None, me, json!({})).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    assert!(error_message(&anonymous).contains("Authorization: Bearer"), "{anonymous}");
    let forged = app.gql(Some("pa_not-a-real-key"), me, json!({})).await;
    assert_eq!(error_code(&forged), "UNAUTHENTICATED");

    let (user_id, first_key) = app.create_user("Ada").await;
    assert!(first_key.starts_with("pa_"));
    let data = app.data(&first_key, me, json!({})).await;
    assert_eq!(data["me"], json!({ "id": user_id, "displayName": "Ada" }));

    // The scheme is case-insensitive; other schemes are refused, not ignored.
    let raw = |authorization: String| {
        app.client()
            .post(format!("{}/graphql", app.address))
            .header("authorization", authorization)
            .json(&json!({ "query": me }))
            .send()
    };
    let lower: serde_json::Value = raw(format!("bearer {first_key}")).await.unwrap().json().await.unwrap();
    assert_eq!(lower["data"]["me"]["id"], user_id);
    let basic: serde_json::Value = raw(format!("Basic {first_key}")).await.unwrap().json().await.unwrap();
    assert_eq!(error_code(&basic), "UNAUTHENTICATED");

    // A second key for another device; the listing never shows secrets.
    let created = app
        .data(
            &first_key,
            r#"mutation { createApiKey(input: {name: "phone"}) { apiKey key { id name prefix } } }"#,
            json!({}),
        )
        .await;
    let second_key = created["createApiKey"]["apiKey"].as_str().unwrap().to_owned();
    assert!(second_key.starts_with(created["createApiKey"]["key"]["prefix"].as_str().unwrap()));
    assert_eq!(app.data(&second_key, me, json!({})).await["me"]["id"], user_id);

    let keys = app.data(&second_key, "{ apiKeys { id name revokedAt } }", json!({})).await;
    let keys = keys["apiKeys"].as_array().unwrap().clone();
    assert_eq!(keys.iter().map(|k| k["name"].as_str().unwrap()).collect::<Vec<_>>(), ["default", "phone"]);
    assert!(!keys.iter().any(|k| k.to_string().contains(&first_key) || k.to_string().contains(&second_key)));

    // Only hashes are stored.
    let stored = ApiKey::find().all(&app.state.db).await.unwrap();
    assert_eq!(stored.len(), 2);
    for row in &stored {
        assert_ne!(row.key_hash, first_key);
        assert_ne!(row.key_hash, second_key);
        assert!(!format!("{row:?}").contains(&first_key[3..]));
    }

    // Revoking the first key stops it at once; the second keeps working.
    let first_id = keys[0]["id"].clone();
    let revoked = app
        .data(&second_key, "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }", json!({ "id": first_id }))
        .await;
    assert!(revoked["revokeApiKey"]["revokedAt"].is_string());
    let refused = app.gql(Some(&first_key), me, json!({})).await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED");
    assert!(error_message(&refused).contains("revoked"), "{refused}");
    assert_eq!(app.data(&second_key, me, json!({})).await["me"]["id"], user_id);
}

async fn only_the_admin_creates_users(app: TestApp) {
    let create = r#"mutation { createUser(input: {displayName: "Eve"}) { apiKey } }"#;
    let anonymous = app.gql(None, create, json!({})).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");

    let (_, key) = app.create_user("Ada").await;
    let as_user = app.gql(Some(&key), create, json!({})).await;
    assert_eq!(error_code(&as_user), "FORBIDDEN");

    let blank = app
        .gql(Some(ADMIN_TOKEN), r#"mutation { createUser(input: {displayName: "  "}) { apiKey } }"#, json!({}))
        .await;
    assert_eq!(error_code(&blank), "BAD_USER_INPUT");
    assert_eq!(error_message(&blank), "displayName must not be empty");

    // The admin token is not a user.
    let admin_me = app.gql(Some(ADMIN_TOKEN), "{ me { id } }", json!({})).await;
    assert_eq!(error_code(&admin_me), "FORBIDDEN");
}

/// Without `ADMIN_TOKEN` the admin token lives in `DATA_DIR/admin-token`, owner-only, the same
/// across restarts, and works for `createUser`.
#[tokio::test]
async fn without_admin_token_the_token_is_kept_in_an_owner_only_file() {
    use std::os::unix::fs::PermissionsExt as _;

    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, &[("ADMIN_TOKEN", "")]).await.unwrap();
    let path = app.state.config.data_dir.join("admin-token");
    let token = std::fs::read_to_string(&path).unwrap();
    assert!(token.starts_with("adm_") && token.len() >= 32, "{token}");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let created =
        app.gql(Some(&token), r#"mutation { createUser(input: {displayName: "Ada"}) { apiKey } }"#, json!({})).await;
    assert!(created["data"]["createUser"]["apiKey"].is_string(), "{created}");
    assert_eq!(
        error_code(
            &app.gql(Some(ADMIN_TOKEN), r#"mutation { createUser(input: {displayName: "X"}) { apiKey } }"#, json!({}))
                .await
        ),
        "UNAUTHENTICATED"
    );

    let app = app.restart(&[]).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), token, "the same token after a restart");
    let again =
        app.gql(Some(&token), r#"mutation { createUser(input: {displayName: "Bo"}) { apiKey } }"#, json!({})).await;
    assert!(again["data"]["createUser"]["apiKey"].is_string(), "{again}");
}
