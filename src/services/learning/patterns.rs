//! Learned patterns: interests by topic, activity by hour and weekday, conversation habits and
//! recurring requests. Each user message updates only the rows it concerns (an upsert per
//! pattern), never a rescan of the history.
//!
//! - Interests: each message touching a topic adds to its score, and scores decay with a half-life
//!   of `INTEREST_HALF_LIFE_DAYS` (s ← s·½^(Δt/h) + hits). Confidence is s / (s + 2) at read time.
//! - Activity: counts per local hour and weekday (the `timezone` preference, as a UTC offset like
//!   `+02:00`, when known); confidence is the share of the user's messages.
//! - Habits: message count, running average message length (exponential, α = 0.2), messages per
//!   conversation, active days.
//! - Recurring requests: counts per kind of request; shown from the second one on.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, FixedOffset, Offset as _, Timelike, Utc};
use entity::enums::PatternKind;
use entity::{learned_pattern, prelude::*};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::signals;
use crate::db::new_id;
use crate::error::AppResult;

pub const INTEREST_HALF_LIFE_DAYS: f64 = 14.0;
const LENGTH_SMOOTHING: f64 = 0.2;

/// What one user message says about the user's habits.
pub struct Observation<'a> {
    pub message: &'a str,
    pub at: DateTime<Utc>,
    /// The user's offset from UTC, when known.
    pub offset: Option<FixedOffset>,
    /// This is the first message of its conversation.
    pub starts_conversation: bool,
}

/// Parses a `timezone` preference given as a UTC offset (`+02:00`, `-0530`, `UTC+1`).
pub fn parse_offset(text: &str) -> Option<FixedOffset> {
    let text = text.trim().trim_start_matches("UTC").trim_start_matches("GMT");
    if text.is_empty() {
        return FixedOffset::east_opt(0);
    }
    let sign = match text.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let digits: String = text[1..].chars().filter(char::is_ascii_digit).collect();
    let (hours, minutes) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        3 | 4 => (digits[..digits.len() - 2].parse::<i32>().ok()?, digits[digits.len() - 2..].parse::<i32>().ok()?),
        _ => return None,
    };
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

fn plural(count: f64, noun: &str) -> String {
    if count == 1.0 { format!("1 {noun}") } else { format!("{count:.0} {noun}s") }
}

fn decayed(weight: f64, since: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    let days = (now - since).num_seconds().max(0) as f64 / 86_400.0;
    weight * 0.5f64.powf(days / INTEREST_HALF_LIFE_DAYS)
}

/// The user's patterns, read once, changed in memory, written back in one upsert.
struct Changes {
    user_id: Uuid,
    at: DateTime<Utc>,
    rows: HashMap<(PatternKind, String), learned_pattern::Model>,
    changed: Vec<(PatternKind, String)>,
}

impl Changes {
    async fn load(db: &impl ConnectionTrait, user_id: Uuid, at: DateTime<Utc>) -> AppResult<Self> {
        let rows = LearnedPattern::find()
            .filter(learned_pattern::Column::UserId.eq(user_id))
            .all(db)
            .await?
            .into_iter()
            .map(|row| ((row.kind, row.key.clone()), row))
            .collect();
        Ok(Self { user_id, at, rows, changed: Vec::new() })
    }

    fn get(&self, kind: PatternKind, key: &str) -> Option<&learned_pattern::Model> {
        self.rows.get(&(kind, key.to_owned()))
    }

    /// Sets one pattern's weight from its old weight (0 when new) and counts the evidence.
    /// Returns the new weight.
    fn bump(
        &mut self,
        kind: PatternKind,
        key: &str,
        weight: impl FnOnce(f64) -> f64,
        describe: impl FnOnce(f64) -> String,
    ) -> f64 {
        let (user_id, at) = (self.user_id, self.at);
        let row = self.rows.entry((kind, key.to_owned())).or_insert_with(|| learned_pattern::Model {
            id: new_id(),
            user_id,
            kind,
            key: key.to_owned(),
            value: String::new(),
            confidence: 0.0,
            weight: 0.0,
            evidence_count: 0,
            first_seen_at: at,
            last_seen_at: at,
        });
        row.weight = weight(row.weight);
        row.value = describe(row.weight);
        row.evidence_count += 1;
        row.last_seen_at = at;
        let weight = row.weight;
        if !self.changed.iter().any(|(k, name)| *k == kind && name == key) {
            self.changed.push((kind, key.to_owned()));
        }
        weight
    }

    async fn save(self, db: &impl ConnectionTrait) -> AppResult<()> {
        let rows: Vec<learned_pattern::ActiveModel> = self
            .changed
            .iter()
            .filter_map(|key| self.rows.get(key))
            .map(|row| learned_pattern::ActiveModel::from(row.clone()))
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        use learned_pattern::Column;
        LearnedPattern::insert_many(rows)
            .on_conflict(
                OnConflict::columns([Column::UserId, Column::Kind, Column::Key])
                    .update_columns([Column::Value, Column::Weight, Column::EvidenceCount, Column::LastSeenAt])
                    .to_owned(),
            )
            .exec(db)
            .await?;
        Ok(())
    }
}

