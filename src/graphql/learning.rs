//! What the assistant learns about the user: preferences (with their history), the style
//! profile, behavioural patterns, and ratings of answers.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::enums::{PatternKind, PreferenceChange, PreferenceSource, Rating};
use entity::{learned_pattern, preference, preference_history};

use super::connection::parse_id;
use super::connection::{history_size, list_cost};
use super::{ContextExt as _, GqlResult};
use crate::services::learning::{feedback, patterns, preferences, style};

/// How the user wants to be helped, as a key and a value: set by the user, or inferred from
/// what they say. Those of confidence 0.5 or more are stated to Claude in every answer (as the
/// system prompt's budget allows).
#[derive(SimpleObject)]
pub struct Preference {
    /// The preference's name, lower case, e.g. `response_length` or `diet`.
    pub key: String,
    /// Its value, e.g. `short` (at most 1000 characters).
    pub value: String,
    /// Whether the user set it, or it was inferred or learned from ratings.
    pub source: PreferenceSource,
    /// How sure the assistant is, 0 to 1: explicit preferences are 1; an inferred one grows
    /// with agreeing evidence and shrinks with contradicting evidence (at most 0.95 from one
    /// statement).
    pub confidence: f64,
    /// How many times it has been stated or observed (1 or more).
    pub evidence_count: i32,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<preference::Model> for Preference {
    fn from(model: preference::Model) -> Self {
        Self {
            key: model.key,
            value: model.value,
            source: model.source,
            confidence: model.confidence,
            evidence_count: model.evidence_count,
            updated_at: model.updated_at,
        }
    }
}

/// A former value of a preference.
#[derive(SimpleObject)]
pub struct PreferenceVersion {
    /// The preference's name.
    pub key: String,
    /// The value it had.
    pub value: String,
    /// Where that value came from.
    pub source: PreferenceSource,
    /// How sure the assistant was of it when it ended, 0 to 1.
    pub confidence: f64,
    /// Why this value ended: replaced, rejected or deleted.
    pub change: PreferenceChange,
    /// When this value started to hold.
    pub valid_from: DateTime<Utc>,
    /// When this value ended.
    pub valid_to: DateTime<Utc>,
}

impl From<preference_history::Model> for PreferenceVersion {
    fn from(model: preference_history::Model) -> Self {
        Self {
            key: model.key,
            value: model.value,
            source: model.source,
            confidence: model.confidence,
            change: model.change,
            valid_from: model.valid_from,
            valid_to: model.valid_to,
        }
    }
}

/// Input of `setPreference`.
#[derive(InputObject)]
pub struct SetPreferenceInput {
    /// The preference's name: 1 to 64 letters, digits, '_', '.' or '-' (e.g.
    /// `response_length`); case does not matter, it is stored in lower case.
    pub key: String,
    /// Its value: 1 to 1000 characters after trimming spaces.
    pub value: String,
}

/// Something learned about how the user behaves.
#[derive(SimpleObject)]
pub struct LearnedPattern {
    /// The family of pattern.
    pub kind: PatternKind,
    /// What it is about: a topic for INTEREST (`cooking`); `hour:14` or `weekday:Mon` for
    /// ACTIVITY (in the user's `timezone` preference, a UTC offset like `+02:00`, else UTC);
    /// `message_count`, `average_message_length`, `conversation_count`,
    /// `messages_per_conversation` or `active_days` for HABIT; the kind of request for
    /// RECURRING_REQUEST.
    pub key: String,
    /// What was learned, in words: `14:00-15:00`, `about 120 characters`, `asked 3 times`, ...
    pub value: String,
    /// How sure the assistant is, 0 to 1. Interests fade with a half-life of 14 days without
    /// mention; for ACTIVITY it is the share of the user's messages sent then.
    pub confidence: f64,
    /// How many observations support it.
    pub evidence_count: i32,
    /// When it was first observed.
    pub first_seen_at: DateTime<Utc>,
    /// When it was last observed.
    pub last_seen_at: DateTime<Utc>,
}

impl From<learned_pattern::Model> for LearnedPattern {
    fn from(model: learned_pattern::Model) -> Self {
        Self {
            kind: model.kind,
            key: model.key,
            value: model.value,
            confidence: model.confidence,
            evidence_count: model.evidence_count,
            first_seen_at: model.first_seen_at,
            last_seen_at: model.last_seen_at,
        }
    }
}

/// How the user likes answers, learned from what they say and how they rate answers.
#[derive(SimpleObject)]
pub struct StyleProfile {
    /// Every dimension, always all five in this order: `verbosity`, `formality`,
    /// `technical_depth`, `examples`, `structure`.
    pub dimensions: Vec<StyleDimension>,
}

impl StyleProfile {
    fn from_values(values: Vec<style::StyleValue>) -> Self {
        Self { dimensions: values.into_iter().map(StyleDimension::from).collect() }
    }
}

/// One dimension of the style profile: a lean from 0 to 1 and how sure the assistant is of it
/// (the mean of a Beta distribution and the evidence behind it; old evidence fades).
#[derive(SimpleObject)]
pub struct StyleDimension {
    /// `verbosity`, `formality`, `technical_depth`, `examples` or `structure`.
    pub name: String,
    /// 0 to 1 (`description` says what the ends mean); 0.5 is no lean either way.
    pub value: f64,
    /// How sure the assistant is, 0 (nothing learned) towards 1; 0.5 after about four
    /// statements' or ratings' worth of evidence.
    pub confidence: f64,
    /// How many signals (statements, ratings, messages) shaped it.
    pub evidence_count: i32,
    /// What 0 and 1 mean, e.g. "0 = casual, 1 = formal".
    pub description: String,
    /// The instruction Claude gets from it now; null while the confidence is below 0.3 or the
    /// value within 0.12 of the middle.
    pub instruction: Option<String>,
    /// When it last changed (null while nothing was learned).
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<style::StyleValue> for StyleDimension {
    fn from(value: style::StyleValue) -> Self {
        Self {
            name: value.dimension.name().into(),
            value: value.value,
            confidence: value.confidence,
            evidence_count: value.evidence_count,
            description: value.dimension.description().into(),
            instruction: value.instruction().map(str::to_owned),
            updated_at: value.updated_at,
        }
    }
}

/// Input of `rateMessage`.
#[derive(InputObject)]
pub struct RateMessageInput {
    /// One of the assistant's answers (role ASSISTANT) in the caller's conversations.
    pub message_id: ID,
    /// Good or poor.
    pub rating: Rating,
    /// Why, in the user's words ("too long", "too technical", "perfect"): the assistant learns
    /// from it. When given, 1 to 500 characters after trimming spaces.
    pub reason: Option<String>,
}

/// A rating of an answer.
#[derive(SimpleObject)]
pub struct MessageRating {
    /// The answer rated.
    pub message_id: ID,
    /// The rating given.
    pub rating: Rating,
    /// The reason given, trimmed; null when none was.
    pub reason: Option<String>,
    /// When the answer was (last) rated.
    pub created_at: DateTime<Utc>,
    /// The style profile after learning from this rating.
    pub style_profile: StyleProfile,
}

/// The learning part of `Query`.
#[derive(Default)]
pub struct LearningQuery;

#[Object]
impl LearningQuery {
    /// The caller's preferences, whatever their source and confidence, by key (alphabetical).
    async fn preferences(&self, ctx: &Context<'_>) -> GqlResult<Vec<Preference>> {
        let user_id = ctx.user_id()?;
        Ok(preferences::list(&ctx.state().db, user_id).await?.into_iter().map(Preference::from).collect())
    }

