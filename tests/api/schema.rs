//! `schema.graphql` is the API contract: it must equal what the code serves.

use std::collections::BTreeSet;

use serde_json::json;

use crate::helpers::{Backend, TestApp};

const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");

#[test]
fn committed_schema_matches_the_code() {
    let current = assistant::graphql::schema_sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(SCHEMA_FILE, &current).unwrap();
    }
    let committed = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
    assert!(
        committed == current,
        "schema.graphql is out of date with the code. Regenerate it with\n    \
         cargo run -- print-schema > schema.graphql\nor\n    UPDATE_SCHEMA=1 cargo test --test api schema"
    );
}

/// The live server answers the full introspection query GraphiQL sends (within the depth and
/// complexity limits), and names exactly the types of `schema.graphql`.
#[tokio::test]
async fn live_introspection_matches_the_committed_schema() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let response = app.gql(None, INTROSPECTION, json!({})).await;
    assert!(response.get("errors").is_none(), "{response:#}");
    let live: BTreeSet<String> = response["data"]["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .filter(|name| {
            !name.starts_with("__") && !matches!(name.as_str(), "String" | "Int" | "Float" | "Boolean" | "ID")
        })
        .collect();
    let committed = std::fs::read_to_string(SCHEMA_FILE).unwrap();
    let declared: BTreeSet<String> = committed
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match words.next()? {
                "type" | "enum" | "input" | "scalar" | "union" | "interface" => {
                    words.next().map(|w| w.trim_end_matches('{').to_owned())
                }
                _ => None,
            }
        })
        .collect();
    assert_eq!(live, declared);
    assert!(live.contains("Conversation") && live.contains("DateTime"));
}

const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}
"#;
