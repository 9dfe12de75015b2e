//! The whole data model: users and their keys, conversations and messages, long-term memories
//! with their history, preferences, learned patterns and feedback.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    DisplayName,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    UserId,
    Name,
    Prefix,
    KeyHash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    UserId,
    Title,
    Summary,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ConversationId,
    UserId,
    Role,
    Content,
    Status,
    StopReason,
    Model,
    InputTokens,
    OutputTokens,
    CacheReadInputTokens,
    CacheCreationInputTokens,
    ErrorCode,
    ContextUsed,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Memories {
    Table,
    Id,
    UserId,
    Content,
    Category,
    Importance,
    Source,
    SourceMessageId,
    Embedding,
    EmbeddingModel,
    EmbeddingDim,
    ValidFrom,
    ValidTo,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum MemoryHistory {
    Table,
    Id,
    MemoryId,
    UserId,
    Content,
    Category,
    Importance,
    Change,
    ValidFrom,
    ValidTo,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Preferences {
    Table,
    Id,
    UserId,
    Key,
    Value,
    Source,
    Confidence,
    EvidenceCount,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LearnedPatterns {
    Table,
    Id,
    UserId,
    Kind,
    Key,
    Value,
    Confidence,
    EvidenceCount,
    FirstSeenAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum MessageFeedback {
    Table,
    Id,
    MessageId,
    UserId,
    Rating,
    Reason,
    CreatedAt,
}

/// Rows owned by a user disappear with the user.
fn owned_by_user<T: IntoIden + 'static>(table: T, column: T) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(table, column).to(Users::Table, Users::Id).on_delete(ForeignKeyAction::Cascade).to_owned()
}

fn index<T: IntoIden + 'static>(name: &str, table: T, columns: Vec<T>) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(column);
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(string_len(Users::DisplayName, 200))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(pk_uuid(ApiKeys::Id))
                    .col(uuid(ApiKeys::UserId))
                    .col(string_len(ApiKeys::Name, 200))
                    .col(string_len(ApiKeys::Prefix, 32))
                    .col(string_len_uniq(ApiKeys::KeyHash, 64))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .foreign_key(&mut owned_by_user(ApiKeys::Table, ApiKeys::UserId))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_api_keys_user", ApiKeys::Table, vec![ApiKeys::UserId, ApiKeys::Id])).await?;

        manager
            .create_table(
                Table::create()
                    .table(Conversations::Table)
                    .col(pk_uuid(Conversations::Id))
                    .col(uuid(Conversations::UserId))
                    .col(string_len_null(Conversations::Title, 200))
                    .col(text_null(Conversations::Summary))
                    .col(timestamp_with_time_zone(Conversations::CreatedAt))
                    .col(timestamp_with_time_zone(Conversations::UpdatedAt))
                    .foreign_key(&mut owned_by_user(Conversations::Table, Conversations::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_conversations_user",
                Conversations::Table,
                vec![Conversations::UserId, Conversations::Id],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(pk_uuid(Messages::Id))
                    .col(uuid(Messages::ConversationId))
                    .col(uuid(Messages::UserId))
                    .col(string_len(Messages::Role, 16))
                    .col(text(Messages::Content))
                    .col(string_len(Messages::Status, 16))
                    .col(string_len_null(Messages::StopReason, 64))
                    .col(string_len_null(Messages::Model, 128))
                    .col(big_integer_null(Messages::InputTokens))
                    .col(big_integer_null(Messages::OutputTokens))
                    .col(big_integer_null(Messages::CacheReadInputTokens))
                    .col(big_integer_null(Messages::CacheCreationInputTokens))
                    .col(string_len_null(Messages::ErrorCode, 64))
                    .col(json_null(Messages::ContextUsed))
                    .col(timestamp_with_time_zone(Messages::CreatedAt))
                    .col(timestamp_with_time_zone(Messages::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Messages::Table, Messages::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut owned_by_user(Messages::Table, Messages::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_messages_conversation",
                Messages::Table,
                vec![Messages::ConversationId, Messages::Id],
            ))
            .await?;
        manager.create_index(index("idx_messages_user", Messages::Table, vec![Messages::UserId, Messages::Id])).await?;

        manager
            .create_table(
                Table::create()
                    .table(Memories::Table)
                    .col(pk_uuid(Memories::Id))
                    .col(uuid(Memories::UserId))
                    .col(text(Memories::Content))
                    .col(string_len(Memories::Category, 16))
                    .col(double(Memories::Importance))
                    .col(string_len(Memories::Source, 16))
                    .col(uuid_null(Memories::SourceMessageId))
                    .col(blob_null(Memories::Embedding))
                    .col(string_len_null(Memories::EmbeddingModel, 200))
                    .col(integer_null(Memories::EmbeddingDim))
                    .col(timestamp_with_time_zone(Memories::ValidFrom))
                    .col(timestamp_with_time_zone_null(Memories::ValidTo))
                    .col(timestamp_with_time_zone(Memories::CreatedAt))
                    .col(timestamp_with_time_zone(Memories::UpdatedAt))
                    .foreign_key(&mut owned_by_user(Memories::Table, Memories::UserId))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_memories_user", Memories::Table, vec![Memories::UserId, Memories::Id])).await?;

        manager
            .create_table(
                Table::create()
                    .table(MemoryHistory::Table)
                    .col(pk_uuid(MemoryHistory::Id))
                    .col(uuid(MemoryHistory::MemoryId))
                    .col(uuid(MemoryHistory::UserId))
                    .col(text(MemoryHistory::Content))
                    .col(string_len(MemoryHistory::Category, 16))
                    .col(double(MemoryHistory::Importance))
                    .col(string_len(MemoryHistory::Change, 16))
                    .col(timestamp_with_time_zone(MemoryHistory::ValidFrom))
                    .col(timestamp_with_time_zone(MemoryHistory::ValidTo))
                    .col(timestamp_with_time_zone(MemoryHistory::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(MemoryHistory::Table, MemoryHistory::MemoryId)
                            .to(Memories::Table, Memories::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut owned_by_user(MemoryHistory::Table, MemoryHistory::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_memory_history_memory",
                MemoryHistory::Table,
                vec![MemoryHistory::MemoryId, MemoryHistory::Id],
            ))
            .await?;
        manager
            .create_index(index("idx_memory_history_user", MemoryHistory::Table, vec![MemoryHistory::UserId]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Preferences::Table)
                    .col(pk_uuid(Preferences::Id))
                    .col(uuid(Preferences::UserId))
                    .col(string_len(Preferences::Key, 64))
                    .col(text(Preferences::Value))
                    .col(string_len(Preferences::Source, 16))
                    .col(double(Preferences::Confidence))
                    .col(integer(Preferences::EvidenceCount))
                    .col(timestamp_with_time_zone(Preferences::CreatedAt))
                    .col(timestamp_with_time_zone(Preferences::UpdatedAt))
                    .foreign_key(&mut owned_by_user(Preferences::Table, Preferences::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_preferences_user_key", Preferences::Table, vec![Preferences::UserId, Preferences::Key])
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LearnedPatterns::Table)
                    .col(pk_uuid(LearnedPatterns::Id))
                    .col(uuid(LearnedPatterns::UserId))
                    .col(string_len(LearnedPatterns::Kind, 24))
                    .col(string_len(LearnedPatterns::Key, 200))
                    .col(text(LearnedPatterns::Value))
                    .col(double(LearnedPatterns::Confidence))
                    .col(integer(LearnedPatterns::EvidenceCount))
                    .col(timestamp_with_time_zone(LearnedPatterns::FirstSeenAt))
                    .col(timestamp_with_time_zone(LearnedPatterns::LastSeenAt))
                    .foreign_key(&mut owned_by_user(LearnedPatterns::Table, LearnedPatterns::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "idx_learned_patterns_user_kind_key",
                    LearnedPatterns::Table,
                    vec![LearnedPatterns::UserId, LearnedPatterns::Kind, LearnedPatterns::Key],
                )
                .unique()
                .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MessageFeedback::Table)
                    .col(pk_uuid(MessageFeedback::Id))
                    .col(uuid_uniq(MessageFeedback::MessageId))
                    .col(uuid(MessageFeedback::UserId))
                    .col(string_len(MessageFeedback::Rating, 8))
                    .col(string_len_null(MessageFeedback::Reason, 500))
                    .col(timestamp_with_time_zone(MessageFeedback::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(MessageFeedback::Table, MessageFeedback::MessageId)
                            .to(Messages::Table, Messages::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut owned_by_user(MessageFeedback::Table, MessageFeedback::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("idx_message_feedback_user", MessageFeedback::Table, vec![MessageFeedback::UserId]))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children first, so foreign keys never point at a dropped table.
        for table in [
            MessageFeedback::Table.into_iden(),
            LearnedPatterns::Table.into_iden(),
            Preferences::Table.into_iden(),
            MemoryHistory::Table.into_iden(),
            Memories::Table.into_iden(),
            Messages::Table.into_iden(),
            Conversations::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