/// Updates the patterns one message touches: one read, one write.
pub async fn observe(db: &impl ConnectionTrait, user_id: Uuid, observation: &Observation<'_>) -> AppResult<()> {
    let at = observation.at;
    let local = observation.at.with_timezone(&observation.offset.unwrap_or(Utc.fix()));
    let mut patterns = Changes::load(db, user_id, at).await?;
    use PatternKind::{Activity, Habit, Interest, RecurringRequest};

    // Active days: counted when the previous message was on another (local) day.
    let last_day =
        patterns.get(Habit, "active_days").map(|p| p.last_seen_at.with_timezone(&local.timezone()).date_naive());
    let count = patterns.bump(Habit, "message_count", |old| old + 1.0, |w| plural(w, "message"));
    let length = observation.message.chars().count() as f64;
    patterns.bump(
        Habit,
        "average_message_length",
        |old| if old == 0.0 { length } else { old + LENGTH_SMOOTHING * (length - old) },
        |w| format!("about {w:.0} characters"),
    );
    if observation.starts_conversation {
        patterns.bump(Habit, "conversation_count", |old| old + 1.0, |w| plural(w, "conversation"));
    }
    let conversations = patterns.get(Habit, "conversation_count").map(|p| p.weight).unwrap_or(1.0);
    patterns.bump(
        Habit,
        "messages_per_conversation",
        |_| count / conversations.max(1.0),
        |w| format!("about {w:.1} messages per conversation"),
    );
    if last_day != Some(local.date_naive()) {
        patterns.bump(Habit, "active_days", |old| old + 1.0, |w| format!("active on {}", plural(w, "day")));
    }

    let hour = local.hour();
    patterns.bump(
        Activity,
        &format!("hour:{hour:02}"),
        |old| old + 1.0,
        |_| format!("{hour:02}:00-{:02}:00", (hour + 1) % 24),
    );
    let weekday = local.weekday();
    patterns.bump(Activity, &format!("weekday:{weekday}"), |old| old + 1.0, |_| format!("{weekday}"));

    for (topic, hits) in signals::topics(observation.message) {
        let base = patterns.get(Interest, topic).map(|p| decayed(p.weight, p.last_seen_at, at)).unwrap_or(0.0);
        patterns.bump(Interest, topic, |_| base + hits as f64, |_| topic.to_owned());
    }
    if let Some(kind) = signals::request_kind(observation.message) {
        patterns.bump(RecurringRequest, kind, |old| old + 1.0, |w| format!("asked {}", plural(w, "time")));
    }
    patterns.save(db).await
}

/// The caller's patterns as of `now`, the most certain first. Interests decay; activity is the
/// share of messages; a recurring request shows from its second time.
pub async fn list(
    db: &DatabaseConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<Vec<learned_pattern::Model>> {
    let rows = LearnedPattern::find().filter(learned_pattern::Column::UserId.eq(user_id)).all(db).await?;
    let messages =
        rows.iter().find(|p| p.kind == PatternKind::Habit && p.key == "message_count").map(|p| p.weight).unwrap_or(0.0);
    let mut shown: Vec<learned_pattern::Model> = rows
        .into_iter()
        .filter_map(|mut p| {
            match p.kind {
                PatternKind::Interest => {
                    p.weight = decayed(p.weight, p.last_seen_at, now);
                    p.confidence = p.weight / (p.weight + 2.0);
                }
                PatternKind::Activity => p.confidence = if messages > 0.0 { p.weight / messages } else { 0.0 },
                PatternKind::Habit => p.confidence = f64::from(p.evidence_count) / (f64::from(p.evidence_count) + 3.0),
                PatternKind::RecurringRequest => {
                    if p.weight < 2.0 {
                        return None;
                    }
                    p.confidence = 1.0 - 1.0 / p.weight;
                }
            }
            Some(p)
        })
        .collect();
    shown.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(a.id.cmp(&b.id)));
    Ok(shown)
}

/// The user's strongest current interests (for the context).
pub async fn top_interests(
    db: &DatabaseConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
    limit: usize,
    min_confidence: f64,
) -> AppResult<Vec<learned_pattern::Model>> {
    Ok(list(db, user_id, now)
        .await?
        .into_iter()
        .filter(|p| p.kind == PatternKind::Interest && p.confidence >= min_confidence)
        .take(limit)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_decay() {
        assert_eq!(parse_offset("+02:00"), FixedOffset::east_opt(7200));
        assert_eq!(parse_offset("UTC-5"), FixedOffset::east_opt(-5 * 3600));
        assert_eq!(parse_offset("-0530"), FixedOffset::east_opt(-(5 * 3600 + 1800)));
        assert_eq!(parse_offset("Europe/Paris"), None);
        let now = Utc::now();
        let two_weeks_ago = now - chrono::Duration::days(14);
        assert!((decayed(4.0, two_weeks_ago, now) - 2.0).abs() < 1e-9);
    }
}
