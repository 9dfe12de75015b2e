//! What the caller's Claude calls cost, and how much of their budget is left.

use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::claude_usage;

use super::{ContextExt as _, GqlResult};
use crate::services::account::usage::{self, LimitStatus, Measure, Window};

/// The Claude calls made for the caller on one UTC day for one purpose, and the tokens they
/// used (as Anthropic reported them).
#[derive(SimpleObject)]
pub struct UsageDay {
    /// The UTC day, as `YYYY-MM-DD`.
    pub day: String,
    /// What the calls were for: `chat` (answers), `extraction` (learning memories from
    /// messages), `summary` (the running summary of long conversations), or a later kind.
    pub purpose: String,
    /// How many calls Claude answered.
    pub calls: i64,
    /// Input tokens read without the prompt cache.
    pub input_tokens: i64,
    /// Output tokens written.
    pub output_tokens: i64,
    /// Input tokens read from the prompt cache.
    pub cache_read_tokens: i64,
    /// Input tokens written to the prompt cache.
    pub cache_write_tokens: i64,
}

impl From<claude_usage::Model> for UsageDay {
    fn from(row: claude_usage::Model) -> Self {
        Self {
            day: row.day.format("%Y-%m-%d").to_string(),
            purpose: row.purpose,
            calls: row.calls,
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
            cache_read_tokens: row.cache_read_tokens,
            cache_write_tokens: row.cache_write_tokens,
        }
    }
}

/// What a budget limit counts.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum UsageMeasure {
    /// Claude calls.
    Calls,
    /// Tokens of every kind: input, output, cache reads and cache writes.
    Tokens,
}

/// The window a budget limit counts in.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum UsageWindow {
    /// The current UTC minute.
    Minute,
    /// The current UTC day.
    Day,
}

/// One of the operator's limits on the caller's Claude use, and where the caller stands.
#[derive(SimpleObject)]
pub struct UsageLimit {
    /// What it counts.
    pub measure: UsageMeasure,
    /// The window it counts in.
    pub window: UsageWindow,
    /// How many the caller may use in a window.
    pub allowed: i64,
    /// How many the caller used in this window.
    pub used: i64,
    /// How many are left in this window (0 once spent: chat is refused with RATE_LIMITED and
    /// background learning pauses until the window ends).
    pub remaining: i64,
    /// Seconds until this window ends and the limit starts again from 0.
    pub resets_in_seconds: i64,
}

impl From<LimitStatus> for UsageLimit {
    fn from(status: LimitStatus) -> Self {
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Self {
            measure: match status.measure {
                Measure::Calls => UsageMeasure::Calls,
                Measure::Tokens => UsageMeasure::Tokens,
            },
            window: match status.window {
                Window::Minute => UsageWindow::Minute,
                Window::Day => UsageWindow::Day,
            },
            allowed: as_i64(status.allowed),
            used: as_i64(status.used),
            remaining: as_i64(status.remaining()),
            resets_in_seconds: as_i64(status.resets_in.as_secs()),
        }
    }
}

/// The usage part of `Query`.
#[derive(Default)]
pub struct UsageQuery;

#[Object]
impl UsageQuery {
    /// The Claude calls made for the caller (answers, and the background work that learns from
    /// their messages), by UTC day and purpose, oldest day first; days without calls are left
    /// out. Errors: BAD_USER_INPUT (`from` after `to`, more than 366 days).
    async fn usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "From this time's UTC day on; 29 days before `to` when absent.")] from: Option<DateTime<Utc>>,
        #[graphql(desc = "Up to this time's UTC day, included; today when absent.")] to: Option<DateTime<Utc>>,
    ) -> GqlResult<Vec<UsageDay>> {
        let user_id = ctx.user_id()?;
        let (from, to) = usage::day_range(from, to)?;
        Ok(usage::days(&ctx.state().db, user_id, from, to).await?.into_iter().map(UsageDay::from).collect())
    }

    /// The limits the operator set on the caller's Claude use (calls and tokens, per minute and
    /// per day) and how much of each is left; empty when Claude use is unlimited.
    async fn usage_limits(&self, ctx: &Context<'_>) -> GqlResult<Vec<UsageLimit>> {
        let user_id = ctx.user_id()?;
        let state = ctx.state();
        let statuses = usage::status(state.short_term.as_ref(), &state.config.limits.claude, user_id)
            .await
            .map_err(|error| crate::error::AppError::Internal(error.context("reading the Claude budget")))?;
        Ok(statuses.into_iter().map(UsageLimit::from).collect())
    }
}
