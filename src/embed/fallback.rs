//! Feature hashing of words and word pairs into a fixed-size vector. Not a language model: it
//! finds memories that share words with the query, nothing more. Used only when no model is
//! available, and it says so (`degraded`).

use async_trait::async_trait;

use super::{Embedder, EmbedderInfo, normalise};

pub struct HashingEmbedder {
    info: EmbedderInfo,
}

impl HashingEmbedder {
    pub fn new(dimensions: usize) -> Self {
        Self { info: EmbedderInfo { name: "hashing-fallback".into(), dimensions, degraded: true } }
    }

    fn vector(&self, text: &str) -> Vec<f32> {
        let words: Vec<String> =
            text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
        let mut vector = vec![0.0; self.info.dimensions];
        let mut add = |feature: &str, weight: f32| {
            // FNV-1a: stable across runs and platforms, so stored vectors stay comparable.
            let hash =
                feature.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
            let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
            vector[(hash % self.info.dimensions as u64) as usize] += sign * weight;
        };
        for word in &words {
            add(word, 1.0);
        }
        for pair in words.windows(2) {
            add(&format!("{} {}", pair[0], pair[1]), 0.5);
        }
        normalise(&mut vector);
        vector
    }
}

#[async_trait]
impl Embedder for HashingEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    async fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|text| self.vector(text)).collect())
    }
}
