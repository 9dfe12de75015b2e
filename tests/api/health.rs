use sea_orm::{ConnectionTrait as _, Database, DbBackend, Statement};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, eventually};

crate::on_both_backends!(health_and_readiness, graphiql_is_served_to_browsers, readiness_fails_while_sql_is_down);

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

async fn readiness(app: &TestApp) -> (u16, Value) {
    let response = app.client().get(format!("{}/readyz", app.address)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// With SQL out of reach, `/readyz` answers 503 and names SQL as what is down (and the
/// short-term store as fine); `/healthz` (the process lives) stays 200. PostgreSQL: the
/// database stops taking connections and those the server holds are terminated, as in a
/// failover; once it takes them again, the server is ready again. SQLite has no server to lose:
/// the server's pool is closed under it.
async fn readiness_fails_while_sql_is_down(app: TestApp) {
    assert_eq!(readiness(&app).await.0, 200);
    let store = app.state.short_term.name();
    let down =
        json!({ "status": "unavailable", "sql": "unavailable", "shortTermStore": { "kind": store, "status": "ok" } });

    match app.backend {
        Backend::Postgres => {
            let admin = Database::connect(crate::helpers::postgres_url().unwrap()).await.unwrap();
            let url = app.database_url();
            let name = url.rsplit_once('/').unwrap().1.split('?').next().unwrap().to_owned();
            let cut_off = [
                format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"),
                format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
            ];
            for statement in cut_off {
                admin.execute_unprepared(&statement).await.unwrap();
            }
            // Termination is a signal: wait until the backends are really gone.
            let backends = format!("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = '{name}'");
            eventually(
                "the server's PostgreSQL connections to be terminated",
                || async {
                    let row = admin.query_one_raw(Statement::from_string(DbBackend::Postgres, backends.clone()));
                    row.await.unwrap().unwrap().try_get::<i64>("", "n").unwrap()
                },
                |n| *n == 0,
            )
            .await;
            assert_eq!(readiness(&app).await, (503, down.clone()));
            let healthz = app.client().get(format!("{}/healthz", app.address)).send().await.unwrap();
            assert_eq!(healthz.status(), 200, "the process itself is alive");

            admin.execute_unprepared(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true")).await.unwrap();
            admin.close().await.unwrap();
            let (status, body) =
                eventually("readiness once PostgreSQL takes connections again", || readiness(&app), |r| r.0 == 200)
                    .await;
            assert_eq!((status, body["sql"].clone()), (200, json!("ok")));
        }
        Backend::Sqlite => {
            app.state.db.close_by_ref().await.unwrap();
            assert_eq!(readiness(&app).await, (503, down));
            let healthz = app.client().get(format!("{}/healthz", app.address)).send().await.unwrap();
            assert_eq!(healthz.status(), 200, "the process itself is alive");
        }
    }
}
