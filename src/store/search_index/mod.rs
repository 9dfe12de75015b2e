//! Keeps each user's search shard ([`shard::Shard`]) in step with SQL, the
//! source of truth.
//!
//! Every change to a user's memories increments `users.memory_revision` in the same transaction.
//! A shard records the revision it reflects. Before a search, one primary-key read compares the
//! two; when they differ (a change made by another replica, a change this process missed, a shard
//! loaded from files older than SQL after a crash) the shard is reconciled with the live memories
//! in SQL: only memories that are missing or changed are (re)indexed, and only their vectors are
//! read. Changes made by this process are applied at once when the shard was current just before
//! them, so the common path never reconciles.
//!
//! Shards are loaded lazily, from `DATA_DIR/index/<model>/` when files are there, and saved by a
//! background task and at shutdown. Files made by another embedding model are ignored and the
//! shard is rebuilt from the vectors in SQL (memories without a vector of the current model are
//! embedded again and the vector is written back).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use entity::enums::MemorySource;
use entity::{memory, prelude::*, user};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::RwLock;
use uuid::Uuid;

use crate::embed::{self, Embedder};
use crate::error::AppResult;
pub mod shard;

pub use shard::{Hit, IndexedMemory, Shard};

/// What changed in a user's memories, for the shard of the process that changed it.
pub enum Change {
    Upsert { memory: IndexedMemory, vector: Option<Vec<f32>> },
    Remove(Uuid),
}

impl Change {
    /// The index's view of a memory row.
    pub fn upsert(memory: &memory::Model, model: &str) -> Self {
        let vector = usable_vector(memory.embedding.as_deref(), memory.embedding_model.as_deref(), model);
        Change::Upsert { memory: indexed(memory), vector }
    }
}

fn indexed(memory: &memory::Model) -> IndexedMemory {
    IndexedMemory {
        id: memory.id,
        version: memory.updated_at.timestamp_micros(),
        importance: memory.importance,
        valid_from: memory.valid_from,
        content: memory.content.clone(),
        source: memory.source,
    }
}

fn usable_vector(bytes: Option<&[u8]>, made_by: Option<&str>, model: &str) -> Option<Vec<f32>> {
    match (bytes, made_by) {
        (Some(bytes), Some(made_by)) if made_by == model => Some(embed::from_bytes(bytes)),
        _ => None,
    }
}

/// A user's shard as this process holds it (none until first used).
#[derive(Default)]
struct Loaded {
    shard: Option<Shard>,
    /// Changed since it was last saved.
    dirty: bool,
}

struct Entry {
    cell: Arc<RwLock<Loaded>>,
    /// When it was last used, on `MemoryIndex::clock`.
    last_used: u64,
}

pub struct MemoryIndex {
    /// Where this model's shards are saved.
    dir: PathBuf,
    model: String,
    dimensions: usize,
    /// Shards kept in memory at most; the least recently used saved ones are let go beyond it.
    max_loaded: usize,
    shards: Mutex<(HashMap<Uuid, Entry>, u64)>,
}

impl MemoryIndex {
    pub fn new(index_dir: PathBuf, embedder: &dyn Embedder, max_loaded: usize) -> Self {
        let info = embedder.info();
        let folder: String = info
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
            .collect();
        Self {
            dir: index_dir.join(folder),
            model: info.name.clone(),
            dimensions: info.dimensions,
            max_loaded: max_loaded.max(1),
            shards: Mutex::new((HashMap::new(), 0)),
        }
    }

    fn cell(&self, user_id: Uuid) -> Arc<RwLock<Loaded>> {
        let mut guard = self.shards.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (shards, clock) = &mut *guard;
        *clock += 1;
        let now = *clock;
        let cell = {
            let entry = shards.entry(user_id).or_insert_with(|| Entry { cell: Arc::default(), last_used: now });
            entry.last_used = now;
            entry.cell.clone()
        };
        if shards.len() > self.max_loaded {
            evict(shards, self.max_loaded, user_id);
        }
        metrics::gauge!("memory_index_shards_loaded").set(shards.len() as f64);
        cell
    }

