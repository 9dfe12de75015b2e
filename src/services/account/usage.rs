//! What each user's Claude calls cost, and their budget: every call the client makes for a user
//! passes through [`ClaudeMeter`] (the client's [`UsageMeter`]), which adds it to SQL (one row a
//! day and purpose, for the `usage` query) and to short-term counters of the minute and the day
//! (shared by replicas through Redis) that the operator's limits are checked against.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use entity::{claude_usage, prelude::*};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use crate::config::ClaudeBudget;
use crate::db::{new_id, now};
use crate::error::{AppError, AppResult};
use crate::llm::{BudgetExceeded, Usage, UsageMeter};
use crate::store::{Counter, ShortTermStore};

/// What a limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    Calls,
    Tokens,
}

/// The fixed window a limit counts in (UTC minutes and days).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    Minute,
    Day,
}

impl Window {
    fn seconds(self) -> u64 {
        match self {
            Self::Minute => 60,
            Self::Day => 86_400,
        }
    }
}

/// One of the operator's limits and where the caller stands against it.
#[derive(Clone, Debug)]
pub struct LimitStatus {
    /// The variable that set it (`CLAUDE_TOKENS_PER_DAY`, ...).
    pub variable: &'static str,
    pub measure: Measure,
    pub window: Window,
    pub allowed: u64,
    pub used: u64,
    /// When the current window ends.
    pub resets_in: Duration,
}

impl LimitStatus {
    pub fn remaining(&self) -> u64 {
        self.allowed.saturating_sub(self.used)
    }
}

/// The limits that are set, with their variables.
fn limits(budget: &ClaudeBudget) -> Vec<(&'static str, Measure, Window, u64)> {
    [
        ("CLAUDE_CALLS_PER_MINUTE", Measure::Calls, Window::Minute, budget.calls_per_minute),
        ("CLAUDE_CALLS_PER_DAY", Measure::Calls, Window::Day, budget.calls_per_day),
        ("CLAUDE_TOKENS_PER_MINUTE", Measure::Tokens, Window::Minute, budget.tokens_per_minute),
        ("CLAUDE_TOKENS_PER_DAY", Measure::Tokens, Window::Day, budget.tokens_per_day),
    ]
    .into_iter()
    .filter_map(|(variable, measure, window, allowed)| allowed.map(|allowed| (variable, measure, window, allowed)))
    .collect()
}

/// The counter of `user`'s `measure` in the `window` that holds `unix` (seconds).
fn counter_key(user: Uuid, measure: Measure, window: Window, unix: u64) -> String {
    let measure = match measure {
        Measure::Calls => "calls",
        Measure::Tokens => "tokens",
    };
    let (window_name, index) = (if window == Window::Minute { "m" } else { "d" }, unix / window.seconds());
    format!("claude:{user}:{measure}:{window_name}{index}")
}

/// Every token a call used: what it read (cache reads and writes included) and what it wrote.
fn tokens(usage: &Usage) -> u64 {
    usage.input_tokens + usage.output_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
}

fn unix_now() -> u64 {
    u64::try_from(Utc::now().timestamp()).unwrap_or(0)
}

/// The meter every Claude call for a user passes through.
pub struct ClaudeMeter {
    db: DatabaseConnection,
    store: Arc<dyn ShortTermStore>,
    budget: ClaudeBudget,
}

impl ClaudeMeter {
    pub fn new(db: DatabaseConnection, store: Arc<dyn ShortTermStore>, budget: ClaudeBudget) -> Self {
        Self { db, store, budget }
    }

    /// The budget counters of `user` that `amount` adds to (those it gives an amount for).
    fn counters(&self, user: Uuid, amount: impl Fn(Measure) -> Option<u64>) -> Vec<Counter> {
        let unix = unix_now();
        limits(&self.budget)
            .iter()
            .filter_map(|(_, measure, window, _)| {
                Some(Counter {
                    key: counter_key(user, *measure, *window, unix),
                    amount: amount(*measure)?,
                    // Outlives its window a little, so a clock a few seconds apart still finds it.
                    ttl: Duration::from_secs(window.seconds() + 60),
                })
            })
            .collect()
    }

    async fn add_to_sql(&self, user: Uuid, purpose: &'static str, usage: &Usage) -> Result<(), sea_orm::DbErr> {
        use claude_usage::Column;
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let row = claude_usage::ActiveModel {
            id: Set(new_id()),
            user_id: Set(user),
            day: Set(Utc::now().date_naive()),
            purpose: Set(purpose.to_owned()),
            calls: Set(1),
            input_tokens: Set(as_i64(usage.input_tokens)),
            output_tokens: Set(as_i64(usage.output_tokens)),
            cache_read_tokens: Set(as_i64(usage.cache_read_input_tokens)),
            cache_write_tokens: Set(as_i64(usage.cache_creation_input_tokens)),
            updated_at: Set(now()),
        };
        let add = |column: Column, amount: u64| {
            (column, Expr::col((claude_usage::Entity, column)).add(Expr::val(as_i64(amount))))
        };
        // One statement: concurrent calls of a user add up instead of colliding on the unique index.
        let mut on_conflict = OnConflict::columns([Column::UserId, Column::Day, Column::Purpose]);
        for (column, value) in [
            add(Column::Calls, 1),
            add(Column::InputTokens, usage.input_tokens),
            add(Column::OutputTokens, usage.output_tokens),
            add(Column::CacheReadTokens, usage.cache_read_input_tokens),
            add(Column::CacheWriteTokens, usage.cache_creation_input_tokens),
        ] {
            on_conflict.value(column, value);
        }
        on_conflict.update_column(Column::UpdatedAt);
        ClaudeUsage::insert(row).on_conflict(on_conflict.to_owned()).exec(&self.db).await?;
        Ok(())
    }
}

