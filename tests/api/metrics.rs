//! `/metrics`: Prometheus text after real traffic, and the optional token.

use serde_json::json;

use crate::fake_anthropic::{Reply, StreamReply};
use crate::helpers::{Backend, TestApp};
use crate::ws::{CHAT, GqlSocket, Protocol};

/// The value of the first sample of `family` whose labels contain every `label`, if any.
fn sample(text: &str, family: &str, labels: &[&str]) -> Option<f64> {
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        let matches = (name == family || name.starts_with(&format!("{family}{{")))
            && labels.iter().all(|label| name.contains(label));
        matches.then(|| value.parse().ok()).flatten()
    })
}

#[tokio::test]
async fn a_chat_shows_up_in_the_metrics() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, key) = app.create_user("Ada").await;
    let conversation = app.data(&key, "mutation { createConversation(input: {}) { id } }", json!({})).await;
    let conversation = conversation["createConversation"]["id"].as_str().unwrap().to_owned();
    let before = app.client().get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    let turns_before = sample(&before, "chat_turns_total", &["outcome=\"complete\""]).unwrap_or(0.0);

    app.anthropic.push_stream(Reply::Stream(StreamReply::text("Hello from the metrics test")));
    let mut socket = GqlSocket::with_key(app.port, Protocol::TransportWs, &key).await;
    socket.subscribe("1", CHAT, json!({ "c": conversation, "m": "hi" })).await;
    let events = socket.chat_events().await;
    assert_eq!(events.last().unwrap()["__typename"], "ChatCompleted");
    app.data(&key, "query { searchMemories(query: \"anything\") { score } }", json!({})).await;

    let response = app.client().get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    // The process's metrics are shared by the tests running in it: compare with before, or >= 1.
    let turns = sample(&text, "chat_turns_total", &["outcome=\"complete\""]).unwrap();
    assert!(turns >= turns_before + 1.0, "{turns} after {turns_before}");
    for (family, labels) in [
        ("chat_time_to_first_token_seconds_count", &[][..]),
        ("chat_delta_relay_seconds_count", &[][..]),
        ("claude_calls_total", &["purpose=\"chat\""][..]),
        ("claude_tokens_total", &["purpose=\"chat\"", "kind=\"output\""][..]),
        ("graphql_requests_total", &["operation=\"mutation\"", "outcome=\"ok\""][..]),
        ("graphql_requests_total", &["operation=\"subscription\""][..]),
        ("http_requests_total", &["route=\"/graphql\"", "status=\"200\""][..]),
        ("http_request_duration_seconds_count", &["route=\"/graphql\""][..]),
        ("memory_index_reconciles_total", &[][..]),
        // Where the time before the upstream request went, phase by phase.
        ("chat_turn_phase_seconds_count", &["phase=\"checks\""][..]),
        ("chat_turn_phase_seconds_count", &["phase=\"writes\""][..]),
        ("chat_turn_phase_seconds_count", &["phase=\"context\""][..]),
        ("chat_turn_phase_seconds_count", &["phase=\"embedding\""][..]),
        ("chat_turn_phase_seconds_count", &["phase=\"search\""][..]),
        ("chat_turn_phase_seconds_count", &["phase=\"request\""][..]),
    ] {
        let value = sample(&text, family, labels).unwrap_or_else(|| panic!("no {family} {labels:?} in:\n{text}"));
        assert!(value >= 1.0, "{family} {labels:?} = {value}");
    }
    assert!(sample(&text, "websocket_connections_open", &[]).is_some());
    assert!(sample(&text, "memory_index_shards_loaded", &[]).is_some_and(|v| v >= 1.0));
    // No user ids, keys or message text in labels.
    assert!(!text.contains(&key) && !text.contains("Hello from the metrics test") && !text.contains(&conversation));
}

#[tokio::test]
async fn a_metrics_token_keeps_them_private() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("METRICS_TOKEN", "scrape-me-please")]).await.unwrap();
    let url = format!("{}/metrics", app.address);
    assert_eq!(app.client().get(&url).send().await.unwrap().status(), 401);
    let wrong = app.client().get(&url).bearer_auth("not-it").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = app.client().get(&url).bearer_auth("scrape-me-please").send().await.unwrap();
    assert_eq!(right.status(), 200);
    assert!(right.text().await.unwrap().contains("# TYPE"));
}
