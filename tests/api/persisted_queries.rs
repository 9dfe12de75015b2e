//! Apollo's automatic persisted queries: a client sends the query's SHA-256 instead of its text,
//! is told `PersistedQueryNotFound` the first time, sends the text once, and from then on (on
//! every replica, with Redis) the hash alone runs the query, over HTTP and WebSocket alike.

use entity::prelude::Conversation;
use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::fake_anthropic::{Reply, StreamReply};
use crate::helpers::{Backend, TestApp, redis_url};
use crate::ws::{CHAT, Frame, GqlSocket, Protocol};

crate::on_both_backends!(a_query_is_sent_once_then_by_its_hash, get_runs_hashed_queries_but_not_mutations);

fn persisted(query: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hex::encode(Sha256::digest(query.as_bytes())) } })
}

async fn post(app: &TestApp, key: &str, accept: &str, body: Value) -> (u16, Value) {
    let response = app
        .client()
        .post(format!("{}/graphql", app.address))
        .header("accept", accept)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn assert_not_found(status: u16, expected_status: u16, body: &Value) {
    assert_eq!(status, expected_status, "{body}");
    assert!(body.get("data").is_none(), "{body}");
    // Apollo's clients look for this exact message (and code) before sending the text.
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND", "{body}");
}

async fn a_query_is_sent_once_then_by_its_hash(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let query = "query Me { me { displayName } }";
    let by_hash = json!({ "extensions": persisted(query) });

    let (status, body) = post(&app, &key, "application/json", by_hash.clone()).await;
    assert_not_found(status, 200, &body);
    let (status, body) = post(&app, &key, "application/graphql-response+json", by_hash.clone()).await;
    assert_not_found(status, 400, &body);

    let with_text = json!({ "query": query, "extensions": persisted(query) });
    let (status, body) = post(&app, &key, "application/json", with_text).await;
    assert_eq!((status, &body["data"]["me"]["displayName"]), (200, &json!("Ada")), "{body}");
    let (status, body) = post(&app, &key, "application/json", by_hash.clone()).await;
    assert_eq!((status, &body["data"]["me"]["displayName"]), (200, &json!("Ada")), "{body}");

    // Another replica behind the same URL knows it when they share Redis; without Redis each
    // process keeps its own, and the client simply sends the text again.
    let replica = app.replica().await;
    let (status, body) = post(&replica, &key, "application/json", by_hash).await;
    if app.backend == Backend::Postgres && redis_url().is_some() {
        assert_eq!((status, &body["data"]["me"]["displayName"]), (200, &json!("Ada")), "{body}");
    } else {
        assert_not_found(status, 200, &body);
    }

    // A hash that does not match the text is refused, and registers nothing.
    let lie = json!({ "query": "{ __typename }", "extensions": persisted("{ somethingElse }") });
    let (status, body) = post(&app, &key, "application/graphql-response+json", lie).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["message"], "provided sha does not match query");
    let (status, body) =
        post(&app, &key, "application/json", json!({ "extensions": persisted("{ somethingElse }") })).await;
    assert_not_found(status, 200, &body);

    let other_version = json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": "00" } } });
    let (_, body) = post(&app, &key, "application/json", other_version).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
}

async fn get_runs_hashed_queries_but_not_mutations(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let url = format!("{}/graphql", app.address);
    let get = |extensions: &Value| {
        app.client().get(&url).query(&[("extensions", extensions.to_string())]).bearer_auth(&key).send()
    };
    let query = "{ me { displayName } }";
    let not_yet = get(&persisted(query)).await.unwrap();
    assert_eq!(not_yet.status(), 200);
    assert_not_found(200, 200, &not_yet.json().await.unwrap());
    post(&app, &key, "application/json", json!({ "query": query, "extensions": persisted(query) })).await;
    let known: Value = get(&persisted(query)).await.unwrap().json().await.unwrap();
    assert_eq!(known["data"]["me"]["displayName"], "Ada", "{known}");

    // A mutation registered over POST (where it ran) is refused over GET even by hash alone.
    let mutation = "mutation { createConversation(input: {title: \"once\"}) { id } }";
    post(&app, &key, "application/json", json!({ "query": mutation, "extensions": persisted(mutation) })).await;
    let refused = get(&persisted(mutation)).await.unwrap();
    assert_eq!(refused.status(), 405);
    assert_eq!(refused.headers()["allow"], "POST");
    assert_eq!(Conversation::find().count(&app.state.db).await.unwrap(), 1, "the mutation ran once, over POST");
}

