//! Finding the memories that matter for a query, in two stages. The chat's context assembly and
//! `searchMemories` use this one function.
//!
//! Candidates come from the caller's index shard (`store::search_index`): the nearest memories by
//! meaning and the memories sharing words with the query, each with its cosine, BM25 score, how
//! much of the query it covers, and where it came from.
//!
//! 1. **Fusion** by reciprocal rank (RRF): each signal ranks the memories and a memory scores
//!    `Σ 1 / (K + rank)`. Ranks need no calibration between a cosine and a BM25 score, and a
//!    memory found by both signals rises above one found by either alone. Below a similarity
//!    floor, with no shared word, a memory is unrelated and left out.
//! 2. **Rescoring** of the best `pool` fused candidates with what ranks throw away and what a
//!    memory is about: the cosine and BM25 values themselves (how far ahead, not only whether
//!    ahead), the share of the query's rare words it holds, whether the query names the person
//!    who wrote an imported chat line, and a prior by source — a line someone else wrote
//!    (IMPORTED) matches words of "what is my job?" ("Nice job, Maria!") without being about the
//!    user, so it yields to the user's own facts when both match. Linear in a handful of
//!    features: microseconds for 30 candidates, where a cross-encoder would cost a model call.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::MemorySource;
use entity::{memory, prelude::*};
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

use crate::embed;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::search_index::Hit;

/// The knobs of the ranking. The defaults were chosen on LoCoMo conversations 0-4 (`cargo bench
/// --bench locomo`, which reports conversations 5-9 apart) and, for the source prior, on the
/// personalisation benchmark's tuning users (`cargo bench --bench personalisation`).
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
    /// How many of the best fused candidates the second stage rescores (at least the limit).
    pub pool: usize,
    /// Second stage: weight of the fused score, as a share of the best one.
    pub fused: f64,
    /// Second stage: weight of the cosine similarity.
    pub similarity: f64,
    /// Second stage: weight of the BM25 score, as a share of the best in the pool.
    pub bm25: f64,
    /// Second stage: weight of the IDF-weighted share of the query's words the memory holds.
    pub coverage: f64,
    /// Second stage: bonus for an imported chat line whose writer the query names.
    pub speaker: f64,
    /// Second stage: added to an imported memory's score when the query is about the user ("my
    /// job", "where do I live"): a line someone else wrote is not about the user.
    pub imported: f64,
    /// Second stage: share of the better neighbour's score an imported chat line gets (the line
    /// before or after it in the chat, when that one matches too).
    pub context: f64,
    /// How much importance (0-1) and recency can lift a score.
    pub importance: f64,
    pub recency: f64,
    pub recency_half_life_days: f64,
}

impl Default for Weights {
    fn default() -> Self {
        // Stage 1: a small k rewards being at the very top of either list; keywords lead because
        // memories and questions share names and rare words, meaning fills in the paraphrases.
        // Stage 2, chosen on LoCoMo conversations 0-4 (recall@10 0.66 fused → 0.74 rescored, on
        // a plateau: the best two dozen combinations of the sweep lie within 0.005), rescoring
        // nearly every candidate since it costs microseconds; reading a chat line with its
        // neighbours is the largest single gain (+0.04). The imported prior
        // (LoCoMo has only imported lines) was chosen on the personalisation benchmark's first two
        // users: anything from -1 to -2 puts the user's own facts first (-0.5 does not).
        Self {
            rrf_k: 2.0,
            vector: 0.6,
            keyword: 1.0,
            similarity_floor: 0.2,
            pool: 300,
            fused: 1.0,
            similarity: 1.0,
            bm25: 0.3,
            coverage: 0.6,
            speaker: 0.3,
            imported: -1.5,
            context: 0.4,
            importance: 0.02,
            recency: 0.02,
            recency_half_life_days: 30.0,
        }
    }
}

impl Weights {
    /// The first stage alone, as before the rescoring (the benchmarks compare against it).
    pub fn fusion_only() -> Self {
        Self { pool: 0, ..Self::default() }
    }
}

pub const MAX_LIMIT: usize = 50;

/// How many memories a chat turn looks up for the user's message: those that go into the context,
/// and a few more that the message's learning compares it with (`learning::extraction`).
/// (More than the context takes at most, so near-duplicates can be skipped and close scores seen.)
pub const RELATED_MEMORIES: usize = 12;

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
    let query = checked(query, limit)?;
    let query_vector = embed_query(state, query).await;
    search_with_vector(state, user_id, query, query_vector.as_deref(), limit).await
}