    /// How many users' shards are in memory.
    pub fn loaded(&self) -> usize {
        self.shards.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).0.len()
    }

    /// The user's memories worth ranking for a query (see [`Shard::candidates`]), from a shard
    /// brought up to date with SQL first.
    pub async fn candidates(
        &self,
        db: &DatabaseConnection,
        embedder: &dyn Embedder,
        user_id: Uuid,
        query: &str,
        query_vector: Option<&[f32]>,
        nearest: usize,
    ) -> AppResult<Vec<Hit>> {
        let revision = current_revision(db, user_id).await?;
        let cell = self.cell(user_id);
        {
            let guard = cell.read().await;
            if let Some(shard) = guard.shard.as_ref().filter(|s| s.revision == revision) {
                return Ok(shard.candidates(query, query_vector, nearest)?);
            }
        }
        let mut guard = cell.write().await;
        self.sync(db, embedder, user_id, &mut guard, revision).await?;
        let guard = guard.downgrade();
        let shard = guard.shard.as_ref().context("the shard was just built")?;
        Ok(shard.candidates(query, query_vector, nearest)?)
    }

    /// Applies a change this process made and committed as `revision`. When the shard had not
    /// seen the revision before it, something else changed too: the shard is left as it is and
    /// the next search reconciles it.
    pub async fn applied(&self, user_id: Uuid, revision: i64, change: Change) {
        let cell = self.cell(user_id);
        let mut guard = cell.write().await;
        let Some(shard) = guard.shard.as_mut() else { return };
        if shard.revision != revision - 1 {
            return;
        }
        let outcome = match change {
            Change::Upsert { memory, vector } => shard.upsert(memory, vector.as_deref()),
            Change::Remove(id) => shard.remove(id).map(|_| ()),
        };
        match outcome {
            Ok(()) => {
                shard.revision = revision;
                guard.dirty = true;
            }
            Err(error) => {
                tracing::warn!(user = %user_id, error = format!("{error:#}"), "index change failed; the next search rebuilds")
            }
        }
    }

    /// Drops the user's shard from memory and disk (their data is being deleted).
    pub async fn forget_user(&self, user_id: Uuid) -> anyhow::Result<()> {
        let entry = self.shards.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).0.remove(&user_id);
        if let Some(Entry { cell, .. }) = entry {
            let mut guard = cell.write().await;
            guard.shard = None;
            guard.dirty = false;
        }
        for extension in ["usearch", "json"] {
            let path = self.dir.join(format!("{user_id}.{extension}"));
            match tokio::fs::remove_file(&path).await {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(error).with_context(|| format!("could not delete {}", path.display()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Deletes the saved shards (of every embedding model) of users that no longer exist: a
    /// deletion whose files could not be removed, or a database restored from an older backup.
    /// Leftover temporary files of an interrupted save go too. Returns how many files went.
    pub async fn sweep_orphans(&self, db: &DatabaseConnection) -> anyhow::Result<usize> {
        let Some(index_dir) = self.dir.parent().map(PathBuf::from) else { return Ok(0) };
        let mut files: Vec<(PathBuf, Option<Uuid>)> = Vec::new();
        let mut models = match tokio::fs::read_dir(&index_dir).await {
            Ok(models) => models,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(error) => return Err(error).with_context(|| format!("could not list {}", index_dir.display())),
        };
        while let Some(model) = models.next_entry().await? {
            if !model.file_type().await?.is_dir() {
                continue;
            }
            let mut entries = tokio::fs::read_dir(model.path()).await?;
            while let Some(entry) = entries.next_entry().await? {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".tmp") {
                    // Another replica on the same volume may be saving right now.
                    let modified = entry.metadata().await?.modified()?;
                    if modified.elapsed().unwrap_or_default() > std::time::Duration::from_secs(3600) {
                        files.push((path, None));
                    }
                } else if let Some(user) = name.split('.').next().and_then(|stem| Uuid::parse_str(stem).ok()) {
                    files.push((path, Some(user)));
                }
            }
        }
        let mentioned: Vec<Uuid> =
            files.iter().filter_map(|(_, user)| *user).collect::<HashSet<_>>().into_iter().collect();
        let mut existing = HashSet::new();
        for chunk in mentioned.chunks(500) {
            let found: Vec<Uuid> = User::find()
                .select_only()
                .column(user::Column::Id)
                .filter(user::Column::Id.is_in(chunk.to_vec()))
                .into_tuple()
                .all(db)
                .await
                .context("could not list the users whose index files are on disk")?;
            existing.extend(found);
        }
        let mut removed = 0;
        for (path, user) in files {
            if user.is_some_and(|user| existing.contains(&user)) {
                continue;
            }
            match tokio::fs::remove_file(&path).await {
                Ok(()) => removed += 1,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error).with_context(|| format!("could not delete {}", path.display())),
            }
        }
        Ok(removed)
    }

    /// The files a user's shard is saved in (tests and operators look at them).
    pub fn files_of(&self, user_id: Uuid) -> [PathBuf; 2] {
        [self.dir.join(format!("{user_id}.usearch")), self.dir.join(format!("{user_id}.json"))]
    }

    /// Saves every shard changed since it was last saved. Returns how many were saved.
    pub async fn save_changed(&self) -> usize {
        let shards: Vec<(Uuid, Arc<RwLock<Loaded>>)> = {
            let shards = self.shards.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            shards.0.iter().map(|(id, entry)| (*id, entry.cell.clone())).collect()
        };
        let mut saved = 0;
        for (user_id, cell) in shards {
            let (dir, model) = (self.dir.clone(), self.model.clone());
            // Saving a large shard is a moment of disk work: off the async workers, under the
            // shard's lock so the two files agree.
            let result = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
                let mut guard = cell.blocking_write();
                let Some(shard) = guard.shard.as_ref().filter(|_| guard.dirty) else { return Ok(false) };
                shard.save(&dir, &user_id.to_string(), &model)?;
                guard.dirty = false;
                Ok(true)
            })
            .await;
            match result {
                Ok(Ok(true)) => saved += 1,
                Ok(Ok(false)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(user = %user_id, error = format!("{error:#}"), "could not save an index shard")
                }
                Err(error) => tracing::warn!(user = %user_id, %error, "saving an index shard panicked"),
            }
        }
        saved
    }

    /// Brings a shard to `revision`: loads it from files if it is not in memory, then reconciles
    /// it with the user's live memories in SQL.
    async fn sync(
        &self,
        db: &DatabaseConnection,
        embedder: &dyn Embedder,
        user_id: Uuid,
        cell: &mut Loaded,
        revision: i64,
    ) -> anyhow::Result<()> {
        if cell.shard.is_none() {
            let (dir, model, dimensions) = (self.dir.clone(), self.model.clone(), self.dimensions);
            let loaded = tokio::task::spawn_blocking(move || Shard::load(&dir, &user_id.to_string(), &model, dimensions))
                .await
                .context("index loading panicked")?
                .unwrap_or_else(|error| {
                    tracing::warn!(user = %user_id, error = format!("{error:#}"), "could not load an index shard; rebuilding");
                    None
                });
            let shard = match loaded {
                Some(shard) => shard,
                None => {
                    let mut shard = Shard::new(self.dimensions)?;
                    shard.revision = -1;
                    shard
                }
            };
            cell.shard = Some(shard);
        }
        let Some(mut shard) = cell.shard.take() else { return Ok(()) };
        if shard.revision == revision {
            cell.shard = Some(shard);
            return Ok(());
        }
        let started = std::time::Instant::now();
        let (added, removed) = match self.reconcile(db, embedder, user_id, &mut shard).await {
            Ok(counts) => counts,
            // A shard that cannot be brought in step (files that load but do not hold
            // together) would fail every search: start it afresh from SQL instead. If that
            // fails too (SQL is down), the shard stays unloaded and the next search starts over.
            Err(error) => {
                tracing::warn!(user = %user_id, error = format!("{error:#}"), "an index shard could not be reconciled; rebuilding it from SQL");
                metrics::counter!("memory_index_rebuilds_total").increment(1);
                shard = Shard::new(self.dimensions)?;
                self.reconcile(db, embedder, user_id, &mut shard).await?
            }
        };
        metrics::counter!("memory_index_reconciles_total").increment(1);
        metrics::histogram!("memory_index_reconcile_seconds").record(started.elapsed());
        shard.revision = revision;
        tracing::info!(
            user = %user_id, revision, added, removed, memories = shard.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "index shard reconciled with SQL"
        );
        cell.shard = Some(shard);
        cell.dirty = true;
        Ok(())
    }

    /// Makes the shard hold exactly the user's live memories. Returns (added or changed, removed).
    async fn reconcile(
        &self,
        db: &DatabaseConnection,
        embedder: &dyn Embedder,
        user_id: Uuid,
        shard: &mut Shard,
    ) -> anyhow::Result<(usize, usize)> {
        type Row = (Uuid, DateTime<Utc>, f64, DateTime<Utc>, String, MemorySource, Option<String>);
        // In id order (ids are time-ordered): memories indexed in one go keep the order they were
        // stored in, which ranking reads imported chat lines by (`Hit::sequence`).
        let rows: Vec<Row> = Memory::find_live(user_id)
            .order_by_asc(memory::Column::Id)
            .select_only()
            .columns([
                memory::Column::Id,
                memory::Column::UpdatedAt,
                memory::Column::Importance,
                memory::Column::ValidFrom,
                memory::Column::Content,
                memory::Column::Source,
                memory::Column::EmbeddingModel,
            ])
            .into_tuple()
            .all(db)
            .await
            .context("could not list memories for the index")?;

        let live: HashSet<Uuid> = rows.iter().map(|r| r.0).collect();
        let gone: Vec<Uuid> = shard.ids().filter(|id| !live.contains(id)).collect();
        for id in &gone {
            shard.remove(*id)?;
        }
        let mut stale: Vec<(IndexedMemory, bool)> = Vec::new();
        for (id, updated_at, importance, valid_from, content, source, made_by) in rows {
            let version = updated_at.timestamp_micros();
            let has_stored_vector = made_by.as_deref() == Some(self.model.as_str());
            match shard.version_of(id) {
                // Indexed as it is in SQL, with a vector (or none to be had but by embedding).
                Some((indexed, has_vector)) if indexed == version && (has_vector || !has_stored_vector) => {}
                _ => stale
                    .push((IndexedMemory { id, version, importance, valid_from, content, source }, has_stored_vector)),
            }
        }

        let mut vectors: HashMap<Uuid, Vec<f32>> = HashMap::new();
        let stored: Vec<Uuid> = stale.iter().filter(|(_, stored)| *stored).map(|(m, _)| m.id).collect();
        for chunk in stored.chunks(500) {
            let found: Vec<(Uuid, Option<Vec<u8>>)> = Memory::find()
                .select_only()
                .columns([memory::Column::Id, memory::Column::Embedding])
                .filter(memory::Column::UserId.eq(user_id))
                .filter(memory::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(db)
                .await
                .context("could not read memory vectors")?;
            vectors.extend(found.into_iter().filter_map(|(id, bytes)| Some((id, embed::from_bytes(&bytes?)))));
        }
        let missing: Vec<&IndexedMemory> =
            stale.iter().map(|(m, _)| m).filter(|m| !vectors.contains_key(&m.id)).collect();
        for chunk in missing.chunks(32) {
            let texts: Vec<String> = chunk.iter().map(|m| m.content.clone()).collect();
            match embedder.embed(&texts).await {
                Ok(embedded) if embedded.len() == chunk.len() => {
                    for (memory, vector) in chunk.iter().zip(embedded) {
                        store_vector(db, memory, &vector, &self.model).await;
                        vectors.insert(memory.id, vector);
                    }
                }
                Ok(_) => tracing::warn!("the embedder returned the wrong number of vectors"),
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "could not embed memories for the index; indexed by words only"
                    )
                }
            }
        }

        let added = stale.len();
        let owned = std::mem::replace(shard, Shard::new(self.dimensions)?);
        // Building the graph is CPU work: off the async workers.
        let rebuilt = tokio::task::spawn_blocking(move || -> anyhow::Result<Shard> {
            let mut shard = owned;
            for (memory, _) in stale {
                let vector = vectors.remove(&memory.id);
                shard.upsert(memory, vector.as_deref())?;
            }
            Ok(shard)
        })
        .await
        .context("index building panicked")??;
        *shard = rebuilt;
        Ok((added, gone.len()))
    }
}

