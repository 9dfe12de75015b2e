//! GraphQL over HTTP as the working group's spec says: the official audit (the `graphql-http`
//! package), and each behaviour a client notices, one by one.

use entity::prelude::Conversation;
use reqwest::StatusCode;
use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::node;

const JSON: &str = "application/json";
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// Audits we pass only as a notice (a MAY we chose not to follow), with README's reasons.
const NOTICES_WE_KEEP: &[&str] = &[];

#[tokio::test]
async fn the_graphql_over_http_audit_passes_without_errors_or_warnings() {
    if !node::available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let results = node::run("audit.mjs", vec![format!("{}/graphql", app.address)]).await;
    let results = results.as_array().expect("a list of audit results");
    assert!(results.len() >= 50, "the audit ran every check: {}", results.len());
    let failed: Vec<&Value> = results.iter().filter(|r| r["status"] == "error" || r["status"] == "warn").collect();
    assert!(failed.is_empty(), "audits failed: {failed:#?}");
    let notices: Vec<&str> =
        results.iter().filter(|r| r["status"] == "notice").map(|r| r["id"].as_str().unwrap_or_default()).collect();
    assert_eq!(notices, NOTICES_WE_KEEP, "notices: {results:#?}");
    let ok = results.iter().filter(|r| r["status"] == "ok").count();
    eprintln!("graphql-http audit: {ok} ok, {} notices, 0 warnings, 0 errors of {}", notices.len(), results.len());
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("send");
    let status = response.status();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer { status, content_type, body }
}

fn post(app: &TestApp, accept: Option<&str>, body: Value) -> reqwest::RequestBuilder {
    let mut request = app.client().post(format!("{}/graphql", app.address)).json(&body);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request
}

