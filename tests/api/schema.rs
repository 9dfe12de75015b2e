//! `schema.graphql` is the API contract: it must equal what the code serves.

use std::collections::BTreeSet;

use serde_json::{Value, json};

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

/// Introspection is what GraphiQL and client generators show: every type, field, argument, enum
/// value and input field the live server serves has a description (the built-in `__*` types and
/// the spec's own scalars aside).
#[tokio::test]
async fn every_part_of_the_live_schema_is_described() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let response = app.gql(None, INTROSPECTION, json!({})).await;
    assert!(response.get("errors").is_none(), "{response:#}");
    let schema = &response["data"]["__schema"];
    assert!(schema["types"].as_array().is_some_and(|types| types.len() > 40), "{schema:#}");
    let missing = undescribed(schema);
    assert!(
        missing.is_empty(),
        "{} parts of the schema have no description (doc comments on types, fields and enum \
         variants; `#[graphql(desc = \"...\")]` on arguments):\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

/// The scalars the GraphQL spec defines; their meaning is the spec's.
const SPEC_SCALARS: [&str; 5] = ["String", "Int", "Float", "Boolean", "ID"];

/// Every part of an introspected `__schema` without a (non-blank) description, named so it can
/// be found: `type T`, `field T.f`, `argument T.f(a)`, `input field T.f`, `enum value T.V`.
fn undescribed(schema: &Value) -> Vec<String> {
    let described = |item: &Value| item["description"].as_str().is_some_and(|d| !d.trim().is_empty());
    let name = |item: &Value| item["name"].as_str().unwrap_or("?").to_owned();
    let list = |item: &Value, key: &str| item[key].as_array().cloned().unwrap_or_default();
    let mut missing = Vec::new();
    for ty in list(schema, "types") {
        let type_name = name(&ty);
        if type_name.starts_with("__") || SPEC_SCALARS.contains(&type_name.as_str()) {
            continue;
        }
        if !described(&ty) {
            missing.push(format!("type {type_name}"));
        }
        for field in list(&ty, "fields") {
            let field_name = name(&field);
            if !described(&field) {
                missing.push(format!("field {type_name}.{field_name}"));
            }
            for argument in list(&field, "args").iter().filter(|a| !described(a)) {
                missing.push(format!("argument {type_name}.{field_name}({})", name(argument)));
            }
        }
        for input in list(&ty, "inputFields").iter().filter(|i| !described(i)) {
            missing.push(format!("input field {type_name}.{}", name(input)));
        }
        for value in list(&ty, "enumValues").iter().filter(|v| !described(v)) {
            missing.push(format!("enum value {type_name}.{}", name(value)));
        }
    }
    missing
}

#[test]
fn a_missing_description_is_named_wherever_it_is() {
    let schema = json!({ "types": [
        { "name": "__Type", "description": null, "fields": [{ "name": "kind", "description": null, "args": [] }] },
        { "name": "String", "description": null },
        { "name": "DateTime", "description": null },
        { "name": "Thing", "description": "A thing.", "fields": [
            { "name": "size", "description": "", "args": [
                { "name": "unit", "description": null },
                { "name": "round", "description": "Rounded." },
            ] },
            { "name": "colour", "description": "Its colour.", "args": [] },
        ] },
        { "name": "Kind", "description": null, "enumValues": [
            { "name": "BIG", "description": null },
            { "name": "SMALL", "description": "Small." },
        ] },
        { "name": "ThingInput", "description": "In.", "inputFields": [{ "name": "size", "description": "  " }] },
    ] });
    assert_eq!(
        undescribed(&schema),
        [
            "type DateTime",
            "field Thing.size",
            "argument Thing.size(unit)",
            "type Kind",
            "enum value Kind.BIG",
            "input field ThingInput.size",
        ]
    );
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