#[tokio::test]
async fn the_chat_subscription_is_sent_by_hash_over_websocket() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let created = app.data(&key, "mutation { createConversation(input: {title: \"apq\"}) { id } }", json!({})).await;
    let conversation = created["createConversation"]["id"].as_str().unwrap().to_owned();
    let variables = json!({ "c": conversation, "m": "hello" });
    for protocol in Protocol::BOTH {
        // A text of its own per protocol, so each starts unknown.
        let chat = format!("# over {protocol:?}\n{CHAT}");
        let mut socket = GqlSocket::with_key(app.port, protocol, &key).await;
        socket.subscribe_with("1", None, variables.clone(), persisted(&chat)).await;
        let Frame::Errors(errors) = socket.next_frame().await else { panic!("{protocol:?}: unknown hash") };
        assert_eq!(errors[0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND", "{errors}");
        assert_eq!(errors[0]["message"], "PersistedQueryNotFound");
        if protocol == Protocol::LegacyWs {
            assert!(matches!(socket.next_frame().await, Frame::Complete));
        }

        for (id, text) in [("2", Some(chat.as_str())), ("3", None)] {
            app.anthropic.push_stream(Reply::Stream(StreamReply::text("Hi!")));
            socket.subscribe_with(id, text, variables.clone(), persisted(&chat)).await;
            let events = socket.chat_events().await;
            assert_eq!(events.last().unwrap()["__typename"], "ChatCompleted", "{protocol:?} {id}: {events:?}");
        }
        socket.close().await;
    }
}

/// Without Redis the process keeps a bounded number of queries, the least recently used going
/// first; with Redis they are shared (and expire after disuse).
#[tokio::test]
async fn the_store_keeps_queries_within_its_bounds() {
    use assistant::store::{InProcessStore, PersistedQueryPolicy, RedisStore, ShortTermStore, WindowPolicy};
    let policy = PersistedQueryPolicy { max_entries: 2, ..Default::default() };
    let store = InProcessStore::new(WindowPolicy::default()).with_persisted_queries(policy);
    store.persist_query("a", "{ a }").await.unwrap();
    store.persist_query("b", "{ b }").await.unwrap();
    assert_eq!(store.persisted_query("a").await.unwrap().as_deref(), Some("{ a }"));
    store.persist_query("c", "{ c }").await.unwrap();
    assert_eq!(store.persisted_query("b").await.unwrap(), None, "the least recently used went");
    assert_eq!(store.persisted_query("a").await.unwrap().as_deref(), Some("{ a }"));
    assert_eq!(store.persisted_query("c").await.unwrap().as_deref(), Some("{ c }"));

    let Some(url) = redis_url() else { return };
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let policy = PersistedQueryPolicy { ttl: std::time::Duration::from_secs(60), ..Default::default() };
    let first =
        RedisStore::connect(&url, &prefix, WindowPolicy::default()).await.unwrap().with_persisted_queries(policy);
    let second = RedisStore::connect(&url, &prefix, WindowPolicy::default()).await.unwrap();
    assert_eq!(first.persisted_query("h").await.unwrap(), None);
    first.persist_query("h", "{ h }").await.unwrap();
    assert_eq!(second.persisted_query("h").await.unwrap().as_deref(), Some("{ h }"), "shared through Redis");
    let mut connection = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL").arg(format!("{prefix}apq:h")).query_async(&mut connection).await.unwrap();
    assert!(ttl > 0 && ttl <= 86_400, "kept with an expiry: {ttl}");
}
