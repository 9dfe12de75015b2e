//! Connecting to SQL and bringing the schema up to date, and the few SQL helpers every service
//! shares: the time and ids rows are written with, write transactions, the user's row lock, and
//! keyset pagination (`page`).

pub mod page;

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use anyhow::Context as _;
use migration::{Migrator, MigratorTrait as _};
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DbBackend, TransactionTrait as _};

use crate::config::Config;

/// An arbitrary constant that names "schema migration" among PostgreSQL advisory locks.
const MIGRATION_LOCK_ID: i64 = 0x5A55_1574_0000_0001;

pub async fn connect_and_migrate(config: &Config) -> anyhow::Result<DatabaseConnection> {
    if config.is_sqlite() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("could not create DATA_DIR {}", config.data_dir.display()))?;
    }
    let mut options = ConnectOptions::new(config.database_url.expose());
    options
        .max_connections(if config.is_sqlite() { 8 } else { 16 })
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // WAL lets readers proceed during a write; with WAL, `synchronous=NORMAL` is safe from
        // corruption and skips an fsync per commit (a power cut may lose the last commits only).
        .map_sqlx_sqlite_opts(|options| {
            options
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    let db = Database::connect(options).await.context("could not connect to the database (DATABASE_URL)")?;

    match db.get_database_backend() {
        DbBackend::Sqlite => {
            Migrator::up(&db, None).await.context("migrating the SQLite database")?;
        }
        DbBackend::Postgres => {
            // Several replicas may start at once: one migrates, the others wait for it and then
            // find nothing left to do.
            let txn = db.begin().await?;
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
                .await
                .context("taking the migration lock")?;
            Migrator::up(&txn, None).await.context("migrating the PostgreSQL database")?;
            txn.commit().await.context("committing the migration")?;
        }
        other => anyhow::bail!("unsupported database backend {other:?}"),
    }
    Ok(db)
}

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
