//! Text embeddings for long-term memory: a local all-MiniLM-L6-v2 run by candle on the CPU, an
//! OpenAI-compatible HTTP endpoint, or, only when neither is available, a hashing fallback that
//! says loudly that it is not a real model.

mod batching;
mod fallback;
mod local;
mod remote;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

pub use batching::BatchingEmbedder;
pub use fallback::HashingEmbedder;
pub use local::MiniLmEmbedder;
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

/// The model files the local embedder needs.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// Chooses the embedder the configuration asks for. With `auto`, the local model when its files
/// are there, else the fallback, with a warning that says how to get the model.
pub fn from_config(config: &EmbeddingConfig) -> anyhow::Result<Arc<dyn Embedder>> {
    let local_available = MODEL_FILES.iter().all(|file| config.model_dir.join(file).is_file());
    Ok(match config.provider {
        EmbeddingProvider::Http => Arc::new(HttpEmbedder::new(config)?),
        EmbeddingProvider::Local => batched(MiniLmEmbedder::load(&config.model_dir)?),
        EmbeddingProvider::Fallback => fallback_with_warning(&config.model_dir),
        EmbeddingProvider::Auto if local_available => batched(MiniLmEmbedder::load(&config.model_dir)?),
        EmbeddingProvider::Auto => fallback_with_warning(&config.model_dir),
    })
}

/// The local model behind continuous batching (it must be called on a Tokio runtime).
fn batched(model: MiniLmEmbedder) -> Arc<dyn Embedder> {
    Arc::new(BatchingEmbedder::new(Arc::new(model)))
}

fn fallback_with_warning(model_dir: &Path) -> Arc<dyn Embedder> {
    tracing::warn!(
        model_dir = %model_dir.display(),
        "no embedding model found: using the hashing FALLBACK, which matches words, not meaning \
         (serverInfo.embedder.degraded is true). Run `scripts/fetch-model.sh` to install \
         all-MiniLM-L6-v2 there, or set EMBEDDING_PROVIDER=http with EMBEDDING_URL"
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