#[tokio::test]
async fn the_media_type_follows_accept() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let query = json!({ "query": "{ __typename }" });
    for (accept, expected) in [
        (None, JSON),
        (Some("*/*"), JSON),
        (Some("application/json"), JSON),
        (Some("application/graphql-response+json"), GRAPHQL_RESPONSE),
        // What Apollo Client and graphql-http's client send.
        (Some("application/graphql-response+json, application/json;q=0.9"), GRAPHQL_RESPONSE),
        (Some("application/json, application/graphql-response+json;q=0.5"), JSON),
    ] {
        let answer = send(post(&app, accept, query.clone())).await;
        assert_eq!(answer.status, 200, "{accept:?}");
        assert!(answer.content_type.starts_with(expected), "{accept:?}: {}", answer.content_type);
        assert_eq!(answer.body, json!({ "data": { "__typename": "QueryRoot" } }), "{accept:?}");
    }
    let refused = send(post(&app, Some("image/png"), query)).await;
    assert_eq!(refused.status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(refused.body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

/// A request error (nothing executed) has no `data`; its status depends on the media type: 200
/// for application/json clients, 400 for application/graphql-response+json.
#[tokio::test]
async fn request_errors_have_no_data_and_the_status_of_their_media_type() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let cases = [
        ("does not parse", json!({ "query": "{" })),
        ("does not validate", json!({ "query": "{ noSuchField }" })),
        ("unused variable", json!({ "query": "query($id: ID!) { __typename }", "variables": { "id": null } })),
        (
            "variable of the wrong type",
            json!({ "query": "query($n: Int) { conversations(first: $n) { edges { cursor } } }", "variables": { "n": "ten" } }),
        ),
        (
            "missing required variable",
            json!({ "query": "query($id: ID!) { conversation(id: $id) { id } }", "variables": {} }),
        ),
    ];
    for (what, body) in cases {
        for (accept, status) in [(JSON, StatusCode::OK), (GRAPHQL_RESPONSE, StatusCode::BAD_REQUEST)] {
            let answer = send(post(&app, Some(accept), body.clone()).bearer_auth(&key)).await;
            assert_eq!(answer.status, status, "{what} as {accept}: {}", answer.body);
            assert!(answer.content_type.starts_with(accept), "{what}: {}", answer.content_type);
            assert!(answer.body.get("data").is_none(), "{what} as {accept}: no data entry: {}", answer.body);
            assert_eq!(answer.body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{what}: {}", answer.body);
        }
    }

    // A field error is not a request error: execution ran, `data` is there, and the status is 200.
    let answer = send(post(&app, Some(GRAPHQL_RESPONSE), json!({ "query": "{ me { id } }" }))).await;
    assert_eq!(answer.status, 200);
    assert!(answer.body.get("data").is_some(), "{}", answer.body);
    assert_eq!(answer.body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn malformed_requests_are_refused_with_what_to_fix() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let url = format!("{}/graphql", app.address);
    let raw = |content_type: Option<&str>, body: &str| {
        let mut request = app.client().post(&url).header("accept", GRAPHQL_RESPONSE).body(body.to_owned());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request
    };
    let cases = [
        ("no content type", raw(None, r#"{"query": "{ __typename }"}"#), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("text/plain", raw(Some("text/plain"), r#"{"query": "{ __typename }"}"#), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            "latin-1",
            raw(Some("application/json; charset=iso-8859-1"), r#"{"query": "{ __typename }"}"#),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("no body", raw(Some(JSON), ""), StatusCode::BAD_REQUEST),
        ("not JSON", raw(Some(JSON), r#"{ "not a JSON"#), StatusCode::BAD_REQUEST),
        ("no query", raw(Some(JSON), r#"{"notquery": "{ __typename }"}"#), StatusCode::BAD_REQUEST),
        ("query not a string", raw(Some(JSON), r#"{"query": 1}"#), StatusCode::BAD_REQUEST),
        (
            "variables not an object",
            raw(Some(JSON), r#"{"query": "{ __typename }", "variables": "x"}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "extensions not an object",
            raw(Some(JSON), r#"{"query": "{ __typename }", "extensions": [1]}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "operationName not a string",
            raw(Some(JSON), r#"{"query": "{ __typename }", "operationName": 0}"#),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (what, request, status) in cases {
        let answer = send(request).await;
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        assert!(answer.body.get("data").is_none(), "{what}");
        assert_eq!(answer.body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{what}: {}", answer.body);
        assert!(!answer.body["errors"][0]["message"].as_str().unwrap_or_default().is_empty(), "{what}");
    }
    // Plain JSON clients get the same refusals (a request that is not GraphQL is not a 200).
    let answer = send(raw(Some(JSON), r#"{"qeury": "{ __typename }"}"#).header("accept", JSON)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn get_runs_queries_with_url_encoded_parameters_and_refuses_mutations() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let url = format!("{}/graphql", app.address);
    let get = |params: &[(&str, &str)]| app.client().get(&url).query(params).bearer_auth(&key);

    let answer = send(get(&[
        ("query", "query Named($name: String!) { __type(name: $name) { name } me { displayName } }"),
        ("operationName", "Named"),
        ("variables", r#"{"name": "ChatDelta"}"#),
        ("extensions", r#"{"some": "value"}"#),
    ]))
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["data"], json!({ "__type": { "name": "ChatDelta" }, "me": { "displayName": "Ada" } }));

    for accept in [JSON, GRAPHQL_RESPONSE] {
        let response = get(&[("query", "mutation { createConversation(input: {title: \"x\"}) { id } }")])
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{accept}");
        assert_eq!(response.headers()["allow"], "POST");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    }
    // A document with a query and a mutation: the operation chosen decides.
    let both = "query Q { __typename } mutation M { createConversation(input: {title: \"x\"}) { id } }";
    assert_eq!(send(get(&[("query", both), ("operationName", "Q")])).await.status, 200);
    assert_eq!(send(get(&[("query", both), ("operationName", "M")])).await.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(Conversation::find().count(&app.state.db).await.unwrap(), 0, "no mutation ran over GET");

    let answer = send(get(&[("variables", "{}")])).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "no query: {}", answer.body);
    let answer = send(get(&[("query", "{ __typename }"), ("variables", "not json")])).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);

    // Browsers still get GraphiQL.
    let page = app.client().get(&url).header("accept", "text/html,*/*;q=0.8").send().await.unwrap();
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}
