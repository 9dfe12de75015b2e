//! What one user may cost the operator: query cost, one export or turn per request, Claude
//! budgets with the `usage` query, quotas, and nothing left on disk after a deletion.

use entity::{api_key, memory, prelude::*, user};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, error_code, error_message, eventually, learned_from};

async fn conversation(app: &TestApp, key: &str) -> String {
    let data = app.data(key, "mutation { createConversation(input: {title: \"t\"}) { id } }", json!({})).await;
    data["createConversation"]["id"].as_str().unwrap().to_owned()
}

async fn remember(app: &TestApp, key: &str, content: &str) -> Value {
    app.gql(Some(key), "mutation($c: String!) { remember(input: {content: $c}) { id } }", json!({ "c": content })).await
}

const SEND: &str =
    "mutation($c: ID!, $m: String!) { sendMessage(input: {conversationId: $c, message: $m}) { message { id } } }";

/// The 1,000-alias history query that once made a 199 MB response is refused by its cost
/// before anything runs; a page of history within the cost is served.
#[tokio::test]
async fn a_query_costs_what_its_lists_may_return() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let id = remember(&app, &key, "Lives in Porto").await["data"]["remember"]["id"].as_str().unwrap().to_owned();
    for place in ["Lisbon", "Braga", "Faro"] {
        app.data(
            &key,
            "mutation($id: ID!, $c: String!) { updateMemory(id: $id, input: {content: $c}) { id } }",
            json!({ "id": id, "c": format!("Lives in {place}") }),
        )
        .await;
    }

    let aliases: String =
        (0..1000).map(|n| format!("m{n}: memory(id: $id) {{ history {{ content change validFrom }} }} ")).collect();
    let refused = app.gql(Some(&key), &format!("query($id: ID!) {{ {aliases} }}"), json!({ "id": id })).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");
    assert!(error_message(&refused).contains("complex"), "{refused:#}");
    assert!(refused["data"].is_null(), "nothing ran: {refused:#}");

    // One list of 100 items costs a hundred times its item: a few aliases of it are too many.
    let pages: String = (0..5).map(|n| format!("p{n}: memories(first: 100) {{ edges {{ node {{ id content category importance history {{ content }} }} }} }} ")).collect();
    let refused = app.gql(Some(&key), &format!("{{ {pages} }}"), json!({})).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");

    // What a client asks for in practice is served, the newest versions of a history first.
    let served = app
        .data(&key, "query($id: ID!) { memory(id: $id) { content history(last: 2) { content } } }", json!({ "id": id }))
        .await;
    assert_eq!(served["memory"]["content"], "Lives in Faro");
    assert_eq!(served["memory"]["history"], json!([{ "content": "Lives in Lisbon" }, { "content": "Lives in Braga" }]));
    let refused = app
        .gql(Some(&key), "query($id: ID!) { memory(id: $id) { history(last: 101) { content } } }", json!({ "id": id }))
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");
}

/// A whole export and a whole Claude turn are one per request, however they are aliased or
/// spread through fragments; the refused turn stores nothing and calls no one.
#[tokio::test]
async fn exports_and_turns_are_one_per_request() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let once = app.data(&key, "{ exportMyData }", json!({})).await;
    assert!(once["exportMyData"].is_object());

    for query in [
        "{ a: exportMyData b: exportMyData }",
        "{ exportMyData ...again } fragment again on Query { exportMyData }",
        "{ ... on Query { a: exportMyData } ... on Query { b: exportMyData } }",
    ] {
        let refused = app.gql(Some(&key), query, json!({})).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{query}: {refused:#}");
        assert!(
            error_message(&refused).contains("exportMyData") && error_message(&refused).contains("once"),
            "{refused:#}"
        );
        assert!(refused["data"].is_null(), "{refused:#}");
    }

    let conversation = conversation(&app, &key).await;
    let twice = "mutation($c: ID!) { a: sendMessage(input: {conversationId: $c, message: \"one\"}) { message { id } } \
                 b: sendMessage(input: {conversationId: $c, message: \"two\"}) { message { id } } }";
    let refused = app.gql(Some(&key), twice, json!({ "c": conversation })).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");
    assert!(error_message(&refused).contains("sendMessage"), "{refused:#}");
    assert!(app.anthropic.requests().is_empty(), "no Claude call for a refused request");
    let messages = app
        .data(
            &key,
            "query($c: ID!) { conversation(id: $c) { messages { edges { cursor } } } }",
            json!({ "c": conversation }),
        )
        .await;
    assert_eq!(messages["conversation"]["messages"]["edges"], json!([]), "nothing stored");
}

