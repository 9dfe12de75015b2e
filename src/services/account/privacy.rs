//! The user's own data: all of it as JSON (`exportMyData`), or gone from everywhere it is kept
//! (`deleteMyData`): SQL, the short-term store and the memory index.

use entity::prelude::*;
use entity::{
    api_key, claude_usage, conversation, learned_pattern, memory, memory_history, message, message_feedback,
    preference, preference_history, style_dimension, user,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth;
use crate::db::begin_write;
use crate::error::AppResult;
use crate::state::AppState;
use crate::store::access_events::AccessEvent;
use crate::store::search_index::bump_revision;

/// Everything stored about the caller (API key secrets are never stored, only their hashes,
/// which are left out too; vectors are left out as they are derived from the memories' text).
pub async fn export(state: &AppState, user_id: Uuid) -> AppResult<Value> {
    let db = &state.db;
    let user = auth::find_user(db, user_id).await?;
    let keys =
        ApiKey::find().filter(api_key::Column::UserId.eq(user_id)).order_by_asc(api_key::Column::Id).all(db).await?;
    let conversations = Conversation::find()
        .filter(conversation::Column::UserId.eq(user_id))
        .order_by_asc(conversation::Column::Id)
        .all(db)
        .await?;
    let messages =
        Message::find().filter(message::Column::UserId.eq(user_id)).order_by_asc(message::Column::Id).all(db).await?;
    let memories =
        Memory::find().filter(memory::Column::UserId.eq(user_id)).order_by_asc(memory::Column::Id).all(db).await?;
    let memory_versions = MemoryHistory::find()
        .filter(memory_history::Column::UserId.eq(user_id))
        .order_by_asc(memory_history::Column::Id)
        .all(db)
        .await?;
    let preferences = Preference::find()
        .filter(preference::Column::UserId.eq(user_id))
        .order_by_asc(preference::Column::Key)
        .all(db)
        .await?;
    let preference_versions = PreferenceHistory::find()
        .filter(preference_history::Column::UserId.eq(user_id))
        .order_by_asc(preference_history::Column::Id)
        .all(db)
        .await?;
    let style = StyleDimension::find().filter(style_dimension::Column::UserId.eq(user_id)).all(db).await?;
    let patterns = LearnedPattern::find().filter(learned_pattern::Column::UserId.eq(user_id)).all(db).await?;
    let feedback = MessageFeedback::find().filter(message_feedback::Column::UserId.eq(user_id)).all(db).await?;
    let usage = ClaudeUsage::find()
        .filter(claude_usage::Column::UserId.eq(user_id))
        .order_by_asc(claude_usage::Column::Day)
        .order_by_asc(claude_usage::Column::Purpose)
        .all(db)
        .await?;

    Ok(json!({
        "exportedAt": chrono::Utc::now(),
        "user": { "id": user.id, "displayName": user.display_name, "createdAt": user.created_at },
        "apiKeys": keys.iter().map(|k| json!({
            "id": k.id, "name": k.name, "prefix": k.prefix, "createdAt": k.created_at,
            "lastUsedAt": k.last_used_at, "revokedAt": k.revoked_at,
        })).collect::<Vec<_>>(),
        "conversations": conversations.iter().map(|c| json!({
            "id": c.id, "title": c.title, "summary": c.summary, "createdAt": c.created_at, "updatedAt": c.updated_at,
            "messages": messages.iter().filter(|m| m.conversation_id == c.id).map(|m| json!({
                "id": m.id, "role": m.role, "content": m.content, "status": m.status, "stopReason": m.stop_reason,
                "model": m.model, "inputTokens": m.input_tokens, "outputTokens": m.output_tokens,
                "contextUsed": m.context_used, "toolCalls": m.tool_calls, "createdAt": m.created_at,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "memories": memories.iter().map(|m| json!({
            "id": m.id, "content": m.content, "category": m.category, "importance": m.importance, "source": m.source,
            "sourceMessageId": m.source_message_id, "embeddingModel": m.embedding_model,
            "validFrom": m.valid_from, "validTo": m.valid_to, "createdAt": m.created_at, "updatedAt": m.updated_at,
            "history": memory_versions.iter().filter(|v| v.memory_id == m.id).map(|v| json!({
                "content": v.content, "category": v.category, "importance": v.importance, "change": v.change,
                "validFrom": v.valid_from, "validTo": v.valid_to,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "preferences": preferences.iter().map(|p| json!({
            "key": p.key, "value": p.value, "source": p.source, "confidence": p.confidence,
            "evidenceCount": p.evidence_count, "updatedAt": p.updated_at,
        })).collect::<Vec<_>>(),
        "preferenceHistory": preference_versions.iter().map(|p| json!({
            "key": p.key, "value": p.value, "source": p.source, "confidence": p.confidence, "change": p.change,
            "validFrom": p.valid_from, "validTo": p.valid_to,
        })).collect::<Vec<_>>(),
        "styleProfile": style.iter().map(|s| json!({
            "dimension": s.name, "alpha": s.alpha, "beta": s.beta, "value": s.alpha / (s.alpha + s.beta),
            "evidenceCount": s.evidence_count, "updatedAt": s.updated_at,
        })).collect::<Vec<_>>(),
        "learnedPatterns": patterns.iter().map(|p| json!({
            "kind": p.kind, "key": p.key, "value": p.value, "weight": p.weight, "evidenceCount": p.evidence_count,
            "firstSeenAt": p.first_seen_at, "lastSeenAt": p.last_seen_at,
        })).collect::<Vec<_>>(),
        "ratings": feedback.iter().map(|f| json!({
            "messageId": f.message_id, "rating": f.rating, "reason": f.reason, "createdAt": f.created_at,
        })).collect::<Vec<_>>(),
        "claudeUsage": usage.iter().map(|u| json!({
            "day": u.day, "purpose": u.purpose, "calls": u.calls, "inputTokens": u.input_tokens,
            "outputTokens": u.output_tokens, "cacheReadTokens": u.cache_read_tokens,
            "cacheWriteTokens": u.cache_write_tokens,
        })).collect::<Vec<_>>(),
    }))
}

/// Deletes the caller and everything about them: SQL rows, the short-term windows of their
/// conversations, their memory index shard and its files. Their API keys stop working.
pub async fn delete(state: &AppState, user_id: Uuid) -> AppResult<()> {
    let conversations: Vec<Uuid> = Conversation::find()
        .select_only()
        .column(conversation::Column::Id)
        .filter(conversation::Column::UserId.eq(user_id))
        .into_tuple()
        .all(&state.db)
        .await?;
    let txn = begin_write(&state.db).await?;
    // Children first; every table is scoped by the user, whatever the foreign keys cascade.
    MessageFeedback::delete_many().filter(message_feedback::Column::UserId.eq(user_id)).exec(&txn).await?;
    Message::delete_many().filter(message::Column::UserId.eq(user_id)).exec(&txn).await?;
    Conversation::delete_many().filter(conversation::Column::UserId.eq(user_id)).exec(&txn).await?;
    MemoryHistory::delete_many().filter(memory_history::Column::UserId.eq(user_id)).exec(&txn).await?;
    Memory::delete_many().filter(memory::Column::UserId.eq(user_id)).exec(&txn).await?;
    PreferenceHistory::delete_many().filter(preference_history::Column::UserId.eq(user_id)).exec(&txn).await?;
    Preference::delete_many().filter(preference::Column::UserId.eq(user_id)).exec(&txn).await?;
    StyleDimension::delete_many().filter(style_dimension::Column::UserId.eq(user_id)).exec(&txn).await?;
    LearnedPattern::delete_many().filter(learned_pattern::Column::UserId.eq(user_id)).exec(&txn).await?;
    ApiKey::delete_many().filter(api_key::Column::UserId.eq(user_id)).exec(&txn).await?;
    ClaudeUsage::delete_many().filter(claude_usage::Column::UserId.eq(user_id)).exec(&txn).await?;
    // Other replicas' shards see the revision move and find nothing left.
    bump_revision(&txn, user_id).await?;
    User::delete_many().filter(user::Column::Id.eq(user_id)).exec(&txn).await?;
    txn.commit().await?;
    // The user's open connections close now, on every replica, whatever fails below.
    state.access_events.publish(AccessEvent::UserDeleted { user_id }).await;

    // SQL is the truth and it is gone; the index files hold memory text, so they go next,
    // whatever the short-term store (a cache that expires on its own) says.
    state.memory_index.forget_user(user_id).await?;
    for conversation in conversations {
        if let Err(error) = state.short_term.forget(conversation).await {
            tracing::warn!(user = %user_id, %conversation, error = format!("{error:#}"), "could not clear a deleted user's short-term window; it expires by itself");
        }
    }
    tracing::info!(user = %user_id, "deleted a user and all their data at their request");
    Ok(())
}
