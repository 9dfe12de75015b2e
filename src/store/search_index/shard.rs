//! One user's search index over their live long-term memories: an HNSW vector index (usearch,
//! cosine, f16) for meaning and an inverted index for keywords (BM25). Per-user shards make
//! isolation structural: a search can only see the shard of its caller.
//!
//! A shard holds nothing SQL cannot rebuild. It is saved as two files, `<user>.usearch` (the
//! graph) and `<user>.json` (which memory each key is, its version and its text, and the SQL
//! memory revision the shard reflects); a pair that does not match is discarded and rebuilt.
//! The metadata names the graph it was saved with (the graph file's SHA-256), so a crash between
//! the two renames of a save, which leaves a new graph next to old metadata, is told apart from
//! a pair that belongs together.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use entity::enums::MemorySource;
use rust_stemmers::{Algorithm, Stemmer};
use serde::{Deserialize, Serialize};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};
use uuid::Uuid;

const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;
/// 2: memories carry their source; 3: the metadata names its graph (older files are rebuilt
/// from SQL).
const SIDECAR_FORMAT: u32 = 3;
/// How many of the best keyword matches are ranked.
pub const KEYWORD_CANDIDATES: usize = 256;

/// A memory as the index needs it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IndexedMemory {
    pub id: Uuid,
    /// Changes whenever the memory does (its `updated_at` in microseconds).
    pub version: i64,
    pub importance: f64,
    pub valid_from: DateTime<Utc>,
    pub content: String,
    /// How it came to be: the user's own statement, learned, or imported from elsewhere.
    pub source: MemorySource,
}

/// A memory the shard found for a query, with what the ranking knows of it.
#[derive(Clone, Debug)]
pub struct Hit {
    pub id: Uuid,
    /// Cosine similarity to the query (`None` when the memory has no vector of this model, or
    /// there is no query vector).
    pub similarity: Option<f32>,
    /// BM25 relevance (0 when no word is shared).
    pub keyword: f64,
    /// Share of the query's words found in the memory, each weighted by how rare it is (IDF):
    /// 1 when every word of the query that the user's memories know is in it.
    pub coverage: f64,
    /// The memory is a line someone wrote ("Maria: ...") and the query names that person.
    pub speaker_named: bool,
    /// For an imported memory, its place in the order memories were indexed: lines of one chat
    /// imported in order are neighbours, and a line is read in the context of the lines around
    /// it (a reply rarely repeats the words of the question it answers).
    pub sequence: Option<u64>,
    pub source: MemorySource,
    pub importance: f64,
    pub valid_from: DateTime<Utc>,
}

struct Doc {
    memory: IndexedMemory,
    has_vector: bool,
    /// Number of (non-stopword) words.
    length: u32,
    /// For an imported line "Name: text", the speaker's name as keyword tokens.
    speaker: Option<Vec<String>>,
}

pub struct Shard {
    vectors: Index,
    dimensions: usize,
    docs: HashMap<u64, Doc>,
    keys: HashMap<Uuid, u64>,
    /// word → postings; each carries what BM25 needs, so scoring touches nothing else.
    postings: HashMap<String, Vec<Posting>>,
    total_length: u64,
    next_key: u64,
    /// The user's SQL memory revision this shard reflects (see `services::memory_index`).
    pub revision: i64,
}

#[derive(Clone, Copy)]
struct Posting {
    key: u64,
    /// Occurrences of the word in the memory.
    count: u32,
    /// The memory's length in words.
    length: u32,
}

#[derive(Serialize, Deserialize)]
struct Sidecar {
    format: u32,
    model: String,
    dimensions: usize,
    revision: i64,
    next_key: u64,
    /// The SHA-256 (hex) of the `.usearch` file saved with this metadata.
    graph_sha256: String,
    docs: Vec<SidecarDoc>,
}

#[derive(Serialize, Deserialize)]
struct SidecarDoc {
    key: u64,
    has_vector: bool,
    #[serde(flatten)]
    memory: IndexedMemory,
}