/// The query, trimmed, when it and the limit are acceptable.
fn checked(query: &str, limit: usize) -> AppResult<&str> {
    let query = query.trim();
    if query.is_empty() {
        return Err(AppError::bad_input("query must not be empty"));
    }
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::bad_input(format!("limit must be between 1 and {MAX_LIMIT} (got {limit})")));
    }
    Ok(query)
}

/// The vector of a search query (trimmed, as [`search`] embeds it); `None` when the embedder
/// failed, and the search goes by words only.
pub async fn embed_query(state: &AppState, query: &str) -> Option<Vec<f32>> {
    match state.embedder.embed(&[query.trim().to_owned()]).await {
        Ok(mut vectors) => vectors.pop(),
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "could not embed the query; searching by words only");
            None
        }
    }
}

/// [`search`] with the query's vector computed already ([`embed_query`]).
pub async fn search_with_vector(
    state: &AppState,
    user_id: Uuid,
    query: &str,
    query_vector: Option<&[f32]>,
    limit: usize,
) -> AppResult<Vec<ScoredMemory>> {
    let query = checked(query, limit)?;
    let found = search_once(state, user_id, query, query_vector, limit).await?;
    // "What does my wife do?" when the user said "I live here with my wife Yuki" and, elsewhere,
    // "Yuki is a pediatrician": the name the user gave the person asked about joins the query's
    // words, and the search runs once more.
    let names = names_for_relations(
        query,
        found.iter().filter(|f| f.memory.source != MemorySource::Imported).take(5).map(|f| f.memory.content.as_str()),
    );
    if names.is_empty() {
        return Ok(found);
    }
    let widened = format!("{query} {}", names.join(" "));
    search_once(state, user_id, &widened, query_vector, limit).await
}