/// Every Claude call is counted for its user, by purpose; a spent budget refuses the next turn
/// with RATE_LIMITED and when to retry, before anything is stored; another user is unaffected.
async fn claude_calls_are_counted_and_budgeted(app: TestApp) {
    let (user, key) = app.create_user("Ada").await;
    let (_, other) = app.create_user("Grace").await;
    let limits =
        app.data(&key, "{ usageLimits { measure window allowed used remaining resetsInSeconds } }", json!({})).await;
    assert_eq!(
        limits["usageLimits"],
        json!([{ "measure": "CALLS", "window": "DAY", "allowed": 2, "used": 0, "remaining": 2, "resetsInSeconds": limits["usageLimits"][0]["resetsInSeconds"] }])
    );

    let conversation = conversation(&app, &key).await;
    app.data(&key, SEND, json!({ "c": conversation, "m": "My sister Eva is getting married in June." })).await;
    // The answer and the extraction of memories from the message (it says something about the
    // user, so the extraction gate lets it through): two calls.
    let usage = "{ usage { day purpose calls inputTokens outputTokens cacheReadTokens cacheWriteTokens } }";
    let counted = eventually(
        "the chat and extraction calls to be counted",
        || app.data(&key, usage, json!({})),
        |data| data["usage"].as_array().is_some_and(|days| days.len() == 2),
    )
    .await;
    let days = counted["usage"].as_array().unwrap();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let requests = app.anthropic.requests();
    assert_eq!(requests.len(), 2, "one answer, one extraction");
    for (day, purpose) in days.iter().zip(["chat", "extraction"]) {
        assert_eq!(day["day"], today.as_str());
        assert_eq!(day["purpose"], purpose);
        assert_eq!(day["calls"], 1);
        assert!(day["inputTokens"].as_i64().unwrap() > 0 && day["outputTokens"].as_i64().unwrap() > 0, "{day}");
    }
    // The fake reports input tokens as a quarter of the request's length: the count is Claude's own.
    let extraction = requests.iter().find(|r| r.body["tools"][0]["name"] == "update_memories").unwrap();
    assert_eq!(days[1]["inputTokens"], extraction.body.to_string().len() as u64 / 4);

    let refused = app.gql(Some(&key), SEND, json!({ "c": conversation, "m": "And now?" })).await;
    assert_eq!(error_code(&refused), "RATE_LIMITED", "{refused:#}");
    assert!(error_message(&refused).contains("2 calls a day"), "{refused:#}");
    let retry_after = refused["errors"][0]["extensions"]["retryAfter"].as_u64().expect("retryAfter");
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    assert_eq!(app.anthropic.requests().len(), 2, "no call over the budget");
    let stored = app
        .data(
            &key,
            "query($c: ID!) { conversation(id: $c) { messages { edges { node { content } } } } }",
            json!({ "c": conversation }),
        )
        .await;
    assert_eq!(
        stored["conversation"]["messages"]["edges"].as_array().unwrap().len(),
        2,
        "the refused message is not stored"
    );
    let limits = app.data(&key, "{ usageLimits { used remaining } }", json!({})).await;
    assert_eq!(limits["usageLimits"], json!([{ "used": 2, "remaining": 0 }]));
    // Background work (extraction, summaries, anything later) meets the same budget at the
    // client every Claude call goes through: it is refused before the call, and skipped.
    let mut background = assistant::llm::MessagesRequest::new("claude-fake", 16, Vec::new());
    background.purpose = "summary";
    background.user = Some(Uuid::parse_str(&user).unwrap());
    let skipped = app.state.llm.complete(&background).await;
    assert!(matches!(skipped, Err(assistant::llm::LlmError::OverBudget(_))), "{skipped:?}");
    assert_eq!(app.anthropic.requests().len(), 2, "no call over the budget");
    let export = app.data(&key, "{ exportMyData }", json!({})).await;
    assert_eq!(export["exportMyData"]["claudeUsage"].as_array().unwrap().len(), 2, "usage is the user's data too");

    // Budgets and usage are per user.
    let theirs = self::conversation(&app, &other).await;
    app.data(&other, SEND, json!({ "c": theirs, "m": "Hi" })).await;
    let none = app
        .data(&key, "{ usage(from: \"2020-01-01T00:00:00Z\", to: \"2020-01-31T00:00:00Z\") { calls } }", json!({}))
        .await;
    assert_eq!(none["usage"], json!([]), "no usage in a range without calls");
}

