//! What each user's Claude calls cost: one row per user, UTC day and purpose (chat, extraction,
//! summary, ...), added to after every call. The `usage` query reads it; budgets count in the
//! short-term store, which this table outlives.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ClaudeUsage {
    Table,
    Id,
    UserId,
    Day,
    Purpose,
    Calls,
    InputTokens,
    OutputTokens,
    CacheReadTokens,
    CacheWriteTokens,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ClaudeUsage::Table)
                    .col(pk_uuid(ClaudeUsage::Id))
                    .col(uuid(ClaudeUsage::UserId))
                    .col(date(ClaudeUsage::Day))
                    .col(string_len(ClaudeUsage::Purpose, 32))
                    .col(big_integer(ClaudeUsage::Calls))
                    .col(big_integer(ClaudeUsage::InputTokens))
                    .col(big_integer(ClaudeUsage::OutputTokens))
                    .col(big_integer(ClaudeUsage::CacheReadTokens))
                    .col(big_integer(ClaudeUsage::CacheWriteTokens))
                    .col(timestamp_with_time_zone(ClaudeUsage::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ClaudeUsage::Table, ClaudeUsage::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The upsert's conflict target, and the `usage` query's range scan.
        manager
            .create_index(
                Index::create()
                    .name("idx_claude_usage_user_day_purpose")
                    .table(ClaudeUsage::Table)
                    .col(ClaudeUsage::UserId)
                    .col(ClaudeUsage::Day)
                    .col(ClaudeUsage::Purpose)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ClaudeUsage::Table).to_owned()).await
    }
}