    /// Former values of the caller's preferences, oldest first: replaced, rejected or deleted;
    /// the latest `last` of them. Errors: BAD_USER_INPUT (a key that is not 1 to 64 letters,
    /// digits, '_', '.' or '-'; `last` outside 1 to 100).
    #[graphql(complexity = "list_cost(Some(last), 20, child_complexity)")]
    async fn preference_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this preference's values (any case); every key's when absent.")] key: Option<String>,
        #[graphql(desc = "At most this many values, the latest ones (1 to 100).", default = 20)] last: i32,
    ) -> GqlResult<Vec<PreferenceVersion>> {
        let last = history_size(last)?;
        let user_id = ctx.user_id()?;
        let rows = preferences::history(&ctx.state().db, user_id, key.as_deref(), last).await?;
        Ok(rows.into_iter().map(PreferenceVersion::from).collect())
    }

    /// What the assistant has learned about how the caller behaves, most certain first. A
    /// recurring request shows from its second time.
    async fn learned_patterns(&self, ctx: &Context<'_>) -> GqlResult<Vec<LearnedPattern>> {
        let user_id = ctx.user_id()?;
        Ok(patterns::list(&ctx.state().db, user_id, chrono::Utc::now())
            .await?
            .into_iter()
            .map(LearnedPattern::from)
            .collect())
    }

