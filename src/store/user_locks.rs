//! Per-user learning locks: within the process always, and across replicas on PostgreSQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{
    ConnectionTrait as _, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement, TransactionTrait as _,
};
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// How long learning waits for another replica that is learning from the same user. A holder
/// that takes longer is stuck; the waiter gives up and leaves its message to the next one.
const WAIT: Duration = Duration::from_secs(60);

/// How many connections of the pool this process keeps busy holding learning locks at most: a
/// held lock keeps its connection idle in a transaction while the learning writes through
/// others, so all of them would leave none to write with.
const HELD_CONNECTIONS: usize = 4;

/// One lock per user, so one user's messages are learned from one at a time: "I live in Porto"
/// then "I now live in Lisbon" must not race, or the older fact can land last. On PostgreSQL the
/// lock also holds across replicas (a transaction-scoped advisory lock, released when the
/// transaction ends or its connection dies); SQLite is one process, and the local lock is all
/// there is. The lock gives one learner at a time; the order they learn in is the messages'
/// (`services::learning::order`).
pub struct UserLocks {
    local: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    held_connections: Arc<Semaphore>,
}

impl Default for UserLocks {
    fn default() -> Self {
        Self { local: Mutex::default(), held_connections: Arc::new(Semaphore::new(HELD_CONNECTIONS)) }
    }
}

/// A user's learning lock; [`release`](Self::release) it (dropping it releases it too, with the
/// rollback left to the pool).
pub struct UserLock {
    shared: Option<(DatabaseTransaction, OwnedSemaphorePermit)>,
    _local: OwnedMutexGuard<()>,
}

impl UserLock {
    pub async fn release(self) {
        if let Some((txn, _permit)) = self.shared
            && let Err(error) = txn.rollback().await
        {
            tracing::warn!(%error, "could not end the learning lock's transaction; its connection is dropped");
        }
    }
}

impl UserLocks {
    /// Waits for the user's lock: in this process first (so a process holds at most one
    /// connection per user), then across replicas.
    pub async fn lock(&self, db: &DatabaseConnection, user_id: Uuid) -> Result<UserLock, DbErr> {
        let local = {
            let mut locks = self.local.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // Forget the locks nobody holds or waits for.
            if locks.len() > 1024 {
                locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            }
            locks.entry(user_id).or_default().clone()
        };
        let local = local.lock_owned().await;
        let shared = match db.get_database_backend() {
            DbBackend::Postgres => {
                let permit = self
                    .held_connections
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| DbErr::Custom("the learning locks are closed".into()))?;
                let txn = db.begin().await?;
                txn.execute_unprepared(&format!("SET LOCAL lock_timeout = {}", WAIT.as_millis())).await?;
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_advisory_xact_lock($1)",
                    [advisory_key(user_id).into()],
                ))
                .await?;
                Some((txn, permit))
            }
            _ => None,
        };
        Ok(UserLock { shared, _local: local })
    }
}

/// The user's key among PostgreSQL's advisory locks. Two users sharing one (1 in 2^64) would
/// only learn one after the other.
fn advisory_key(user_id: Uuid) -> i64 {
    let (high, low) = user_id.as_u64_pair();
    (high ^ low) as i64
}
