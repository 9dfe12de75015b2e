//! Vectors of texts embedded before, kept in one file under the target directory so benchmark
//! runs after the first do not embed for minutes: (length, UTF-8 text, the f32s) per entry,
//! appended as texts are embedded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use assistant::embed::Embedder;

/// Vectors of texts embedded before, kept in one file: (length, UTF-8 text, the f32s) per entry.
pub struct EmbeddingCache {
    path: PathBuf,
    vectors: HashMap<String, Vec<f32>>,
    dimensions: usize,
}

impl EmbeddingCache {
    pub fn open(path: PathBuf, dimensions: usize) -> Self {
        let mut vectors = HashMap::new();
        if let Ok(bytes) = std::fs::read(&path) {
            let mut at = 0;
            while at + 4 <= bytes.len() {
                let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
                let end = at + 4 + len + dimensions * 4;
                if end > bytes.len() {
                    break;
                }
                let text = String::from_utf8_lossy(&bytes[at + 4..at + 4 + len]).into_owned();
                let vector = assistant::embed::from_bytes(&bytes[at + 4 + len..end]);
                vectors.insert(text, vector);
                at = end;
            }
        }
        Self { path, vectors, dimensions }
    }

    /// The vectors of `texts`, embedding (and saving) only those not cached yet.
    pub async fn embed(&mut self, model: &dyn Embedder, texts: &[String]) -> (Vec<Vec<f32>>, usize, f64) {
        let mut missing: Vec<String> = texts.iter().filter(|t| !self.vectors.contains_key(*t)).cloned().collect();
        missing.sort();
        missing.dedup();
        let started = Instant::now();
        if !missing.is_empty() {
            // Similar lengths together: a batch is padded to its longest text.
            missing.sort_by_key(|t| t.len());
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).unwrap();
            for chunk in missing.chunks(256) {
                let vectors = model.embed(chunk).await.unwrap();
                for (text, vector) in chunk.iter().zip(vectors) {
                    assert_eq!(vector.len(), self.dimensions);
                    let mut entry = (text.len() as u32).to_le_bytes().to_vec();
                    entry.extend_from_slice(text.as_bytes());
                    entry.extend(assistant::embed::to_bytes(&vector));
                    std::io::Write::write_all(&mut file, &entry).unwrap();
                    self.vectors.insert(text.clone(), vector);
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        (texts.iter().map(|t| self.vectors[t].clone()).collect(), missing.len(), elapsed)
    }
}
