//! Vectors of texts embedded before, kept in one file under the target directory so benchmark
//! runs after the first do not embed for minutes: (length, UTF-8 text, the f32s) per entry,
//! appended as texts are embedded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use assistant::embed::{Embedder, MiniLmEmbedder};

/// Vectors of texts embedded before, kept in one file: (length, UTF-8 text, the f32s) per entry.
pub struct EmbeddingCache {
    pub path: PathBuf,
    vectors: HashMap<String, Vec<f32>>,
    dimensions: usize,
}

impl EmbeddingCache {
    /// The cache `<stem>-<model>-<engine>-<fingerprint>.bin` in the target directory, the
    /// fingerprint that of the vector of a probe text, so that a changed forward pass (a new
    /// kernel, another weight format) never reuses vectors another one computed.
    pub async fn for_model(stem: &str, model: &MiniLmEmbedder) -> Self {
        let probe = model.embed(&["a probe of the forward pass".to_owned()]).await.expect("embed the probe");
        let fingerprint = probe[0]
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, v| (h ^ u64::from(v.to_bits())).wrapping_mul(0x100_0000_01b3));
        let name = format!("{stem}-{}-{:?}-{fingerprint:016x}.bin", model.info().name, model.engine())
            .replace(['/', ' ', '(', ')'], "_");
        Self::open(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name), model.info().dimensions)
    }

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