async fn search_once(
    state: &AppState,
    user_id: Uuid,
    query: &str,
    query_vector: Option<&[f32]>,
    limit: usize,
) -> AppResult<Vec<ScoredMemory>> {
    let hits = state
        .memory_index
        .candidates(&state.db, state.embedder.as_ref(), user_id, query, query_vector, nearest_for(limit))
        .await?;
    let ranked = rank(&Weights::default(), query, hits, Utc::now(), limit);
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

/// People (and pets) in the user's life, by how the user refers to them.
const RELATIONS: &[&str] = &[
    "wife",
    "husband",
    "partner",
    "boyfriend",
    "girlfriend",
    "fiance",
    "fiancee",
    "son",
    "daughter",
    "kid",
    "child",
    "brother",
    "sister",
    "mother",
    "mum",
    "mom",
    "father",
    "dad",
    "grandmother",
    "grandfather",
    "granddaughter",
    "grandson",
    "cousin",
    "aunt",
    "uncle",
    "niece",
    "nephew",
    "friend",
    "boss",
    "colleague",
    "neighbour",
    "neighbor",
    "dog",
    "cat",
];

/// The names the user gave the people a query asks about: for each relation the query names
/// after "my" ("my wife"), a capitalised word right after the same relation in one of `texts`
/// ("... with my wife Yuki"), when the query does not hold it already. Pure.
pub fn names_for_relations<'a>(query: &str, texts: impl Iterator<Item = &'a str>) -> Vec<String> {
    fn words(text: &str) -> Vec<&str> {
        text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect()
    }
    let query_words = words(query);
    let asked: Vec<String> = query_words
        .windows(2)
        .filter(|pair| pair[0].eq_ignore_ascii_case("my") || pair[0].eq_ignore_ascii_case("our"))
        .map(|pair| pair[1].to_lowercase())
        .filter(|relation| RELATIONS.contains(&relation.as_str()))
        .collect();
    let mut names: Vec<String> = Vec::new();
    if asked.is_empty() {
        return names;
    }
    for text in texts {
        for pair in words(text).windows(2) {
            let (relation, name) = (pair[0].to_lowercase(), pair[1]);
            let capitalised = name.chars().next().is_some_and(char::is_uppercase) && name.len() > 1;
            let known = query_words.iter().any(|w| w.eq_ignore_ascii_case(name)) || names.iter().any(|n| n == name);
            if asked.contains(&relation) && capitalised && !known {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// The ranking itself, pure, so it can be measured and tested without a database: fusion, then
/// the rescoring of the best `pool` (none when `pool` is 0), best first, at most `limit`.
pub fn rank(weights: &Weights, query: &str, hits: Vec<Hit>, now: DateTime<Utc>, limit: usize) -> Vec<Ranked> {
    let mut ranked = fuse(weights, hits, now);
    if weights.pool > 0 {
        ranked.truncate(weights.pool.max(limit));
        rescore(weights, about_the_user(query), &mut ranked, now);
    }
    ranked.truncate(limit);
    ranked
}

/// Stage 1: reciprocal rank fusion, with small importance and recency nudges.
fn fuse(weights: &Weights, hits: Vec<Hit>, now: DateTime<Utc>) -> Vec<Ranked> {
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
            let score = vector.unwrap_or(0.0) + keyword.unwrap_or(0.0) + nudges(weights, &hit, now);
            Some(Ranked { hit, score })
        })
        .collect();
    sort(&mut ranked);
    ranked
}

/// Stage 2: the candidates' scores from the values behind the ranks and what each memory is.
fn rescore(weights: &Weights, about_the_user: bool, ranked: &mut [Ranked], now: DateTime<Utc>) {
    let best_fused = ranked.iter().map(|r| r.score).fold(0.0, f64::max);
    let best_bm25 = ranked.iter().map(|r| r.hit.keyword).fold(0.0, f64::max);
    for r in ranked.iter_mut() {
        let hit = &r.hit;
        let share = |value: f64, best: f64| if best > 0.0 { value / best } else { 0.0 };
        let prior = match hit.source {
            MemorySource::Imported if about_the_user => weights.imported,
            _ => 0.0,
        };
        r.score = weights.fused * share(r.score, best_fused)
            + weights.similarity * f64::from(hit.similarity.unwrap_or(0.0).max(0.0))
            + weights.bm25 * share(hit.keyword, best_bm25)
            + weights.coverage * hit.coverage
            + if hit.speaker_named { weights.speaker } else { 0.0 }
            + prior
            + nudges(weights, hit, now);
    }
    if weights.context > 0.0 {
        let by_sequence: HashMap<u64, f64> =
            ranked.iter().filter_map(|r| Some((r.hit.sequence?, r.score.max(0.0)))).collect();
        for r in ranked.iter_mut() {
            let Some(at) = r.hit.sequence else { continue };
            let before = at.checked_sub(1).and_then(|k| by_sequence.get(&k)).copied().unwrap_or(0.0);
            let after = by_sequence.get(&(at + 1)).copied().unwrap_or(0.0);
            r.score += weights.context * before.max(after);
        }
    }
    sort(ranked);
}

/// Whether a query asks about the user themselves: it speaks in the first person ("what is my
/// job?", "where do we go in May?"). A query about someone else ("what did Anna say?") leaves
/// imported lines their full weight.
pub fn about_the_user(query: &str) -> bool {
    const FIRST_PERSON: &[&str] = &["i", "me", "my", "mine", "myself", "we", "us", "our", "ours", "ourselves"];
    query.split(|c: char| !c.is_alphanumeric()).any(|w| FIRST_PERSON.iter().any(|f| w.eq_ignore_ascii_case(f)))
}

/// Importance and recency: small lifts next to a top match.
fn nudges(weights: &Weights, hit: &Hit, now: DateTime<Utc>) -> f64 {
    let age_days = (now - hit.valid_from).num_seconds().max(0) as f64 / 86_400.0;
    let recency = 0.5f64.powf(age_days / weights.recency_half_life_days);
    weights.importance * hit.importance + weights.recency * recency
}

fn sort(ranked: &mut [Ranked]) {
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.hit.id.cmp(&a.hit.id)));
}