/// Lets go of the least recently used shards beyond `max_loaded`, among those with nothing
/// unsaved and nobody using them (a changed shard goes after the next save). Never `keep`.
fn evict(shards: &mut HashMap<Uuid, Entry>, max_loaded: usize, keep: Uuid) {
    let mut by_age: Vec<(u64, Uuid)> = shards.iter().map(|(id, e)| (e.last_used, *id)).collect();
    by_age.sort_unstable();
    let mut excess = shards.len().saturating_sub(max_loaded);
    for (_, user_id) in by_age {
        if excess == 0 {
            break;
        }
        if user_id == keep {
            continue;
        }
        let evictable = shards.get(&user_id).is_some_and(|entry| {
            Arc::strong_count(&entry.cell) == 1 && entry.cell.try_read().is_ok_and(|cell| !cell.dirty)
        });
        if evictable {
            shards.remove(&user_id);
            excess -= 1;
        }
    }
}

/// Writes a vector made during reconciliation back to SQL, unless the memory changed meanwhile.
async fn store_vector(db: &DatabaseConnection, memory: &IndexedMemory, vector: &[f32], model: &str) {
    let Some(updated_at) = DateTime::<Utc>::from_timestamp_micros(memory.version) else { return };
    let result = Memory::update_many()
        .col_expr(memory::Column::Embedding, Expr::value(embed::to_bytes(vector)))
        .col_expr(memory::Column::EmbeddingModel, Expr::value(model))
        .col_expr(memory::Column::EmbeddingDim, Expr::value(vector.len() as i32))
        .filter(memory::Column::Id.eq(memory.id))
        .filter(memory::Column::UpdatedAt.eq(updated_at))
        .exec(db)
        .await;
    if let Err(error) = result {
        tracing::warn!(memory = %memory.id, %error, "could not store a memory's new vector");
    }
}

/// The user's memory revision as SQL has it.
pub async fn current_revision(db: &impl ConnectionTrait, user_id: Uuid) -> AppResult<i64> {
    Ok(User::find_by_id(user_id)
        .select_only()
        .column(user::Column::MemoryRevision)
        .into_tuple::<i64>()
        .one(db)
        .await?
        .unwrap_or(0))
}

/// Increments the user's memory revision inside the transaction that changes their memories,
/// and returns the new value.
pub async fn bump_revision(txn: &impl ConnectionTrait, user_id: Uuid) -> AppResult<i64> {
    User::update_many()
        .col_expr(user::Column::MemoryRevision, Expr::col(user::Column::MemoryRevision).add(1))
        .filter(user::Column::Id.eq(user_id))
        .exec(txn)
        .await?;
    current_revision(txn, user_id).await
}
