//! The domain: what the assistant does, free of HTTP and GraphQL. Every function that touches a
//! user's data takes the caller's user id and scopes its SQL by it, so another user's row reads
//! exactly like a missing one.

pub mod auth;
pub mod chat;
pub mod context;
pub mod conversations;
pub mod extraction;
pub mod learning;
pub mod memories;
pub mod memory_index;
pub mod page;
pub mod patterns;
pub mod preferences;
pub mod privacy;
pub mod retrieval;
pub mod signals;
pub mod style;
pub mod validate;

use chrono::{DateTime, SubsecRound, Utc};

/// The current time at the precision every database keeps (microseconds), so a value read back
/// equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Starts a transaction that will write. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`): a transaction that reads first and writes later fails with "database is locked"
/// when another writer committed in between, which waiting cannot fix. PostgreSQL ignores the mode.
pub async fn begin_write(db: &sea_orm::DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait as _};
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Locks the user's row until the transaction ends (PostgreSQL `FOR UPDATE`; SQLite's
/// `BEGIN IMMEDIATE` already serialises writers). Learning reads, then writes, counters and
/// distributions: two messages of one user learned at once, in one process or two replicas,
/// must not lose each other's update.
pub async fn lock_user(db: &impl sea_orm::ConnectionTrait, user_id: uuid::Uuid) -> Result<(), sea_orm::DbErr> {
    use sea_orm::{EntityTrait as _, QuerySelect as _};
    entity::prelude::User::find_by_id(user_id)
        .select_only()
        .column(entity::user::Column::Id)
        .lock_exclusive()
        .into_tuple::<uuid::Uuid>()
        .one(db)
        .await?;
    Ok(())
}

/// A new time-ordered id: ordering by id is ordering by creation, which keyset pagination uses.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}
