//! Embeddings: the real local model, the HTTP embedder, the announced fallback, and vectors
//! stored beside memories.

use std::path::Path;

use assistant::config::{EmbeddingConfig, EmbeddingProvider};
use assistant::embed::{Embedder as _, HttpEmbedder, MiniLmEmbedder, cosine};
use axum::routing::post;
use entity::prelude::Memory;
use sea_orm::EntityTrait as _;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, model_dir};

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn the_local_model_embeds_by_meaning() {
    let Some(dir) = model_dir() else { return };
    let model = MiniLmEmbedder::load(Path::new(&dir)).unwrap();
    assert_eq!(model.info().dimensions, 384);
    assert!(!model.info().degraded);

    let sentences = texts(&[
        "I am allergic to peanuts",
        "Nuts make me very ill",
        "The train to Porto leaves at nine",
        "My sister Ana lives in Berlin",
        "Ana, my sibling, is based in Germany's capital",
    ]);
    let vectors = model.embed(&sentences).await.unwrap();
    for vector in &vectors {
        assert_eq!(vector.len(), 384);
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "vectors are unit length, got {norm}");
    }
    // Paraphrases are closer than unrelated sentences, without sharing words.
    assert!(cosine(&vectors[0], &vectors[1]) > cosine(&vectors[0], &vectors[2]) + 0.2);
    assert!(cosine(&vectors[3], &vectors[4]) > cosine(&vectors[3], &vectors[2]) + 0.2);

    // Batching (sorted by length, padded) changes nothing: one at a time gives the same vectors.
    let alone = model.embed(&sentences[2..3]).await.unwrap();
    let difference: f32 = alone[0].iter().zip(&vectors[2]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(difference < 1e-4, "batched and single embeddings differ by {difference}");
}

/// Vectors of the reference forward pass (candle's `BertModel`, f32, one text per call, as the
/// embedder ran before it had its own forward pass), for texts short and long, empty, accented,
/// Japanese, and one past the 256-token cut.
const REFERENCE: &str = "tests/fixtures/minilm-reference.json";

/// Whatever the forward pass does for speed, it computes the same vectors: every text, alone and
/// in one mixed-length batch, within cosine 0.999 of the reference. `UPDATE_EMBEDDING_REFERENCE=1`
/// rewrites the file from the code as it is (only ever from a forward pass known to be right).
#[tokio::test]
async fn the_model_computes_the_reference_vectors() {
    let Some(dir) = model_dir() else { return };
    let model = MiniLmEmbedder::load(Path::new(&dir)).unwrap();
    let mut reference: Value = serde_json::from_slice(&std::fs::read(REFERENCE).unwrap()).unwrap();
    let texts: Vec<String> = serde_json::from_value(reference["texts"].clone()).unwrap();
    let mut alone = Vec::new();
    for text in &texts {
        alone.extend(model.embed(std::slice::from_ref(text)).await.unwrap());
    }
    if std::env::var_os("UPDATE_EMBEDDING_REFERENCE").is_some() {
        reference["vectors"] = json!(alone);
        std::fs::write(REFERENCE, serde_json::to_string(&reference).unwrap()).unwrap();
    }
    let expected: Vec<Vec<f32>> = serde_json::from_value(reference["vectors"].clone()).unwrap();
    assert_eq!(expected.len(), texts.len(), "{REFERENCE} holds one vector per text");
    let batched = model.embed(&texts).await.unwrap();
    for (how, vectors) in [("alone", &alone), ("in a batch", &batched)] {
        for ((text, vector), expected) in texts.iter().zip(vectors).zip(&expected) {
            let similarity = cosine(vector, expected);
            assert!(similarity >= 0.999, "{text:?} embedded {how}: cosine {similarity} with the reference");
        }
    }
}

