use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

crate::on_both_backends!(health_and_readiness, graphiql_is_served_to_browsers);

async fn health_and_readiness(app: TestApp) {
    let healthz = app.client().get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(healthz.status(), 200);

    let readyz = app.client().get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(readyz.status(), 200);
    let body: Value = readyz.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["sql"], "ok");
    let expected_store =
        if app.backend == Backend::Postgres && crate::helpers::redis_url().is_some() { "redis" } else { "in-process" };
    assert_eq!(body["shortTermStore"], json!({ "kind": expected_store, "status": "ok" }));

    let info = app.gql(None, "{ serverInfo { version database shortTermStore } }", json!({})).await;
    assert_eq!(info["data"]["serverInfo"]["shortTermStore"], expected_store);
    assert_eq!(
        info["data"]["serverInfo"]["database"],
        if app.backend == Backend::Sqlite { "sqlite" } else { "postgres" }
    );

    // Every response carries a request id for correlating logs.
    assert!(healthz.headers().get("x-request-id").is_some());
}

async fn graphiql_is_served_to_browsers(app: TestApp) {
    let page = app.client().get(format!("{}/graphql", app.address)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/assets/js/graphiql.js") && html.contains("API key"),
        "GraphiQL must offer a place for the key"
    );
    // Its script, from this server like everything the page loads.
    let script = app.client().get(format!("{}/assets/js/graphiql.js", app.address)).send().await.unwrap();
    assert_eq!(script.status(), 200);
    let script = script.text().await.unwrap();
    assert!(script.contains("GraphiQL.createFetcher"));
    assert!(script.contains("subscriptionUrl"), "GraphiQL must know where subscriptions live");
    assert!(script.contains("authorization"), "the key goes with every request and the socket");
}
