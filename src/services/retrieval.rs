//! Finding the memories that matter for a query: meaning (vector similarity) fused with keywords
//! (BM25 over the user's memories), nudged by importance and recency, with a floor below which
//! nothing is returned. The chat's context assembly and `searchMemories` use this one function.
//!
//! Fusion is by reciprocal rank (RRF): each signal ranks the memories and a memory scores
//! `Σ 1 / (K + rank)`. Ranks, unlike raw scores, need no calibration between a cosine and a BM25
//! score, and a memory found by both signals rises above one found by either alone.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{memory, prelude::*};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::embed::{self, Embedder};
use crate::error::{AppError, AppResult};

/// The knobs of the ranking. The defaults were chosen on LoCoMo (`cargo bench --bench locomo`).
#[derive(Clone, Copy, Debug)]
pub struct Weights {
    /// RRF's damping constant: larger flattens the difference between ranks.
    pub rrf_k: f64,
    /// Weight of the vector ranking.
    pub vector: f64,
    /// Weight of the keyword ranking.
    pub keyword: f64,
    /// Below this cosine a memory counts as unrelated by meaning (MiniLM puts unrelated
    /// sentences around 0.0-0.15).
    pub similarity_floor: f32,
    /// How much importance (0-1) and recency can lift a score, next to a top RRF term (~1/k).
    pub importance: f64,
    pub recency: f64,
    pub recency_half_life_days: f64,
}

impl Default for Weights {
    fn default() -> Self {
        // A small k rewards being at the very top of either list. On LoCoMo every k from 1 to 4
        // with a vector weight of 0.4-0.6 lands within 0.01 of recall@10 0.61; k = 60 (the
        // paper's) gives 0.54. Keywords lead because memories and questions share names and rare
        // words; meaning fills in the paraphrases.
        Self {
            rrf_k: 2.0,
            vector: 0.6,
            keyword: 1.0,
            similarity_floor: 0.2,
            importance: 0.02,
            recency: 0.02,
            recency_half_life_days: 30.0,
        }
    }
}
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;

pub const MAX_LIMIT: usize = 50;

/// A memory and why it was found.
#[derive(Clone, Debug)]
pub struct ScoredMemory {
    pub memory: memory::Model,
    /// The fused score the results are ordered by.
    pub score: f64,
    /// Cosine similarity to the query (`None` when the memory has no vector of this model).
    pub similarity: Option<f32>,
    /// BM25 keyword relevance (0 when no word is shared).
    pub keyword: f64,
}

/// The caller's live memories most relevant to `query`, best first.
pub async fn search(
    db: &DatabaseConnection,
    embedder: &dyn Embedder,
    user_id: Uuid,
    query: &str,
    limit: usize,
) -> AppResult<Vec<ScoredMemory>> {
    let query = query.trim();
    if query.is_empty() {
        return Err(AppError::bad_input("query must not be empty"));
    }
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::bad_input(format!("limit must be between 1 and {MAX_LIMIT} (got {limit})")));
    }
    let memories = Memory::find()
        .filter(memory::Column::UserId.eq(user_id))
        .filter(memory::Column::ValidTo.is_null())
        .all(db)
        .await?;
    if memories.is_empty() {
        return Ok(Vec::new());
    }
    let query_vector = embedder.embed(&[query.to_owned()]).await?.pop();
    Ok(rank(&Weights::default(), memories, query, query_vector.as_deref(), &embedder.info().name, Utc::now(), limit))
}

