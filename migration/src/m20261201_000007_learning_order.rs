//! Learning in message order across replicas: each user message gets its place in the user's
//! sequence when it is stored (`seq`, taken under the user's row lock, so a message sent after
//! another was stored always comes after it, whatever the replicas' clocks say), and is marked
//! once what it teaches is stored (`learned_at`). A replica learning from a message first learns
//! every earlier one still unmarked, in order, so two messages handled by two replicas are
//! learned once each and in the order they were sent.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Messages {
    Table,
    UserId,
    Role,
    Seq,
    LearnedAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one change at a time.
        manager
            .alter_table(Table::alter().table(Messages::Table).add_column(big_integer_null(Messages::Seq)).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(timestamp_with_time_zone_null(Messages::LearnedAt))
                    .to_owned(),
            )
            .await?;
        // What was stored before was learned by then.
        manager
            .exec_stmt(
                Query::update()
                    .table(Messages::Table)
                    .value(Messages::LearnedAt, Expr::col(Messages::CreatedAt))
                    .and_where(Expr::col(Messages::Role).eq("user"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_user_seq")
                    .table(Messages::Table)
                    .col(Messages::UserId)
                    .col(Messages::Seq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("idx_messages_user_seq").table(Messages::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Messages::Table).drop_column(Messages::LearnedAt).to_owned()).await?;
        manager.alter_table(Table::alter().table(Messages::Table).drop_column(Messages::Seq).to_owned()).await
    }
}