fn options(dimensions: usize) -> IndexOptions {
    IndexOptions {
        dimensions,
        metric: MetricKind::Cos,
        quantization: ScalarKind::F16,
        connectivity: 16,
        expansion_add: 128,
        expansion_search: 96,
        multi: false,
    }
}

impl Shard {
    pub fn new(dimensions: usize) -> anyhow::Result<Self> {
        let vectors = Index::new(&options(dimensions)).context("could not create a vector index")?;
        Ok(Self {
            vectors,
            dimensions,
            docs: HashMap::new(),
            keys: HashMap::new(),
            postings: HashMap::new(),
            total_length: 0,
            next_key: 1,
            revision: 0,
        })
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The version of a memory as indexed, and whether it has a vector here.
    pub fn version_of(&self, id: Uuid) -> Option<(i64, bool)> {
        let doc = self.keys.get(&id).and_then(|key| self.docs.get(key))?;
        Some((doc.memory.version, doc.has_vector))
    }

    pub fn ids(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.keys.keys().copied()
    }

    /// Adds a memory, or replaces the indexed version of it. Without a vector (none of this
    /// model yet) it is still found by its words.
    pub fn upsert(&mut self, memory: IndexedMemory, vector: Option<&[f32]>) -> anyhow::Result<()> {
        if let Some(vector) = vector
            && vector.len() != self.dimensions
        {
            bail!("a vector of {} dimensions cannot join an index of {}", vector.len(), self.dimensions);
        }
        self.remove(memory.id)?;
        let key = self.next_key;
        self.next_key += 1;
        if let Some(vector) = vector {
            self.add_vector(key, vector)?;
        }
        self.add_doc(key, memory, vector.is_some());
        Ok(())
    }

    fn add_vector(&mut self, key: u64, vector: &[f32]) -> anyhow::Result<()> {
        // The Rust binding never grows the index by itself: adding past capacity is an error.
        if self.vectors.size() + 1 > self.vectors.capacity() {
            let capacity = (self.vectors.capacity() * 2).max(64);
            self.vectors.reserve(capacity).context("could not grow the vector index")?;
        }
        self.vectors.add(key, vector).context("could not add to the vector index")
    }

    fn add_doc(&mut self, key: u64, memory: IndexedMemory, has_vector: bool) {
        let words = tokens(&memory.content);
        let mut counts: HashMap<&str, u32> = HashMap::new();
        for word in &words {
            *counts.entry(word).or_default() += 1;
        }
        let length = words.len() as u32;
        for (word, count) in counts {
            self.postings.entry(word.to_owned()).or_default().push(Posting { key, count, length });
        }
        self.total_length += words.len() as u64;
        self.keys.insert(memory.id, key);
        let speaker = (memory.source == MemorySource::Imported).then(|| speaker(&memory.content)).flatten();
        self.docs.insert(key, Doc { memory, has_vector, length: words.len() as u32, speaker });
    }

    /// Takes a memory out of the index; false when it was not in it.
    pub fn remove(&mut self, id: Uuid) -> anyhow::Result<bool> {
        let Some(key) = self.keys.remove(&id) else { return Ok(false) };
        let Some(doc) = self.docs.remove(&key) else { return Ok(false) };
        if doc.has_vector {
            self.vectors.remove(key).context("could not remove from the vector index")?;
        }
        let mut words = tokens(&doc.memory.content);
        words.sort();
        words.dedup();
        for word in words {
            if let Some(list) = self.postings.get_mut(&word) {
                list.retain(|posting| posting.key != key);
                if list.is_empty() {
                    self.postings.remove(&word);
                }
            }
        }
        self.total_length -= u64::from(doc.length);
        Ok(true)
    }

    /// The memories worth ranking for a query: the `nearest` closest by meaning and the
    /// `KEYWORD_CANDIDATES` best by BM25 (further down either list, a memory's share of a fused
    /// score is too small to matter, and ranking fewer keeps search fast at 100k memories).
    pub fn candidates(&self, query: &str, query_vector: Option<&[f32]>, nearest: usize) -> anyhow::Result<Vec<Hit>> {
        let query_vector = query_vector.filter(|v| v.len() == self.dimensions);
        let mut similarities: HashMap<u64, f32> = HashMap::new();
        if let Some(query_vector) = query_vector
            && self.vectors.size() > 0
        {
            let found = self.vectors.search(query_vector, nearest).context("vector search failed")?;
            similarities
                .extend(found.keys.into_iter().zip(found.distances).map(|(key, distance)| (key, 1.0 - distance)));
        }

        let mut words = tokens(query);
        words.sort();
        words.dedup();
        let documents = self.docs.len() as f64;
        let average_length = self.total_length as f64 / documents.max(1.0);
        // Scores accumulate in dense arrays indexed by key: at 100k memories a query's words can
        // have tens of thousands of postings, and hashing each would dominate the search.
        let mut scores = vec![0.0f32; self.next_key as usize];
        let mut matched = vec![0.0f32; self.next_key as usize];
        let mut touched: Vec<u64> = Vec::new();
        let mut query_weight = 0.0f64;
        for word in &words {
            let Some(list) = self.postings.get(word) else { continue };
            let frequency = list.len() as f64;
            let idf = ((documents - frequency + 0.5) / (frequency + 0.5) + 1.0).ln();
            query_weight += idf;
            let average = average_length.max(1.0);
            for posting in list {
                let tf = f64::from(posting.count);
                let norm = 1.0 - BM25_B + BM25_B * f64::from(posting.length) / average;
                let slot = &mut scores[posting.key as usize];
                if *slot == 0.0 {
                    touched.push(posting.key);
                }
                *slot += (idf * tf * (BM25_K1 + 1.0) / (tf + BM25_K1 * norm)) as f32;
                matched[posting.key as usize] += idf as f32;
            }
        }
        let mut best: Vec<(u64, f64)> = touched.into_iter().map(|key| (key, f64::from(scores[key as usize]))).collect();
        if best.len() > KEYWORD_CANDIDATES {
            best.select_nth_unstable_by(KEYWORD_CANDIDATES, |a, b| b.1.total_cmp(&a.1));
            best.truncate(KEYWORD_CANDIDATES);
        }

        let mut hits: HashMap<u64, Hit> = HashMap::with_capacity(similarities.len() + best.len());
        let hit = |key: u64| {
            self.docs.get(&key).map(|doc| Hit {
                id: doc.memory.id,
                similarity: None,
                keyword: 0.0,
                coverage: 0.0,
                speaker_named: doc
                    .speaker
                    .as_ref()
                    .is_some_and(|name| name.iter().any(|part| words.binary_search(part).is_ok())),
                sequence: (doc.memory.source == MemorySource::Imported).then_some(key),
                source: doc.memory.source,
                importance: doc.memory.importance,
                valid_from: doc.memory.valid_from,
            })
        };
        for (key, similarity) in similarities {
            if let Some(mut h) = hit(key) {
                h.similarity = Some(similarity);
                hits.insert(key, h);
            }
        }
        let mut buffer = vec![0.0f32; self.dimensions];
        for (key, score) in best {
            let coverage = if query_weight > 0.0 { f64::from(matched[key as usize]) / query_weight } else { 0.0 };
            if let Some(h) = hits.get_mut(&key) {
                h.keyword = score;
                h.coverage = coverage;
            } else if let Some(mut h) = hit(key) {
                h.keyword = score;
                h.coverage = coverage;
                // Found by its words only: its similarity still matters to the ranking, and
                // reading one vector back costs far less than a wider vector search would.
                if let Some(query_vector) = query_vector
                    && self.docs.get(&key).is_some_and(|d| d.has_vector)
                    && self.vectors.get(key, &mut buffer).is_ok_and(|n| n > 0)
                {
                    h.similarity = Some(cosine(query_vector, &buffer));
                }
                hits.insert(key, h);
            }
        }
        Ok(hits.into_values().collect())
    }

    /// Writes the shard as `<name>.usearch` + `<name>.json` in `dir`, each through a temporary
    /// file (flushed to disk) and a rename. A crash leaves the old pair, the new one, or a new
    /// graph with old metadata, which [`Shard::load`] recognises and rebuilds.
    pub fn save(&self, dir: &Path, name: &str, model: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
        let (graph, sidecar) = paths(dir, name);
        let graph_tmp = graph.with_extension("usearch.tmp");
        let path = graph_tmp.to_str().context("index path is not UTF-8")?;
        self.vectors.save(path).context("could not save the vector index")?;
        let graph_sha256 = file_sha256(&graph_tmp)?;
        sync_file(&graph_tmp)?;
        let docs = self
            .docs
            .iter()
            .map(|(&key, doc)| SidecarDoc { key, has_vector: doc.has_vector, memory: doc.memory.clone() })
            .collect();
        let meta = Sidecar {
            format: SIDECAR_FORMAT,
            model: model.to_owned(),
            dimensions: self.dimensions,
            revision: self.revision,
            next_key: self.next_key,
            graph_sha256,
            docs,
        };
        let sidecar_tmp = sidecar.with_extension("json.tmp");
        std::fs::write(&sidecar_tmp, serde_json::to_vec(&meta)?)
            .with_context(|| format!("could not write {}", sidecar_tmp.display()))?;
        sync_file(&sidecar_tmp)?;
        std::fs::rename(&graph_tmp, &graph)?;
        std::fs::rename(&sidecar_tmp, &sidecar)?;
        // The renames themselves reach the disk only with the directory.
        if let Ok(directory) = std::fs::File::open(dir) {
            let _ = directory.sync_all();
        }
        Ok(())
    }

    /// Reads a shard saved by [`Shard::save`]. `Ok(None)` when there is none, or it was made
    /// with another model or does not hold together (it is then rebuilt from SQL).
    pub fn load(dir: &Path, name: &str, model: &str, dimensions: usize) -> anyhow::Result<Option<Self>> {
        let (graph, sidecar) = paths(dir, name);
        let bytes = match std::fs::read(&sidecar) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error).with_context(|| format!("could not read {}", sidecar.display())),
        };
        let Ok(meta) = serde_json::from_slice::<Sidecar>(&bytes) else {
            tracing::warn!(file = %sidecar.display(), "unreadable index metadata; rebuilding from SQL");
            return Ok(None);
        };
        if meta.format != SIDECAR_FORMAT || meta.model != model || meta.dimensions != dimensions {
            tracing::info!(file = %sidecar.display(), "index made by another model or format; rebuilding from SQL");
            return Ok(None);
        }
        match file_sha256(&graph) {
            Ok(hash) if hash == meta.graph_sha256 => {}
            Ok(_) => {
                tracing::warn!(file = %graph.display(), "vector index saved apart from its metadata; rebuilding from SQL");
                return Ok(None);
            }
            Err(_) if !graph.exists() => return Ok(None),
            Err(error) => return Err(error),
        }
        let mut shard = Self::new(dimensions)?;
        let path = graph.to_str().context("index path is not UTF-8")?;
        if let Err(error) = shard.vectors.load(path) {
            tracing::warn!(file = %graph.display(), %error, "unreadable vector index; rebuilding from SQL");
            return Ok(None);
        }
        let with_vectors = meta.docs.iter().filter(|d| d.has_vector).count();
        if shard.vectors.size() != with_vectors {
            tracing::warn!(file = %graph.display(), "vector index and metadata disagree; rebuilding from SQL");
            return Ok(None);
        }
        let mut next_key = meta.next_key;
        for doc in meta.docs {
            next_key = next_key.max(doc.key + 1);
            shard.add_doc(doc.key, doc.memory, doc.has_vector);
        }
        shard.next_key = next_key;
        shard.revision = meta.revision;
        Ok(Some(shard))
    }
}