/// Where `user` stands against each limit the operator set (empty when none is).
pub async fn status(store: &dyn ShortTermStore, budget: &ClaudeBudget, user: Uuid) -> anyhow::Result<Vec<LimitStatus>> {
    let limits = limits(budget);
    if limits.is_empty() {
        return Ok(Vec::new());
    }
    let unix = unix_now();
    let keys: Vec<String> =
        limits.iter().map(|(_, measure, window, _)| counter_key(user, *measure, *window, unix)).collect();
    let used = store.counters(&keys).await?;
    Ok(limits
        .into_iter()
        .zip(used)
        .map(|((variable, measure, window, allowed), used)| LimitStatus {
            variable,
            measure,
            window,
            allowed,
            used,
            resets_in: Duration::from_secs(window.seconds() - unix % window.seconds()),
        })
        .collect())
}

#[async_trait::async_trait]
impl UsageMeter for ClaudeMeter {
    async fn admit(&self, user: Uuid, purpose: &'static str) -> Result<(), BudgetExceeded> {
        self.check(user, purpose).await?;
        // A call counts against the calls budgets when it is let through, not when it ends:
        // the next round of a tool turn, asked for the moment this one stops, must see it.
        let counters = self.counters(user, |measure| (measure == Measure::Calls).then_some(1));
        if !counters.is_empty()
            && let Err(error) = self.store.add_to_counters(&counters).await
        {
            tracing::warn!(%user, purpose, error = format!("{error:#}"), "could not count a Claude call against the budget");
        }
        Ok(())
    }

    async fn check(&self, user: Uuid, purpose: &'static str) -> Result<(), BudgetExceeded> {
        let statuses = match status(self.store.as_ref(), &self.budget, user).await {
            Ok(statuses) => statuses,
            Err(error) => {
                // The budget is a guard, SQL keeps the count: a short-term store that is down
                // must not stop every answer.
                tracing::warn!(%user, purpose, error = format!("{error:#}"), "could not read the Claude budget; the call goes ahead");
                return Ok(());
            }
        };
        // The limit that frees up last decides the wait.
        match statuses.iter().filter(|status| status.remaining() == 0).max_by_key(|status| status.resets_in) {
            Some(spent) => Err(BudgetExceeded {
                limit: spent.variable,
                allowed: spent.allowed,
                unit: match (spent.measure, spent.window) {
                    (Measure::Calls, Window::Minute) => "calls a minute",
                    (Measure::Calls, Window::Day) => "calls a day",
                    (Measure::Tokens, Window::Minute) => "tokens a minute",
                    (Measure::Tokens, Window::Day) => "tokens a day",
                },
                retry_after: spent.resets_in,
            }),
            None => Ok(()),
        }
    }

    async fn record(&self, user: Uuid, purpose: &'static str, usage: Usage) {
        if let Err(error) = self.add_to_sql(user, purpose, &usage).await {
            tracing::warn!(%user, purpose, error = format!("{error:#}"), "could not add a Claude call to the usage table");
        }
        // The call itself was counted when it was let through (`admit`); its tokens now.
        let counters = self.counters(user, |measure| (measure == Measure::Tokens).then(|| tokens(&usage)));
        if !counters.is_empty()
            && let Err(error) = self.store.add_to_counters(&counters).await
        {
            tracing::warn!(%user, purpose, error = format!("{error:#}"), "could not count a Claude call's tokens against the budget");
        }
    }
}

/// The caller's usage on the UTC days from `from` to `to` (both included), by day then purpose.
pub async fn days(
    db: &DatabaseConnection,
    user: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Vec<claude_usage::Model>> {
    Ok(ClaudeUsage::find()
        .filter(claude_usage::Column::UserId.eq(user))
        .filter(claude_usage::Column::Day.gte(from))
        .filter(claude_usage::Column::Day.lte(to))
        .order_by_asc(claude_usage::Column::Day)
        .order_by_asc(claude_usage::Column::Purpose)
        .all(db)
        .await?)
}

/// The days of a `usage(from, to)` request: the last 30 when `from` is absent, up to today when
/// `to` is; at most a year at once.
pub fn day_range(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> AppResult<(NaiveDate, NaiveDate)> {
    let to = to.unwrap_or_else(Utc::now).date_naive();
    let from = from.map_or_else(|| to - chrono::Days::new(29), |from| from.date_naive());
    if from > to {
        return Err(AppError::bad_input("`from` must not be after `to`"));
    }
    if (to - from).num_days() > 366 {
        return Err(AppError::bad_input("ask for at most 366 days of usage at once"));
    }
    Ok((from, to))
}
