//! Finding the memories that matter for a query: meaning (vector similarity) fused with keywords
//! (BM25 over the user's memories), nudged by importance and recency, with a floor below which
//! nothing is returned. The chat's context assembly and `searchMemories` use this one function.
//!
//! Candidates come from the caller's index shard (`services::memory_index`): the nearest memories
//! by meaning and every memory sharing a word with the query, with BM25 scores.
//!
//! Fusion is by reciprocal rank (RRF): each signal ranks the memories and a memory scores
//! `Σ 1 / (K + rank)`. Ranks, unlike raw scores, need no calibration between a cosine and a BM25
//! score, and a memory found by both signals rises above one found by either alone.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{memory, prelude::*};
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::search_index::Hit;

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

pub const MAX_LIMIT: usize = 50;

/// How many memories a chat turn looks up for the user's message: those that go into the context,
/// and a few more that the message's learning compares it with (`learning::extraction`).
pub const RELATED_MEMORIES: usize = 8;

/// A memory and why it was found.
#[derive(Clone, Debug)]
pub struct ScoredMemory {
    pub memory: memory::Model,
    /// The fused score the results are ordered by.
    pub score: f64,
    /// Cosine similarity to the query (`None` when the memory was not among the nearest).
    pub similarity: Option<f32>,
    /// BM25 keyword relevance (0 when no word is shared).
    pub keyword: f64,
}

/// A candidate with its fused score.
#[derive(Clone, Debug)]
pub struct Ranked {
    pub hit: Hit,
    pub score: f64,
}

/// How many memories by meaning are considered for a result of `limit`.
pub fn nearest_for(limit: usize) -> usize {
    (limit * 8).max(64)
}

