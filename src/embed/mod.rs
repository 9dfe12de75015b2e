//! Text embeddings for long-term memory: a local all-MiniLM-L6-v2 run by candle on the CPU, an
//! OpenAI-compatible HTTP endpoint, or, only when neither is available, a hashing fallback that
//! says loudly that it is not a real model.

mod batching;
mod fallback;
pub mod install;
mod local;
mod remote;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

pub use batching::BatchingEmbedder;
pub use fallback::HashingEmbedder;
pub use local::{Engine, MiniLmEmbedder};
pub use remote::HttpEmbedder;

use crate::config::{EmbeddingConfig, EmbeddingProvider};

/// What produces the vectors, as the API reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbedderInfo {
    /// The model's name, stored with every vector so vectors of different models never mix.
    pub name: String,
    pub dimensions: usize,
    /// True for the fallback: search by meaning works poorly until a real model is configured.
    pub degraded: bool,
}

#[async_trait]
pub trait Embedder: Send + Sync {
    fn info(&self) -> &EmbedderInfo;

    /// One L2-normalised vector per text, in order.
    async fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>>;
}

/// Chooses the embedder the configuration asks for. With `auto` and `local`, the local model is
/// checked against its pinned checksums first and, when it is missing or broken, installed
/// (unless `EMBEDDING_DOWNLOAD=false`); a broken model is never loaded. With `auto`, when the
/// model cannot be had, the fallback, with a warning that says how to install the model.
pub async fn from_config(config: &EmbeddingConfig) -> anyhow::Result<Arc<dyn Embedder>> {
    let wants_local = matches!(config.provider, EmbeddingProvider::Auto | EmbeddingProvider::Local);
    let local_ready = wants_local && ensure_local_model(config).await;
    Ok(match config.provider {
        EmbeddingProvider::Http => Arc::new(HttpEmbedder::new(config)?),
        EmbeddingProvider::Fallback => fallback_with_warning(&config.model_dir),
        EmbeddingProvider::Auto | EmbeddingProvider::Local if local_ready => {
            batched(MiniLmEmbedder::load(&config.model_dir)?)
        }
        EmbeddingProvider::Local => anyhow::bail!(
            "EMBEDDING_PROVIDER=local but all-MiniLM-L6-v2 is not installed in {} (install it with \
             `assistant fetch-model {}`, or allow EMBEDDING_DOWNLOAD)",
            config.model_dir.display(),
            config.model_dir.display()
        ),
        EmbeddingProvider::Auto => fallback_with_warning(&config.model_dir),
    })
}

/// Whether the local model is in `EMBEDDING_MODEL_DIR` with its pinned content, installing it
/// first when it is not and downloading is allowed.
async fn ensure_local_model(config: &EmbeddingConfig) -> bool {
    let source = install::ModelSource::minilm(&config.download_index);
    let dir = config.model_dir.clone();
    let checked = {
        let (dir, source) = (dir.clone(), source.clone());
        tokio::task::spawn_blocking(move || install::check(&dir, &source)).await
    };
    let problem = match checked {
        Ok(install::ModelState::Complete) => return true,
        Ok(install::ModelState::Missing) => "it is not installed".to_owned(),
        Ok(install::ModelState::Broken(reason)) => format!("the model directory is broken ({reason})"),
        Err(error) => format!("checking it failed ({error})"),
    };
    if !config.download {
        tracing::warn!(dir = %dir.display(), "all-MiniLM-L6-v2 cannot be used: {problem}; EMBEDDING_DOWNLOAD=false, so it is not downloaded");
        return false;
    }
    tracing::info!(dir = %dir.display(), "all-MiniLM-L6-v2: {problem}; installing it (about 90 MB, once)");
    match install::install(&dir, &source).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), dir = %dir.display(), "could not install all-MiniLM-L6-v2");
            false
        }
    }
}

/// The local model behind continuous batching (it must be called on a Tokio runtime).
fn batched(model: MiniLmEmbedder) -> Arc<dyn Embedder> {
    Arc::new(BatchingEmbedder::new(Arc::new(model)))
}

fn fallback_with_warning(model_dir: &Path) -> Arc<dyn Embedder> {
    tracing::warn!(
        model_dir = %model_dir.display(),
        "no embedding model found: using the hashing FALLBACK, which matches words, not meaning \
         (serverInfo.embedder.degraded is true). Install all-MiniLM-L6-v2 there with \
         `assistant fetch-model <dir>` (or `cargo run -- fetch-model <dir>`), or set \
         EMBEDDING_PROVIDER=http with EMBEDDING_URL"
    );
    Arc::new(HashingEmbedder::new(384))
}

/// Scales `vector` to unit length (a zero vector stays zero).
pub fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A vector as stored in SQL: little-endian f32s.
pub fn to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}