/// Quotas: each refusal names its limit; freeing room makes room.
async fn quotas_are_refused_with_their_limit(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;

    // API keys: the first came with the user.
    let create_key = "mutation { createApiKey { apiKey key { id } } }";
    let second = app.data(&key, create_key, json!({})).await;
    let refused = app.gql(Some(&key), create_key, json!({})).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");
    assert!(error_message(&refused).contains("MAX_API_KEYS_PER_USER"), "{refused:#}");
    app.data(
        &key,
        "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
        json!({ "id": second["createApiKey"]["key"]["id"] }),
    )
    .await;
    app.data(&key, create_key, json!({})).await;

    // Conversations.
    conversation(&app, &key).await;
    conversation(&app, &key).await;
    let refused = app.gql(Some(&key), "mutation { createConversation { id } }", json!({})).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");
    assert!(error_message(&refused).contains("MAX_CONVERSATIONS_PER_USER"), "{refused:#}");

    // Memories, counted among those that still hold.
    let first = remember(&app, &key, "Has a cat").await;
    remember(&app, &key, "Plays the cello").await;
    let refused = remember(&app, &key, "Lives in Porto").await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");
    assert!(error_message(&refused).contains("MAX_MEMORIES_PER_USER"), "{refused:#}");
    app.data(&key, "mutation($id: ID!) { forgetMemory(id: $id) }", json!({ "id": first["data"]["remember"]["id"] }))
        .await;
    let stored = remember(&app, &key, "Lives in Porto").await;
    assert!(stored.get("errors").is_none(), "{stored:#}");

    // Search text.
    let search = "query($q: String!) { searchMemories(query: $q) { score } }";
    let refused = app.gql(Some(&key), search, json!({ "q": "x".repeat(1001) })).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");
    assert!(error_message(&refused).contains("at most 1000"), "{refused:#}");
    app.data(&key, search, json!({ "q": "porto ".repeat(166) })).await;
}

/// One message of many "I prefer ..." sentences becomes at most 5 memories, not one each.
async fn one_message_makes_a_few_memories_at_most(app: TestApp) {
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    let message: String = (1..=40).map(|n| format!("I prefer item{n}. ")).collect();
    app.data(&key, SEND, json!({ "c": conversation, "m": message })).await;
    learned_from(&app, &key, 1).await;
    let memories = app.data(&key, "{ memories(first: 100) { edges { node { content source } } } }", json!({})).await;
    let edges = memories["memories"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 5, "{memories:#}");
}

crate::on_both_backends!(
    with [("CLAUDE_CALLS_PER_DAY", "2")]
    claude_calls_are_counted_and_budgeted
);