/// The caller's live memories most relevant to `query`, best first.
pub async fn search(state: &AppState, user_id: Uuid, query: &str, limit: usize) -> AppResult<Vec<ScoredMemory>> {
    let query = query.trim();
    if query.is_empty() {
        return Err(AppError::bad_input("query must not be empty"));
    }
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::bad_input(format!("limit must be between 1 and {MAX_LIMIT} (got {limit})")));
    }
    let query_vector = match state.embedder.embed(&[query.to_owned()]).await {
        Ok(mut vectors) => vectors.pop(),
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "could not embed the query; searching by words only");
            None
        }
    };
    let hits = state
        .memory_index
        .candidates(&state.db, state.embedder.as_ref(), user_id, query, query_vector.as_deref(), nearest_for(limit))
        .await?;
    let ranked = rank(&Weights::default(), hits, Utc::now(), limit);
    if ranked.is_empty() {
        return Ok(Vec::new());
    }
    // The rows themselves, from SQL and scoped to the caller once more: the index only says
    // which memories, never whose.
    let mut rows: HashMap<Uuid, memory::Model> = Memory::find_live(user_id)
        .filter(memory::Column::Id.is_in(ranked.iter().map(|r| r.hit.id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    Ok(ranked
        .into_iter()
        .filter_map(|r| {
            let memory = rows.remove(&r.hit.id)?;
            Some(ScoredMemory { memory, score: r.score, similarity: r.hit.similarity, keyword: r.hit.keyword })
        })
        .collect())
}

/// The fusion itself, pure, so it can be measured and tested without a database.
pub fn rank(weights: &Weights, hits: Vec<Hit>, now: DateTime<Utc>, limit: usize) -> Vec<Ranked> {
    let floor = weights.similarity_floor;
    let vector_ranks =
        ranks(&hits.iter().map(|h| h.similarity.filter(|&s| s >= floor).map(f64::from)).collect::<Vec<_>>());
    let keyword_ranks = ranks(&hits.iter().map(|h| (h.keyword > 0.0).then_some(h.keyword)).collect::<Vec<_>>());

    let mut ranked: Vec<Ranked> = hits
        .into_iter()
        .enumerate()
        .filter_map(|(i, hit)| {
            let vector = vector_ranks[i].map(|r| weights.vector / (weights.rrf_k + r as f64));
            let keyword = keyword_ranks[i].map(|r| weights.keyword / (weights.rrf_k + r as f64));
            if vector.is_none() && keyword.is_none() {
                return None; // below the floor on meaning and no shared word
            }
            let age_days = (now - hit.valid_from).num_seconds().max(0) as f64 / 86_400.0;
            let recency = 0.5f64.powf(age_days / weights.recency_half_life_days);
            let score = vector.unwrap_or(0.0)
                + keyword.unwrap_or(0.0)
                + weights.importance * hit.importance
                + weights.recency * recency;
            Some(Ranked { hit, score })
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.hit.id.cmp(&a.hit.id)));
    ranked.truncate(limit);
    ranked
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

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn hit(n: u128, similarity: Option<f32>, keyword: f64) -> Hit {
        Hit { id: Uuid::from_u128(n), similarity, keyword, importance: 0.5, valid_from: Utc::now() }
    }

    fn order(ranked: &[Ranked]) -> Vec<u128> {
        ranked.iter().map(|r| r.hit.id.as_u128()).collect()
    }

    #[test]
    fn a_memory_found_by_meaning_and_words_beats_one_found_by_either() {
        let hits = vec![hit(1, Some(0.9), 0.0), hit(2, None, 5.0), hit(3, Some(0.6), 2.0)];
        let ranked = rank(&Weights::default(), hits, Utc::now(), 10);
        assert_eq!(order(&ranked)[0], 3, "found by both signals comes first");
        // Keywords weigh more than meaning: the top keyword match beats the top vector match.
        assert_eq!(order(&ranked)[1..], [2, 1]);
        assert!(ranked.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn below_the_similarity_floor_without_a_shared_word_is_left_out() {
        let weights = Weights::default();
        let hits = vec![
            hit(1, Some(weights.similarity_floor - 0.01), 0.0),
            hit(2, Some(weights.similarity_floor + 0.01), 0.0),
            hit(3, Some(0.05), 1.0),
        ];
        let ranked = rank(&weights, hits, Utc::now(), 10);
        // 1 is unrelated; 3 is unrelated by meaning but shares a word, so it stays.
        assert_eq!(order(&ranked), [3, 2]);
        let below = ranked.iter().find(|r| r.hit.id.as_u128() == 3).unwrap();
        let keyword_only = weights.keyword / (weights.rrf_k + 1.0);
        assert!(below.score < keyword_only + weights.importance + weights.recency, "no vector term for 3");
    }

    #[test]
    fn importance_and_recency_are_small_nudges() {
        let now = Utc::now();
        let weights = Weights::default();
        let score_of = |importance: f64, age_days: i64| {
            let mut one = hit(1, Some(0.7), 0.0);
            one.importance = importance;
            one.valid_from = now - Duration::days(age_days);
            rank(&weights, vec![one], now, 1)[0].score
        };
        let top_vector_term = weights.vector / (weights.rrf_k + 1.0);
        assert!((score_of(0.0, 0) - (top_vector_term + weights.recency)).abs() < 1e-9);
        assert!((score_of(1.0, 0) - score_of(0.0, 0) - weights.importance).abs() < 1e-9);
        // One half-life later, half the recency bonus is left.
        let half_life = weights.recency_half_life_days as i64;
        assert!((score_of(0.0, 0) - score_of(0.0, half_life) - weights.recency / 2.0).abs() < 1e-6);
        // A clearly better match by meaning is never overtaken by the nudges.
        let mut weak = hit(5, Some(0.3), 0.0);
        weak.importance = 1.0;
        let mut strong = hit(4, Some(0.9), 0.0);
        strong.importance = 0.0;
        strong.valid_from = now - Duration::days(3650);
        assert_eq!(order(&rank(&weights, vec![weak, strong], now, 10)), [4, 5]);
    }

    #[test]
    fn the_limit_cuts_after_ranking_and_ties_are_stable() {
        let hits: Vec<Hit> = (1..=20).map(|n| hit(n, Some(0.5 + n as f32 / 100.0), 0.0)).collect();
        let ranked = rank(&Weights::default(), hits, Utc::now(), 3);
        assert_eq!(order(&ranked), [20, 19, 18]);
        assert!(rank(&Weights::default(), Vec::new(), Utc::now(), 3).is_empty());
    }
}
