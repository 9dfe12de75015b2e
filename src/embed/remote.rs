//! An OpenAI-compatible embeddings endpoint (`POST {EMBEDDING_URL}/embeddings` with
//! `{model, input}` → `{data: [{index, embedding}]}`): OpenAI, Voyage-style APIs, Ollama's `/v1`.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use serde::Deserialize;

use super::{Embedder, EmbedderInfo, normalise};
use crate::config::{EmbeddingConfig, Secret};

pub struct HttpEmbedder {
    http: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<Secret>,
    info: EmbedderInfo,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

impl HttpEmbedder {
    pub fn new(config: &EmbeddingConfig) -> anyhow::Result<Self> {
        let url = config.url.clone().context("EMBEDDING_PROVIDER=http needs EMBEDDING_URL")?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            http,
            url: format!("{}/embeddings", url.trim_end_matches('/')),
            model: config.model.clone(),
            api_key: config.api_key.clone(),
            info: EmbedderInfo { name: config.model.clone(), dimensions: config.dimensions, degraded: false },
        })
    }
}

#[async_trait]
impl Embedder for HttpEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    async fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = self.http.post(&self.url).json(&serde_json::json!({ "model": self.model, "input": texts }));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request.send().await.context("embeddings endpoint unreachable")?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("embeddings endpoint answered HTTP {status}");
        }
        let mut body: Response = response.json().await.context("embeddings endpoint sent an unexpected body")?;
        if body.data.len() != texts.len() {
            anyhow::bail!("embeddings endpoint returned {} vectors for {} texts", body.data.len(), texts.len());
        }
        body.data.sort_by_key(|item| item.index);
        body.data
            .into_iter()
            .map(|item| {
                if item.embedding.len() != self.info.dimensions {
                    anyhow::bail!(
                        "embeddings endpoint returned {} dimensions, EMBEDDING_DIMENSIONS says {}",
                        item.embedding.len(),
                        self.info.dimensions
                    );
                }
                let mut vector = item.embedding;
                normalise(&mut vector);
                Ok(vector)
            })
            .collect()
    }
}
