//! What learning needs beyond the initial tables: the style profile (one Beta distribution per
//! dimension), the history of preference values (replaced, rejected, confirmed), and a weight on
//! learned patterns (an interest's time-decayed score, a habit's running average).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum StyleDimensions {
    Table,
    Id,
    UserId,
    Name,
    Alpha,
    Beta,
    EvidenceCount,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PreferenceHistory {
    Table,
    Id,
    UserId,
    Key,
    Value,
    Source,
    Confidence,
    Change,
    ValidFrom,
    ValidTo,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LearnedPatterns {
    Table,
    Weight,
}

fn owned_by_user<T: IntoIden + 'static>(table: T, column: T) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(table, column).to(Users::Table, Users::Id).on_delete(ForeignKeyAction::Cascade).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StyleDimensions::Table)
                    .col(pk_uuid(StyleDimensions::Id))
                    .col(uuid(StyleDimensions::UserId))
                    .col(string_len(StyleDimensions::Name, 32))
                    .col(double(StyleDimensions::Alpha))
                    .col(double(StyleDimensions::Beta))
                    .col(integer(StyleDimensions::EvidenceCount))
                    .col(timestamp_with_time_zone(StyleDimensions::UpdatedAt))
                    .foreign_key(&mut owned_by_user(StyleDimensions::Table, StyleDimensions::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_style_dimensions_user_name")
                    .table(StyleDimensions::Table)
                    .col(StyleDimensions::UserId)
                    .col(StyleDimensions::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PreferenceHistory::Table)
                    .col(pk_uuid(PreferenceHistory::Id))
                    .col(uuid(PreferenceHistory::UserId))
                    .col(string_len(PreferenceHistory::Key, 64))
                    .col(text(PreferenceHistory::Value))
                    .col(string_len(PreferenceHistory::Source, 16))
                    .col(double(PreferenceHistory::Confidence))
                    .col(string_len(PreferenceHistory::Change, 16))
                    .col(timestamp_with_time_zone(PreferenceHistory::ValidFrom))
                    .col(timestamp_with_time_zone(PreferenceHistory::ValidTo))
                    .col(timestamp_with_time_zone(PreferenceHistory::CreatedAt))
                    .foreign_key(&mut owned_by_user(PreferenceHistory::Table, PreferenceHistory::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_preference_history_user_key")
                    .table(PreferenceHistory::Table)
                    .col(PreferenceHistory::UserId)
                    .col(PreferenceHistory::Key)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(LearnedPatterns::Table)
                    .add_column(double(LearnedPatterns::Weight).default(0.0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(LearnedPatterns::Table).drop_column(LearnedPatterns::Weight).to_owned())
            .await?;
        manager.drop_table(Table::drop().table(PreferenceHistory::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(StyleDimensions::Table).to_owned()).await
    }
}