    /// How the caller likes answers, learned from what they say and how they rate answers.
    async fn style_profile(&self, ctx: &Context<'_>) -> GqlResult<StyleProfile> {
        let user_id = ctx.user_id()?;
        Ok(StyleProfile::from_values(style::profile(&ctx.state().db, user_id).await?))
    }
}

/// The learning part of `Mutation`.
#[derive(Default)]
pub struct LearningMutation;

#[Object]
impl LearningMutation {
    /// Sets a preference and returns it: explicit, confidence 1. What the user sets always wins
    /// over what was inferred, and is never changed by inference; a different former value goes
    /// to `preferenceHistory` as REPLACED. Errors: BAD_USER_INPUT (a key that is not 1 to 64
    /// letters, digits, '_', '.' or '-'; a value blank or longer than 1000 characters).
    async fn set_preference(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The preference.")] input: SetPreferenceInput,
    ) -> GqlResult<Preference> {
        let user_id = ctx.user_id()?;
        Ok(preferences::set_explicit(&ctx.state().db, user_id, &input.key, &input.value).await?.into())
    }

    /// Confirms an inferred preference: it becomes the caller's own (explicit, confidence 1)
    /// and is returned. Errors: NOT_FOUND (the caller has no preference of that key),
    /// BAD_USER_INPUT (not a valid key).
    async fn confirm_preference(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The preference's key (any case).")] key: String,
    ) -> GqlResult<Preference> {
        let user_id = ctx.user_id()?;
        Ok(preferences::confirm(&ctx.state().db, user_id, &key).await?.into())
    }

    /// Rejects a preference as wrong and returns true: it is removed (kept in
    /// `preferenceHistory` as REJECTED) and that value is never inferred again. Errors:
    /// NOT_FOUND (the caller has no preference of that key), BAD_USER_INPUT (not a valid key).
    async fn reject_preference(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The preference's key (any case).")] key: String,
    ) -> GqlResult<bool> {
        let user_id = ctx.user_id()?;
        preferences::reject(&ctx.state().db, user_id, &key).await?;
        Ok(true)
    }

    /// Deletes a preference and returns true; its value is kept in `preferenceHistory` as
    /// DELETED, and it may be inferred again later. Errors: NOT_FOUND (the caller has no
    /// preference of that key), BAD_USER_INPUT (not a valid key).
    async fn delete_preference(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The preference's key (any case).")] key: String,
    ) -> GqlResult<bool> {
        let user_id = ctx.user_id()?;
        preferences::delete(&ctx.state().db, user_id, &key).await?;
        Ok(true)
    }

    /// Rates one of the assistant's answers; rating it again replaces the rating. A reason such
    /// as "too long" or "too technical" teaches the style profile; UP reinforces what the answer
    /// looked like. Errors: NOT_FOUND (no such message of the caller's), BAD_USER_INPUT (not an
    /// id; a message of the user's rather than an answer; a reason blank or longer than 500
    /// characters).
    async fn rate_message(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The answer, the rating and why.")] input: RateMessageInput,
    ) -> GqlResult<MessageRating> {
        let message_id = parse_id("messageId", &input.message_id)?;
        let user_id = ctx.user_id()?;
        let state = ctx.state();
        let rating = feedback::rate_message(state, user_id, message_id, input.rating, input.reason.as_deref()).await?;
        let profile = style::profile(&state.db, user_id).await?;
        Ok(MessageRating {
            message_id: rating.message_id.into(),
            rating: rating.rating,
            reason: rating.reason,
            created_at: rating.created_at,
            style_profile: StyleProfile::from_values(profile),
        })
    }
}
