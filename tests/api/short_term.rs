//! The short-term window store, against both implementations (Redis when `TEST_REDIS_URL` is set).

use std::time::Duration;

use assistant::store::{InProcessStore, RedisStore, ShortTermStore, Turn, WindowPolicy};
use entity::enums::MessageRole;
use uuid::Uuid;

fn turn(i: usize) -> Turn {
    Turn {
        message_id: Uuid::now_v7(),
        role: if i.is_multiple_of(2) { MessageRole::User } else { MessageRole::Assistant },
        content: format!("turn {i} — ünïcödé 🌍"),
    }
}

const POLICY: WindowPolicy = WindowPolicy { max_turns: 4, ttl: Duration::from_secs(60) };

async fn window_contract(store: &dyn ShortTermStore) {
    let conversation = Uuid::now_v7();
    assert_eq!(store.window(conversation).await.unwrap(), None);

    // Pushing to an uncached window leaves it absent, so the next read reloads all from SQL.
    store.push(conversation, &turn(0)).await.unwrap();
    assert_eq!(store.window(conversation).await.unwrap(), None);

    // Replace keeps the newest `max_turns`, oldest first.
    let turns: Vec<Turn> = (0..6).map(turn).collect();
    store.replace(conversation, &turns).await.unwrap();
    assert_eq!(store.window(conversation).await.unwrap().unwrap(), turns[2..].to_vec());

    // Push appends and drops the oldest beyond the cap.
    let next = turn(6);
    store.push(conversation, &next).await.unwrap();
    let mut expected = turns[3..].to_vec();
    expected.push(next);
    assert_eq!(store.window(conversation).await.unwrap().unwrap(), expected);

    // Windows are per conversation.
    assert_eq!(store.window(Uuid::now_v7()).await.unwrap(), None);

    store.forget(conversation).await.unwrap();
    assert_eq!(store.window(conversation).await.unwrap(), None);
    store.ping().await.unwrap();
}

async fn windows_expire(store: &dyn ShortTermStore) {
    let conversation = Uuid::now_v7();
    store.replace(conversation, &[turn(0)]).await.unwrap();
    assert!(store.window(conversation).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(store.window(conversation).await.unwrap(), None, "{} window outlived its TTL", store.name());
}

const SHORT_TTL: WindowPolicy = WindowPolicy { max_turns: 4, ttl: Duration::from_secs(1) };

#[tokio::test]
async fn in_process_window() {
    window_contract(&InProcessStore::new(POLICY)).await;
    windows_expire(&InProcessStore::new(SHORT_TTL)).await;
}

#[tokio::test]
async fn redis_window() {
    let Some(url) = crate::helpers::redis_url() else {
        eprintln!("TEST_REDIS_URL is not set: skipping the Redis window test");
        return;
    };
    let prefix = format!("test:{}:", Uuid::new_v4().simple());
    window_contract(&RedisStore::connect(&url, &prefix, POLICY).await.unwrap()).await;
    windows_expire(&RedisStore::connect(&url, &prefix, SHORT_TTL).await.unwrap()).await;
}

async fn slots_contract(store: &dyn ShortTermStore) {
    let key = format!("streams:{}", Uuid::now_v7());
    let ttl = Duration::from_secs(60);
    assert!(store.acquire_slot(&key, 2, ttl).await.unwrap());
    assert!(store.acquire_slot(&key, 2, ttl).await.unwrap());
    assert!(!store.acquire_slot(&key, 2, ttl).await.unwrap(), "a third slot of two");
    store.release_slot(&key).await.unwrap();
    assert!(store.acquire_slot(&key, 2, ttl).await.unwrap(), "a released slot is free again");
    // Slots are per key.
    assert!(store.acquire_slot(&format!("{key}-other"), 1, ttl).await.unwrap());
}

#[tokio::test]
async fn in_process_slots() {
    slots_contract(&InProcessStore::new(POLICY)).await;
}

#[tokio::test]
async fn redis_slots() {
    let Some(url) = crate::helpers::redis_url() else {
        eprintln!("TEST_REDIS_URL is not set: skipping the Redis slots test");
        return;
    };
    let prefix = format!("test:{}:", Uuid::new_v4().simple());
    slots_contract(&RedisStore::connect(&url, &prefix, POLICY).await.unwrap()).await;
}

/// A slot left behind by a replica that died expires on its own time, even while the user's
/// other slots are taken and given back all the time (each slot has its own expiry; one TTL for
/// the whole key, renewed by every take, kept the leaked slot alive for good).
#[tokio::test]
async fn redis_a_leaked_slot_expires_while_others_are_in_use() {
    let Some(url) = crate::helpers::redis_url() else { return };
    let prefix = format!("test:{}:", Uuid::new_v4().simple());
    let store = RedisStore::connect(&url, &prefix, POLICY).await.unwrap();
    let (key, ttl) = ("streams:leaky", Duration::from_secs(1));
    assert!(store.acquire_slot(key, 2, ttl).await.unwrap(), "the slot that is never given back");
    crate::helpers::eventually(
        "the leaked slot to expire",
        || async {
            let first = store.acquire_slot(key, 2, ttl).await.unwrap();
            let second = store.acquire_slot(key, 2, ttl).await.unwrap();
            for taken in [first, second] {
                if taken {
                    store.release_slot(key).await.unwrap();
                }
            }
            first && second
        },
        |both| *both,
    )
    .await;
}

/// Budget counters: added to, read back, per key, gone after their time.
async fn counters_contract(store: &dyn ShortTermStore) {
    use assistant::store::Counter;
    let key = format!("c:{}", Uuid::new_v4());
    let counter = |amount| Counter { key: key.clone(), amount, ttl: Duration::from_secs(1) };
    assert_eq!(store.counters(std::slice::from_ref(&key)).await.unwrap(), [0]);
    store.add_to_counters(&[counter(3)]).await.unwrap();
    store.add_to_counters(&[counter(4)]).await.unwrap();
    assert_eq!(store.counters(&[key.clone(), format!("{key}-other")]).await.unwrap(), [7, 0]);
    let expired = crate::helpers::eventually(
        "a counter to expire",
        || store.counters(std::slice::from_ref(&key)),
        |values| values.as_ref().is_ok_and(|values| values == &[0]),
    )
    .await;
    assert!(expired.is_ok());
}

#[tokio::test]
async fn in_process_counters() {
    counters_contract(&InProcessStore::new(POLICY)).await;
}

#[tokio::test]
async fn redis_counters() {
    let Some(url) = crate::helpers::redis_url() else { return };
    let prefix = format!("test:{}:", Uuid::new_v4().simple());
    counters_contract(&RedisStore::connect(&url, &prefix, POLICY).await.unwrap()).await;
}
