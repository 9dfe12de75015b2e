//! Per-user locks within this process.

use uuid::Uuid;

/// One lock per user, so a process learns from one user's messages one at a time, in the order
/// they arrive: "I live in Porto" then "I now live in Lisbon" must not race, or the older fact
/// can land last or both can be stored as the user's home.
#[derive(Default)]
pub struct UserLocks {
    locks: std::sync::Mutex<std::collections::HashMap<Uuid, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

impl UserLocks {
    pub async fn lock(&self, user_id: Uuid) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // Forget the locks nobody holds or waits for.
            if locks.len() > 1024 {
                locks.retain(|_, lock| std::sync::Arc::strong_count(lock) > 1);
            }
            locks.entry(user_id).or_default().clone()
        };
        lock.lock_owned().await
    }
}