crate::on_both_backends!(
    with [("MAX_API_KEYS_PER_USER", "2"), ("MAX_CONVERSATIONS_PER_USER", "2"), ("MAX_MEMORIES_PER_USER", "2")]
    quotas_are_refused_with_their_limit
);

crate::on_both_backends!(
    with [("MEMORY_EXTRACTION", "rules")]
    one_message_makes_a_few_memories_at_most
);

/// A TCP relay to the test Redis that can be cut, as a Redis outage looks to the server.
struct CuttableRedis {
    url: String,
    cut: tokio_util::sync::CancellationToken,
}

impl CuttableRedis {
    async fn start(target: &str) -> Self {
        let target = target.trim_start_matches("redis://").trim_end_matches('/').split('/').next().unwrap().to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}/", listener.local_addr().unwrap());
        let cut = tokio_util::sync::CancellationToken::new();
        let stop = cut.clone();
        tokio::spawn(async move {
            loop {
                let (mut inbound, _) = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => accepted.unwrap(),
                };
                let (target, stop) = (target.clone(), stop.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        () = stop.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        Self { url, cut }
    }
}

/// `deleteMyData` with Redis down still deletes the index files (they hold memory text): the
/// short-term windows are a cache that expires by itself.
#[tokio::test]
async fn delete_my_data_with_redis_down_leaves_no_index_files() {
    let Some(redis) = crate::helpers::redis_url() else { return };
    let relay = CuttableRedis::start(&redis).await;
    let Some(app) = TestApp::spawn_with(Backend::Postgres, &[("REDIS_URL", &relay.url)]).await else { return };
    let (user, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    app.data(&key, SEND, json!({ "c": conversation, "m": "Hello" })).await;
    remember(&app, &key, "Has a cat named Tom").await;
    app.data(&key, "{ searchMemories(query: \"cat\") { score } }", json!({})).await;
    app.state.memory_index.save_changed().await;
    let files = app.state.memory_index.files_of(Uuid::parse_str(&user).unwrap());
    assert!(files.iter().all(|f| f.exists()), "{files:?}");

    relay.cut.cancel();
    let deleted = app.gql(Some(&key), "mutation { deleteMyData }", json!({})).await;
    assert_eq!(deleted["data"]["deleteMyData"], true, "{deleted:#}");
    assert!(files.iter().all(|f| !f.exists()), "index files left behind: {files:?}");
}

/// Index files of a user who no longer exists (a deletion that could not remove them) are
/// swept at the next start; those of users who exist stay.
#[tokio::test]
async fn index_files_of_deleted_users_are_swept_at_start() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (gone, gone_key) = app.create_user("Ada").await;
    let (kept, kept_key) = app.create_user("Grace").await;
    for key in [&gone_key, &kept_key] {
        remember(&app, key, "Has a cat named Tom").await;
        app.data(key, "{ searchMemories(query: \"cat\") { score } }", json!({})).await;
    }
    app.state.memory_index.save_changed().await;
    let (gone, kept) = (Uuid::parse_str(&gone).unwrap(), Uuid::parse_str(&kept).unwrap());
    let (gone_files, kept_files) = (app.state.memory_index.files_of(gone), app.state.memory_index.files_of(kept));
    assert!(gone_files.iter().chain(&kept_files).all(|f| f.exists()));
    // The user's rows go, as a deletion whose file removal failed would leave it.
    let db = app.state.db.clone();
    Memory::delete_many().filter(memory::Column::UserId.eq(gone)).exec(&db).await.unwrap();
    ApiKey::delete_many().filter(api_key::Column::UserId.eq(gone)).exec(&db).await.unwrap();
    User::delete_many().filter(user::Column::Id.eq(gone)).exec(&db).await.unwrap();

    let mut app = app.restart(&[]).await;
    assert!(gone_files.iter().all(|f| !f.exists()), "{gone_files:?}");
    assert!(kept_files.iter().all(|f| f.exists()), "{kept_files:?}");
    let found = app.data(&kept_key, "{ searchMemories(query: \"cat\") { memory { content } } }", json!({})).await;
    assert_eq!(found["searchMemories"][0]["memory"]["content"], "Has a cat named Tom");
    app.stop_server().await;
}

/// With Redis down, chat keeps working (stream slots and budgets counted in this process), and
/// `/readyz` says the replica is degraded but keeps it in rotation (200): SQL is the truth.
#[tokio::test]
async fn chat_keeps_working_with_redis_down() {
    let Some(redis) = crate::helpers::redis_url() else { return };
    let relay = CuttableRedis::start(&redis).await;
    let overrides = [("REDIS_URL", relay.url.as_str()), ("CLAUDE_CALLS_PER_DAY", "100")];
    let Some(app) = TestApp::spawn_with(Backend::Postgres, &overrides).await else { return };
    let (_, key) = app.create_user("Ada").await;
    let conversation = conversation(&app, &key).await;
    relay.cut.cancel();

    let sent = app.gql(Some(&key), SEND, json!({ "c": conversation, "m": "Hello while Redis is away" })).await;
    assert!(sent.get("errors").is_none(), "{sent:#}");
    let limits = app.data(&key, "{ usageLimits { used } }", json!({})).await;
    assert!(limits["usageLimits"][0]["used"].as_i64().unwrap() >= 1, "counted in this process: {limits:#}");

    let readyz = app.client().get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(readyz.status(), 200);
    let body: Value = readyz.json().await.unwrap();
    assert_eq!(body["status"], "degraded", "{body:#}");
    assert_eq!(body["shortTermStore"]["status"], "unavailable", "{body:#}");
}

/// A crash between the two renames of a save leaves one user's new graph next to old
/// metadata; here, another user's graph stands in for it (the same number of vectors, so
/// only the save's own mark tells them apart). The shard is rebuilt from SQL, and search by
/// meaning scores as it did before.
#[tokio::test]
async fn a_mixed_index_pair_is_rebuilt_from_sql() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (ada, ada_key) = app.create_user("Ada").await;
    let (grace, grace_key) = app.create_user("Grace").await;
    remember(&app, &ada_key, "Has a cat named Tom").await;
    remember(&app, &grace_key, "Plays the cello in an orchestra").await;
    let search = "{ searchMemories(query: \"cat named Tom\") { similarity memory { content } } }";
    let before = app.data(&ada_key, search, json!({})).await;
    app.data(&grace_key, search, json!({})).await;
    let mut app = app.restart(&[]).await;
    let ada_files = app.state.memory_index.files_of(Uuid::parse_str(&ada).unwrap());
    let grace_files = app.state.memory_index.files_of(Uuid::parse_str(&grace).unwrap());
    app.stop_server().await;
    std::fs::copy(&grace_files[0], &ada_files[0]).unwrap();

    let app = app.restart(&[]).await;
    let after = app.data(&ada_key, search, json!({})).await;
    assert_eq!(after, before, "the same results, scored the same");
}

/// A response over `GRAPHQL_MAX_RESPONSE_BYTES` is replaced by an error that says so.
#[tokio::test]
async fn a_response_over_the_size_limit_is_refused() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("GRAPHQL_MAX_RESPONSE_BYTES", "2048")]).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    app.data(&key, "{ memories { edges { cursor } } }", json!({})).await;
    for n in 0..10 {
        remember(&app, &key, &format!("Memory number {n}: {}", "a fairly long sentence ".repeat(8))).await;
    }
    let refused = app.gql(Some(&key), "{ memories(first: 10) { edges { node { content } } } }", json!({})).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused:#}");
    assert!(error_message(&refused).contains("larger than 2048 bytes"), "{refused:#}");
    assert!(refused["data"].is_null(), "{refused:#}");
    app.data(&key, "{ memories(first: 2) { edges { node { id } } } }", json!({})).await;
}