fn file_sha256(path: &Path) -> anyhow::Result<String> {
    use sha2::Digest as _;
    let mut file = std::fs::File::open(path).with_context(|| format!("could not open {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("could not read {}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}

fn sync_file(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("could not flush {} to disk", path.display()))
}

fn paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (dir.join(format!("{name}.usearch")), dir.join(format!("{name}.json")))
}

/// Cosine of two vectors (the query's is unit length; a stored one is read back from f16).
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut norm) = (0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        norm += y * y;
    }
    if norm > 0.0 { dot / norm.sqrt() } else { 0.0 }
}

/// The speaker of a chat line "Name: text" (one to three capitalised words before the colon),
/// as keyword tokens.
fn speaker(content: &str) -> Option<Vec<String>> {
    let (name, rest) = content.split_once(':')?;
    let parts: Vec<&str> = name.split_whitespace().collect();
    let looks_like_a_name = (1..=3).contains(&parts.len())
        && !rest.trim().is_empty()
        && parts.iter().all(|p| p.chars().next().is_some_and(char::is_uppercase) && p.chars().all(char::is_alphabetic));
    looks_like_a_name.then(|| tokens(name)).filter(|t| !t.is_empty())
}

/// Words that say nothing about what a memory is about.
const STOPWORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does",
    "for", "from", "had", "has", "have", "he", "her", "him", "his", "how", "i", "if", "in", "is", "it", "its", "me",
    "my", "of", "on", "or", "our", "she", "so", "that", "the", "their", "them", "they", "this", "to", "was", "we",
    "were", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
    // What is left of contractions ("what's", "don't", "I'm", "we'll", "they're", "I've", "I'd").
    "s", "t", "m", "ll", "re", "ve", "d",
];