#[tokio::test]
async fn the_server_reports_and_uses_the_real_model() {
    let Some(dir) = model_dir() else { return };
    let app = TestApp::spawn_with(Backend::Sqlite, &[("EMBEDDING_PROVIDER", "auto"), ("EMBEDDING_MODEL_DIR", &dir)])
        .await
        .unwrap();
    let info = app.gql(None, "{ serverInfo { embedder { name dimensions degraded } } }", json!({})).await;
    assert_eq!(
        info["data"]["serverInfo"]["embedder"],
        json!({ "name": "all-MiniLM-L6-v2", "dimensions": 384, "degraded": false })
    );

    let (_, key) = app.create_user("Ada").await;
    let id = app.data(&key, r#"mutation { remember(input: {content: "I am vegetarian"}) { id } }"#, json!({})).await
        ["remember"]["id"]
        .clone();
    let row =
        Memory::find_by_id(Uuid::parse_str(id.as_str().unwrap()).unwrap()).one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(row.embedding_model.as_deref(), Some("all-MiniLM-L6-v2"));
    assert_eq!(row.embedding_dim, Some(384));
    assert_eq!(row.embedding.as_ref().map(Vec::len), Some(384 * 4));

    // A changed memory gets a new vector for its new text.
    app.data(
        &key,
        "mutation($id: ID!) { updateMemory(id: $id, input: {content: \"I eat fish again\"}) { id } }",
        json!({ "id": id }),
    )
    .await;
    let changed = Memory::find_by_id(row.id).one(&app.state.db).await.unwrap().unwrap();
    assert_ne!(changed.embedding, row.embedding);
    assert_eq!(changed.embedding_dim, Some(384));
}

#[tokio::test]
async fn without_a_model_the_fallback_announces_itself() {
    // With downloading off (a first run kept offline), `auto` finds no model and says so.
    let app = TestApp::spawn_with(Backend::Sqlite, &[("EMBEDDING_PROVIDER", "auto"), ("EMBEDDING_DOWNLOAD", "false")])
        .await
        .unwrap();
    let info = app.gql(None, "{ serverInfo { embedder { name degraded } } }", json!({})).await;
    assert_eq!(info["data"]["serverInfo"]["embedder"], json!({ "name": "hashing-fallback", "degraded": true }));
}

#[tokio::test]
async fn the_http_embedder_speaks_the_openai_shape() {
    // An endpoint that answers out of order, as APIs may, with unnormalised vectors.
    let app = axum::Router::new().route(
        "/v1/embeddings",
        post(|headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| async move {
            assert_eq!(headers["authorization"], "Bearer emb-key");
            assert_eq!(body["model"], "text-embedding-test");
            let inputs = body["input"].as_array().unwrap().len();
            let data: Vec<Value> = (0..inputs)
                .rev()
                .map(|i| json!({ "index": i, "embedding": [i as f32 + 1.0, 0.0, 0.0, 1.0] }))
                .collect();
            axum::Json(json!({ "object": "list", "data": data }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let config = |dimensions| EmbeddingConfig {
        provider: EmbeddingProvider::Http,
        model_dir: "/nonexistent".into(),
        url: Some(url.clone()),
        model: "text-embedding-test".into(),
        api_key: Some(assistant::config::Secret::new("emb-key")),
        dimensions,
        download: false,
        download_index: String::new(),
    };
    let embedder = HttpEmbedder::new(&config(4)).unwrap();
    let vectors = embedder.embed(&texts(&["a", "b"])).await.unwrap();
    let expected = |first: f32| {
        let norm = (first * first + 1.0).sqrt();
        vec![first / norm, 0.0, 0.0, 1.0 / norm]
    };
    assert_eq!(vectors, [expected(1.0), expected(2.0)], "in input order, unit length");

    let wrong = HttpEmbedder::new(&config(384)).unwrap().embed(&texts(&["a"])).await.unwrap_err();
    assert!(wrong.to_string().contains("EMBEDDING_DIMENSIONS"), "{wrong}");
}

const SEARCH: &str = "query($q: String!, $n: Int) { searchMemories(query: $q, limit: $n) { score similarity keywordScore memory { content } } }";

fn contents(response: &Value) -> Vec<String> {
    response["searchMemories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["memory"]["content"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn memories_are_found_by_meaning_and_reach_the_answer() {
    let Some(dir) = model_dir() else { return };
    let app = TestApp::spawn_with(Backend::Sqlite, &[("EMBEDDING_PROVIDER", "local"), ("EMBEDDING_MODEL_DIR", &dir)])
        .await
        .unwrap();
    let (_, alice) = app.create_user("Alice").await;
    let (_, bob) = app.create_user("Bob").await;
    for fact in ["I am allergic to peanuts", "My sister Ana lives in Berlin", "I work night shifts as a nurse"] {
        app.data(&alice, "mutation($c: String!) { remember(input: {content: $c}) { id } }", json!({ "c": fact })).await;
    }

    // Paraphrases, with no word in common with the memory they should find.
    let sibling = app.data(&alice, SEARCH, json!({ "q": "Where is my sibling based?", "n": 3 })).await;
    assert_eq!(contents(&sibling)[0], "My sister Ana lives in Berlin", "{sibling}");
    assert_eq!(sibling["searchMemories"][0]["keywordScore"], 0.0);
    let food = app.data(&alice, SEARCH, json!({ "q": "which nuts should I avoid eating", "n": 3 })).await;
    assert_eq!(contents(&food)[0], "I am allergic to peanuts", "{food}");
    // Unrelated memories stay out: room for ten, and only the one that answers comes back.
    let job = app.data(&alice, SEARCH, json!({ "q": "what is my job", "n": 10 })).await;
    assert_eq!(contents(&job), ["I work night shifts as a nurse"], "{job}");

    // Another user's search never sees them.
    let theirs = app.data(&bob, SEARCH, json!({ "q": "peanuts allergy", "n": 10 })).await;
    assert_eq!(theirs["searchMemories"], json!([]));

    let bad = app.gql(Some(&alice), SEARCH, json!({ "q": "x", "n": 0 })).await;
    assert_eq!(crate::helpers::error_code(&bad), "BAD_USER_INPUT");

    // In a new conversation, the relevant memory is in what Claude is told.
    let conversation =
        app.data(&alice, "mutation { createConversation { id } }", json!({})).await["createConversation"]["id"].clone();
    app.data(
        &alice,
        "mutation($c: ID!) { sendMessage(input: {conversationId: $c, message: \"Suggest a snack with nuts for my hike\"}) { message { id } } }",
        json!({ "c": conversation }),
    )
    .await;
    let request = app.anthropic.stream_requests().pop().unwrap();
    let system = request.system_text();
    assert!(system.contains("I am allergic to peanuts"), "{system}");
    for unrelated in ["Berlin", "nurse"] {
        assert!(!system.contains(unrelated), "unrelated memories are left out: {system}");
    }
    // The whole list of memories the context picks for it, as the client can see it.
    let preview = app
        .data(
            &alice,
            "query($c: ID!) { contextPreview(conversationId: $c, message: \"Suggest a snack with nuts for my hike\") {
                memories { memory { content } } coreMemories { content } } }",
            json!({ "c": conversation }),
        )
        .await;
    assert_eq!(
        preview["contextPreview"],
        json!({ "memories": [{ "memory": { "content": "I am allergic to peanuts" } }], "coreMemories": [] })
    );
}