/// Which of the memories found go into an answer's context, best first: at least `base` of
/// them (fewer when fewer were found), and up to `max` when those after the `base`-th score
/// within `closeness` (a share of the best score) of it — where the cut would fall between
/// near-equals, it would be a coin toss. A memory that says nearly what one already chosen says
/// (cosine ≥ `duplicate_similarity`, or the same words) is skipped, so one topic cannot fill
/// every place. Pure; the chat's context applies its token budget afterwards.
pub fn select_for_context(
    found: &[ScoredMemory],
    base: usize,
    max: usize,
    closeness: f64,
    duplicate_similarity: f32,
) -> Vec<ScoredMemory> {
    let mut chosen: Vec<(ScoredMemory, Option<Vec<f32>>, Vec<String>)> = Vec::new();
    let best = found.first().map(|f| f.score).unwrap_or(0.0);
    let mut cut: Option<f64> = None;
    for candidate in found {
        if chosen.len() >= max {
            break;
        }
        if let Some(cut) = cut
            && candidate.score < cut
        {
            break;
        }
        let vector = candidate.memory.embedding.as_deref().map(embed::from_bytes);
        let mut words = crate::store::search_index::shard::tokens(&candidate.memory.content);
        words.sort();
        words.dedup();
        let duplicate = chosen.iter().any(|(_, other_vector, other_words)| {
            *other_words == words
                || matches!((&vector, other_vector),
                    (Some(a), Some(b)) if a.len() == b.len() && embed::cosine(a, b) >= duplicate_similarity)
        });
        if duplicate {
            continue;
        }
        chosen.push((candidate.clone(), vector, words));
        if chosen.len() == base {
            cut = Some(candidate.score - closeness * best.abs());
        }
    }
    chosen.into_iter().map(|(found, ..)| found).collect()
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
    use entity::enums::MemoryCategory;

    use super::*;

    fn hit(n: u128, similarity: Option<f32>, keyword: f64) -> Hit {
        Hit {
            id: Uuid::from_u128(n),
            similarity,
            keyword,
            coverage: 0.0,
            speaker_named: false,
            sequence: None,
            source: MemorySource::Explicit,
            importance: 0.5,
            valid_from: Utc::now(),
        }
    }

    fn order(ranked: &[Ranked]) -> Vec<u128> {
        ranked.iter().map(|r| r.hit.id.as_u128()).collect()
    }

    #[test]
    fn a_memory_found_by_meaning_and_words_beats_one_found_by_either() {
        let hits = vec![hit(1, Some(0.9), 0.0), hit(2, None, 5.0), hit(3, Some(0.6), 2.0)];
        let ranked = rank(&Weights::fusion_only(), "", hits, Utc::now(), 10);
        assert_eq!(order(&ranked)[0], 3, "found by both signals comes first");
        // Keywords weigh more than meaning: the top keyword match beats the top vector match.
        assert_eq!(order(&ranked)[1..], [2, 1]);
        assert!(ranked.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn below_the_similarity_floor_without_a_shared_word_is_left_out() {
        let weights = Weights::fusion_only();
        let hits = vec![
            hit(1, Some(weights.similarity_floor - 0.01), 0.0),
            hit(2, Some(weights.similarity_floor + 0.01), 0.0),
            hit(3, Some(0.05), 1.0),
        ];
        let ranked = rank(&weights, "", hits, Utc::now(), 10);
        // 1 is unrelated; 3 is unrelated by meaning but shares a word, so it stays.
        assert_eq!(order(&ranked), [3, 2]);
        let below = ranked.iter().find(|r| r.hit.id.as_u128() == 3).unwrap();
        let keyword_only = weights.keyword / (weights.rrf_k + 1.0);
        assert!(below.score < keyword_only + weights.importance + weights.recency, "no vector term for 3");
        // The rescoring sees only what the fusion kept.
        let hits = vec![hit(1, Some(weights.similarity_floor - 0.01), 0.0), hit(2, Some(0.5), 0.0)];
        assert_eq!(order(&rank(&Weights::default(), "", hits, Utc::now(), 10)), [2]);
    }

    #[test]
    fn importance_and_recency_are_small_nudges() {
        let now = Utc::now();
        let weights = Weights::fusion_only();
        let score_of = |importance: f64, age_days: i64| {
            let mut one = hit(1, Some(0.7), 0.0);
            one.importance = importance;
            one.valid_from = now - Duration::days(age_days);
            rank(&weights, "", vec![one], now, 1)[0].score
        };
        let top_vector_term = weights.vector / (weights.rrf_k + 1.0);
        assert!((score_of(0.0, 0) - (top_vector_term + weights.recency)).abs() < 1e-9);
        assert!((score_of(1.0, 0) - score_of(0.0, 0) - weights.importance).abs() < 1e-9);
        // One half-life later, half the recency bonus is left.
        let half_life = weights.recency_half_life_days as i64;
        assert!((score_of(0.0, 0) - score_of(0.0, half_life) - weights.recency / 2.0).abs() < 1e-6);
        // A clearly better match by meaning is never overtaken by the nudges, in either stage.
        for weights in [Weights::fusion_only(), Weights::default()] {
            let mut weak = hit(5, Some(0.3), 0.0);
            weak.importance = 1.0;
            let mut strong = hit(4, Some(0.9), 0.0);
            strong.importance = 0.0;
            strong.valid_from = now - Duration::days(3650);
            assert_eq!(order(&rank(&weights, "", vec![weak, strong], now, 10)), [4, 5]);
        }
    }

    #[test]
    fn the_limit_cuts_after_ranking_and_ties_are_stable() {
        for weights in [Weights::fusion_only(), Weights::default()] {
            let hits: Vec<Hit> = (1..=20).map(|n| hit(n, Some(0.5 + n as f32 / 100.0), 0.0)).collect();
            let ranked = rank(&weights, "", hits, Utc::now(), 3);
            assert_eq!(order(&ranked), [20, 19, 18]);
            assert!(rank(&weights, "", Vec::new(), Utc::now(), 3).is_empty());
        }
    }

    const JOB: &str = "What is my job?";

    #[test]
    fn a_relation_asked_about_brings_in_the_name_the_user_gave() {
        let facts = ["I live in Tennoji with my wife Yuki", "My brother Lukas is a carpenter", "Has a cat"];
        let names = |query: &str| names_for_relations(query, facts.iter().copied());
        assert_eq!(names("What does my wife do?"), ["Yuki"]);
        assert_eq!(names("Gift ideas for my brother?"), ["Lukas"]);
        assert!(names("What does Yuki's wife do?").is_empty(), "only the user's own relations");
        assert!(names("What does my wife Yuki do?").is_empty(), "already named");
        assert!(names("What does my sister do?").is_empty(), "no name given for her");
        assert!(names("What is my job?").is_empty());
    }

    #[test]
    fn first_person_questions_are_about_the_user() {
        for query in ["What is my job?", "where do I live", "I'm bored", "Where are we going in May?", "Tell me"] {
            assert!(about_the_user(query), "{query}");
        }
        for query in ["What did Caroline paint?", "How is Anna's mother?", "Mine shafts in Wales", "immense"] {
            assert_eq!(about_the_user(query), query.starts_with("Mine"), "{query}");
        }
    }

    #[test]
    fn the_users_own_fact_outranks_someone_elses_chat_line_that_shares_a_word() {
        // "What is my job?": a chat line shares the word ("Nice job, Maria!"), the user's fact
        // ("Works as a nurse on night shifts") only the meaning.
        let mut chat_line = hit(1, Some(0.35), 4.0);
        chat_line.coverage = 0.6;
        chat_line.source = MemorySource::Imported;
        let fact = hit(2, Some(0.55), 0.0);
        let hits = || vec![chat_line.clone(), fact.clone()];
        assert_eq!(
            order(&rank(&Weights::fusion_only(), JOB, hits(), Utc::now(), 2)),
            [1, 2],
            "ranks alone favour words"
        );
        assert_eq!(order(&rank(&Weights::default(), JOB, hits(), Utc::now(), 2)), [2, 1]);
        // Asked about someone else, the line keeps its place.
        assert_eq!(order(&rank(&Weights::default(), "How was Maria's job?", hits(), Utc::now(), 2)), [1, 2]);
        // The same line, written by the user themselves, keeps its place: the prior is the source.
        let mut own_note = chat_line.clone();
        own_note.source = MemorySource::Explicit;
        assert_eq!(order(&rank(&Weights::default(), JOB, vec![own_note, fact.clone()], Utc::now(), 2)), [1, 2]);
    }

    #[test]
    fn rescoring_uses_how_far_ahead_a_match_is_and_who_is_named() {
        // Two memories tie on ranks (each first in one list); the far better cosine wins.
        let close = hit(1, Some(0.8), 1.0);
        let mut worded = hit(2, Some(0.3), 1.1);
        worded.coverage = 0.2;
        assert_eq!(order(&rank(&Weights::default(), "", vec![worded, close], Utc::now(), 2)), [1, 2]);
        // "What did Caroline paint?": of two equal lines, the one Caroline wrote.
        let mut by_caroline = hit(3, Some(0.5), 2.0);
        by_caroline.source = MemorySource::Imported;
        by_caroline.speaker_named = true;
        let mut by_melanie = hit(4, Some(0.5), 2.0);
        by_melanie.source = MemorySource::Imported;
        assert_eq!(
            order(&rank(&Weights::default(), "What did Caroline paint?", vec![by_melanie, by_caroline], Utc::now(), 2)),
            [3, 4]
        );
    }

    #[test]
    fn only_the_pool_is_rescored() {
        // After fusion 3 is last (found by meaning only, behind two keyword matches); rescored on
        // the values alone, its far better cosine puts it first.
        let hits = || vec![hit(1, Some(0.3), 3.0), hit(2, Some(0.25), 2.0), hit(3, Some(0.95), 0.0)];
        let fused = rank(&Weights::fusion_only(), "", hits(), Utc::now(), 3);
        assert_eq!(order(&fused)[2], 3);
        let values = Weights { fused: 0.0, ..Weights::default() };
        let rescored = rank(&Weights { pool: 3, ..values }, "", hits(), Utc::now(), 2);
        assert_eq!(order(&rescored)[0], 3);
        let narrow = rank(&Weights { pool: 2, ..values }, "", hits(), Utc::now(), 2);
        assert!(!order(&narrow).contains(&3), "outside the pool: {:?}", order(&narrow));
    }

    fn found(n: u128, score: f64, content: &str, vector: &[f32]) -> ScoredMemory {
        let now = Utc::now();
        let mut vector = vector.to_vec();
        embed::normalise(&mut vector);
        ScoredMemory {
            memory: memory::Model {
                id: Uuid::from_u128(n),
                user_id: Uuid::nil(),
                content: content.into(),
                category: MemoryCategory::Fact,
                importance: 0.5,
                source: MemorySource::Explicit,
                source_message_id: None,
                embedding: Some(embed::to_bytes(&vector)),
                embedding_model: Some("test".into()),
                embedding_dim: Some(vector.len() as i32),
                valid_from: now,
                valid_to: None,
                created_at: now,
                updated_at: now,
            },
            score,
            similarity: None,
            keyword: 0.0,
        }
    }

    fn ids(selected: &[ScoredMemory]) -> Vec<u128> {
        selected.iter().map(|s| s.memory.id.as_u128()).collect()
    }

    #[test]
    fn the_context_takes_more_memories_only_when_the_cut_would_split_near_equals() {
        let axis = |i: usize| {
            let mut v = vec![0.0f32; 12];
            v[i] = 1.0;
            v
        };
        let spread: Vec<ScoredMemory> =
            (0..10).map(|i| found(i as u128, 1.0 - i as f64 * 0.1, &format!("fact {i}"), &axis(i))).collect();
        assert_eq!(ids(&select_for_context(&spread, 5, 8, 0.05, 0.9)), [0, 1, 2, 3, 4]);
        let mut close = spread.clone();
        for (i, f) in close.iter_mut().enumerate().skip(5) {
            f.score = 0.6 - (i - 4) as f64 * 0.01; // 0.59, 0.58, ... right behind the fifth (0.6)
        }
        assert_eq!(ids(&select_for_context(&close, 5, 8, 0.05, 0.9)), [0, 1, 2, 3, 4, 5, 6, 7], "at most max");
        assert_eq!(ids(&select_for_context(&close[..3], 5, 8, 0.05, 0.9)), [0, 1, 2], "fewer found, fewer given");
    }

    #[test]
    fn near_duplicates_do_not_fill_the_context() {
        let v = |x: f32, y: f32| vec![x, y, 0.0];
        let found = vec![
            found(1, 1.0, "Moved to Lisbon in May", &v(1.0, 0.0)),
            found(2, 0.95, "moved to Lisbon in May!", &v(0.0, 1.0)), // the same words
            found(3, 0.9, "Has moved to Lisbon this May", &v(1.0, 0.05)), // nearly the same meaning
            found(4, 0.85, "Works as a nurse", &v(0.0, 1.0)),
        ];
        assert_eq!(ids(&select_for_context(&found, 2, 4, 0.05, 0.9)), [1, 4]);
    }
}