/// The words of a text that keyword search matches on: lower-cased, stopwords left out, each
/// reduced to its stem by the Snowball English stemmer ("peanuts" finds "peanut", "painted"
/// finds "painting").
pub fn tokens(text: &str) -> Vec<String> {
    static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| STEMMER.stem(&w).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(content: &str) -> IndexedMemory {
        IndexedMemory {
            id: Uuid::now_v7(),
            version: 1,
            importance: 0.5,
            valid_from: Utc::now(),
            content: content.into(),
            source: MemorySource::Explicit,
        }
    }

    fn unit(values: &[f32]) -> Vec<f32> {
        let mut v = values.to_vec();
        crate::embed::normalise(&mut v);
        v
    }

    #[test]
    fn finds_by_meaning_and_by_words_and_forgets() {
        let mut shard = Shard::new(3).unwrap();
        let cats = memory("Has two cats");
        let paris = memory("Lives in Paris");
        shard.upsert(cats.clone(), Some(&unit(&[1.0, 0.0, 0.0]))).unwrap();
        shard.upsert(paris.clone(), Some(&unit(&[0.0, 1.0, 0.0]))).unwrap();
        // Grows past its first capacity without help.
        for i in 0..100 {
            shard.upsert(memory(&format!("filler {i}")), Some(&unit(&[0.0, 0.0, 1.0]))).unwrap();
        }

        let hits = shard.candidates("paris", Some(&unit(&[0.9, 0.1, 0.0])), 1).unwrap();
        let by_id = |id| hits.iter().find(|h| h.id == id).unwrap();
        assert!(by_id(cats.id).similarity.unwrap() > 0.95);
        assert_eq!(by_id(cats.id).keyword, 0.0);
        assert!(by_id(paris.id).keyword > 0.0);
        assert_eq!(hits.len(), 2, "only the nearest and the keyword match");

        assert!(shard.remove(paris.id).unwrap());
        assert!(shard.candidates("paris", None, 5).unwrap().is_empty());
        let mut moved = cats.clone();
        moved.content = "Has a dog".into();
        moved.version = 2;
        shard.upsert(moved, Some(&unit(&[0.0, 1.0, 0.0]))).unwrap();
        assert_eq!(shard.version_of(cats.id), Some((2, true)));
        assert!(shard.candidates("cats", None, 5).unwrap().is_empty());
        assert_eq!(shard.len(), 101);
    }

    #[test]
    fn words_match_their_other_forms() {
        assert_eq!(tokens("Peanuts, boxes and the glass bus"), ["peanut", "box", "glass", "bus"]);
        assert_eq!(tokens("painted"), tokens("painting"));
        assert_eq!(tokens("berries"), tokens("berry"));
        assert_eq!(tokens("What's my profession? I'm sure they'll know"), ["profess", "sure", "know"]);
        assert_eq!(tokens("volunteering"), tokens("volunteers"));
    }

    #[test]
    fn an_imported_line_knows_its_writer_and_its_neighbours() {
        let mut shard = Shard::new(3).unwrap();
        let line = |content: &str| IndexedMemory { source: MemorySource::Imported, ..memory(content) };
        let asked = line("Melanie: what did you paint last week?");
        let answer = line("Caroline: A sunset over the lake");
        let own = memory("Note: paint the fence");
        for m in [&asked, &answer, &own] {
            shard.upsert(m.clone(), None).unwrap();
        }
        let hits = shard.candidates("What did Caroline paint?", None, 5).unwrap();
        let by_id = |id| hits.iter().find(|h| h.id == id).unwrap();
        assert!(by_id(asked.id).keyword > 0.0 && !by_id(asked.id).speaker_named);
        assert_eq!(by_id(asked.id).source, MemorySource::Imported);
        // The answer shares the writer's name with the query, which names her.
        assert!(by_id(answer.id).speaker_named);
        assert_eq!(by_id(answer.id).sequence, by_id(asked.id).sequence.map(|s| s + 1), "stored one after the other");
        assert_eq!(by_id(own.id).sequence, None, "the user's own memories are not chat lines");
        // "paint" is one of the two words of the query the memories know.
        assert!(by_id(own.id).coverage > 0.0 && by_id(own.id).coverage < 1.0);
        assert!(by_id(answer.id).coverage > 0.0 && by_id(answer.id).coverage < 1.0);
    }

    #[test]
    fn saved_shards_load_back_and_other_models_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut shard = Shard::new(3).unwrap();
        let cats = memory("Has two cats");
        shard.upsert(cats.clone(), Some(&unit(&[1.0, 0.0, 0.0]))).unwrap();
        shard.upsert(memory("no vector yet"), None).unwrap();
        shard.revision = 7;
        shard.save(dir.path(), "u", "model-a").unwrap();

        let loaded = Shard::load(dir.path(), "u", "model-a", 3).unwrap().unwrap();
        assert_eq!(loaded.revision, 7);
        assert_eq!(loaded.len(), 2);
        let hits = loaded.candidates("vector", Some(&unit(&[1.0, 0.1, 0.0])), 5).unwrap();
        assert!(hits.iter().any(|h| h.id == cats.id && h.similarity.is_some()));
        assert!(hits.iter().any(|h| h.keyword > 0.0));

        assert!(Shard::load(dir.path(), "u", "model-b", 3).unwrap().is_none());
        assert!(Shard::load(dir.path(), "other", "model-a", 3).unwrap().is_none());
        std::fs::remove_file(dir.path().join("u.usearch")).unwrap();
        assert!(Shard::load(dir.path(), "u", "model-a", 3).unwrap().is_none());
    }

    #[test]
    fn a_graph_saved_apart_from_its_metadata_is_not_loaded() {
        // What a crash between the two renames of a save leaves: the new graph, the old metadata.
        let (old, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut before = Shard::new(3).unwrap();
        before.upsert(memory("Has two cats"), Some(&unit(&[1.0, 0.0, 0.0]))).unwrap();
        before.save(old.path(), "u", "model-a").unwrap();
        let mut after = Shard::new(3).unwrap();
        after.upsert(memory("Moved to Lisbon"), Some(&unit(&[0.0, 1.0, 0.0]))).unwrap();
        after.save(new.path(), "u", "model-a").unwrap();
        assert!(Shard::load(old.path(), "u", "model-a", 3).unwrap().is_some(), "a pair that belongs together loads");

        std::fs::copy(new.path().join("u.usearch"), old.path().join("u.usearch")).unwrap();
        assert!(Shard::load(old.path(), "u", "model-a", 3).unwrap().is_none(), "a mixed pair is rebuilt from SQL");
    }
}