/// The ranking itself, pure, so it can be measured and tested without a database.
pub fn rank(
    weights: &Weights,
    memories: Vec<memory::Model>,
    query: &str,
    query_vector: Option<&[f32]>,
    model: &str,
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<ScoredMemory> {
    let similarities: Vec<Option<f32>> = memories
        .iter()
        .map(|m| match (query_vector, &m.embedding, m.embedding_model.as_deref()) {
            (Some(q), Some(bytes), Some(m_model)) if m_model == model => {
                let v = embed::from_bytes(bytes);
                (v.len() == q.len()).then(|| embed::cosine(q, &v))
            }
            _ => None,
        })
        .collect();
    let keywords = bm25(&memories, query);

    let floor = weights.similarity_floor;
    let vector_ranks =
        ranks(&similarities.iter().map(|s| s.filter(|&s| s >= floor).map(f64::from)).collect::<Vec<_>>());
    let keyword_ranks = ranks(&keywords.iter().map(|&k| (k > 0.0).then_some(k)).collect::<Vec<_>>());

    let mut scored: Vec<ScoredMemory> = memories
        .into_iter()
        .enumerate()
        .filter_map(|(i, memory)| {
            let vector = vector_ranks[i].map(|r| weights.vector / (weights.rrf_k + r as f64));
            let keyword = keyword_ranks[i].map(|r| weights.keyword / (weights.rrf_k + r as f64));
            if vector.is_none() && keyword.is_none() {
                return None; // below the floor on meaning and no shared word
            }
            let age_days = (now - memory.valid_from).num_seconds().max(0) as f64 / 86_400.0;
            let recency = 0.5f64.powf(age_days / weights.recency_half_life_days);
            let score = vector.unwrap_or(0.0)
                + keyword.unwrap_or(0.0)
                + weights.importance * memory.importance
                + weights.recency * recency;
            Some(ScoredMemory { score, similarity: similarities[i], keyword: keywords[i], memory })
        })
        .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.memory.id.cmp(&a.memory.id)));
    scored.truncate(limit);
    scored
}

/// 1-based rank of each present value, highest first.
fn ranks(values: &[Option<f64>]) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..values.len()).filter(|&i| values[i].is_some()).collect();
    order.sort_by(|&a, &b| values[b].unwrap_or(0.0).total_cmp(&values[a].unwrap_or(0.0)));
    let mut out = vec![None; values.len()];
    for (rank, i) in order.into_iter().enumerate() {
        out[i] = Some(rank + 1);
    }
    out
}

/// Words that say nothing about what a memory is about.
const STOPWORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does",
    "for", "from", "had", "has", "have", "he", "her", "him", "his", "how", "i", "if", "in", "is", "it", "its", "me",
    "my", "of", "on", "or", "our", "she", "so", "that", "the", "their", "them", "they", "this", "to", "was", "we",
    "were", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
];

pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// Okapi BM25 of `query` against each memory, with statistics from these memories.
fn bm25(memories: &[memory::Model], query: &str) -> Vec<f64> {
    let docs: Vec<Vec<String>> = memories.iter().map(|m| tokens(&m.content)).collect();
    let n = docs.len() as f64;
    let average_length = docs.iter().map(Vec::len).sum::<usize>() as f64 / n.max(1.0);
    let mut query_terms = tokens(query);
    query_terms.sort();
    query_terms.dedup();
    let mut document_frequency: HashMap<&str, f64> = HashMap::new();
    for doc in &docs {
        let mut seen: Vec<&str> =
            doc.iter().map(String::as_str).filter(|t| query_terms.iter().any(|q| q == t)).collect();
        seen.sort();
        seen.dedup();
        for term in seen {
            *document_frequency.entry(term).or_default() += 1.0;
        }
    }
    docs.iter()
        .map(|doc| {
            let length = doc.len() as f64;
            query_terms
                .iter()
                .map(|term| {
                    let tf = doc.iter().filter(|t| *t == term).count() as f64;
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let df = document_frequency.get(term.as_str()).copied().unwrap_or(0.0);
                    let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                    idf * tf * (BM25_K1 + 1.0)
                        / (tf + BM25_K1 * (1.0 - BM25_B + BM25_B * length / average_length.max(1.0)))
                })
                .sum()
        })
        .collect()
}
