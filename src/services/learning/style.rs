//! The style profile: how the user likes answers, as a few interpretable dimensions.
//!
//! Each dimension is a Beta(α, β) distribution over 0..1, starting from the prior Beta(2, 2)
//! (value 0.5, no confidence). A piece of evidence of strength `w` adds `w` to α (towards 1) or
//! to β (towards 0): it counts as `w` observations. Before each update the evidence already held
//! is discounted by `FORGETTING` (α ← 2 + (α − 2)·λ, likewise β), so old evidence fades and a
//! user whose taste changes is followed. The value is the posterior mean α / (α + β); the
//! confidence is n / (n + `CONFIDENCE_HALF`) for n = α + β − 4, the evidence mass: 0 with none,
//! 0.5 after four observations' worth, approaching 1.

use chrono::{DateTime, Utc};
use entity::{prelude::*, style_dimension};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::signals::{Dimension, Evidence};
use crate::db::{new_id, now};
use crate::error::AppResult;

const PRIOR: f64 = 2.0;
const FORGETTING: f64 = 0.97;
const CONFIDENCE_HALF: f64 = 4.0;
/// Below this confidence, or this close to the middle, a dimension gives no instruction.
pub const INSTRUCTION_CONFIDENCE: f64 = 0.3;
pub const INSTRUCTION_LEAN: f64 = 0.12;

/// A dimension as the API and the context show it.
#[derive(Clone, Debug, PartialEq)]
pub struct StyleValue {
    pub dimension: Dimension,
    pub value: f64,
    pub confidence: f64,
    pub evidence_count: i32,
    pub updated_at: Option<DateTime<Utc>>,
}

impl StyleValue {
    fn from_beta(
        dimension: Dimension,
        alpha: f64,
        beta: f64,
        evidence_count: i32,
        updated_at: Option<DateTime<Utc>>,
    ) -> Self {
        let mass = (alpha + beta - 2.0 * PRIOR).max(0.0);
        Self {
            dimension,
            value: alpha / (alpha + beta),
            confidence: mass / (mass + CONFIDENCE_HALF),
            evidence_count,
            updated_at,
        }
    }

    /// The instruction this dimension gives Claude, if it is sure enough and leans to one end.
    pub fn instruction(&self) -> Option<&'static str> {
        (self.confidence >= INSTRUCTION_CONFIDENCE && (self.value - 0.5).abs() >= INSTRUCTION_LEAN)
            .then(|| self.dimension.instruction(self.value > 0.5))
    }
}

/// One Beta update with forgetting, pure.
pub fn update(alpha: f64, beta: f64, evidence: &Evidence) -> (f64, f64) {
    let alpha = PRIOR + (alpha - PRIOR) * FORGETTING;
    let beta = PRIOR + (beta - PRIOR) * FORGETTING;
    if evidence.up { (alpha + evidence.strength, beta) } else { (alpha, beta + evidence.strength) }
}

/// The user's profile: every dimension, with the prior where nothing was learned yet.
pub async fn profile(db: &impl ConnectionTrait, user_id: Uuid) -> AppResult<Vec<StyleValue>> {
    let rows = StyleDimension::find().filter(style_dimension::Column::UserId.eq(user_id)).all(db).await?;
    Ok(Dimension::ALL
        .into_iter()
        .map(|dimension| match rows.iter().find(|r| r.name == dimension.name()) {
            Some(row) => {
                StyleValue::from_beta(dimension, row.alpha, row.beta, row.evidence_count, Some(row.updated_at))
            }
            None => StyleValue::from_beta(dimension, PRIOR, PRIOR, 0, None),
        })
        .collect())
}

/// Applies evidence to the user's profile: one read, one upsert of the dimensions touched.
pub async fn learn(db: &impl ConnectionTrait, user_id: Uuid, evidence: &[Evidence]) -> AppResult<()> {
    if evidence.is_empty() {
        return Ok(());
    }
    let rows = StyleDimension::find().filter(style_dimension::Column::UserId.eq(user_id)).all(db).await?;
    let mut changed = Vec::new();
    for dimension in Dimension::ALL {
        let mine: Vec<&Evidence> = evidence.iter().filter(|e| e.dimension == dimension).collect();
        if mine.is_empty() {
            continue;
        }
        let row = rows.iter().find(|r| r.name == dimension.name());
        let (mut alpha, mut beta) = row.map(|r| (r.alpha, r.beta)).unwrap_or((PRIOR, PRIOR));
        for e in &mine {
            (alpha, beta) = update(alpha, beta, e);
        }
        changed.push(style_dimension::ActiveModel {
            id: Set(row.map(|r| r.id).unwrap_or_else(new_id)),
            user_id: Set(user_id),
            name: Set(dimension.name().to_owned()),
            alpha: Set(alpha),
            beta: Set(beta),
            evidence_count: Set(row.map(|r| r.evidence_count).unwrap_or(0) + mine.len() as i32),
            updated_at: Set(now()),
        });
    }
    use style_dimension::Column;
    StyleDimension::insert_many(changed)
        .on_conflict(
            OnConflict::columns([Column::UserId, Column::Name])
                .update_columns([Column::Alpha, Column::Beta, Column::EvidenceCount, Column::UpdatedAt])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shorter() -> Evidence {
        Evidence { dimension: Dimension::Verbosity, up: false, strength: 2.5 }
    }

    #[test]
    fn evidence_moves_the_value_and_builds_confidence() {
        let prior = StyleValue::from_beta(Dimension::Verbosity, PRIOR, PRIOR, 0, None);
        assert_eq!((prior.value, prior.confidence), (0.5, 0.0));
        assert_eq!(prior.instruction(), None);

        let (a, b) = update(PRIOR, PRIOR, &shorter());
        let once = StyleValue::from_beta(Dimension::Verbosity, a, b, 1, None);
        assert!(once.value < 0.4 && once.confidence > 0.3, "{once:?}");
        assert_eq!(once.instruction(), Some(Dimension::Verbosity.instruction(false)));

        // Later evidence the other way wins back ground: old evidence fades.
        let (mut a, mut b) = (a, b);
        for _ in 0..3 {
            (a, b) = update(a, b, &Evidence { dimension: Dimension::Verbosity, up: true, strength: 2.5 });
        }
        assert!(a / (a + b) > 0.6, "{a} {b}");
    }
}
