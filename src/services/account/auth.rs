//! Users, their API keys, and who is calling.
//!
//! A key is 32 random bytes shown once; only its SHA-256 is stored. A plain hash (not a slow
//! password hash) is right here: the key has 256 bits of entropy, so nothing can be guessed from
//! the hash, and lookups stay one indexed equality.

use base64::Engine as _;
use entity::{api_key, prelude::*, user};
use rand::RngCore as _;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait as _, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use crate::config::Secret;
use crate::db::{new_id, now};
use crate::error::{AppError, AppResult};
use crate::services::validate;
use crate::state::AppState;
use crate::store::access_events::AccessEvent;

/// Every key starts with this, so a leaked key is recognisable (secret scanners, logs).
pub const KEY_PREFIX: &str = "pa_";

/// Who is making a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No credentials were sent.
    Anonymous,
    /// Credentials were sent but match no live key.
    InvalidKey,
    /// The operator, with `ADMIN_TOKEN`.
    Admin,
    /// A user, through one of their keys.
    User { user_id: Uuid, key_id: Uuid },
}

impl Caller {
    /// The calling user's id, or the reason there is none.
    pub fn user_id(&self) -> AppResult<Uuid> {
        match self {
            Self::User { user_id, .. } => Ok(*user_id),
            Self::Anonymous => {
                Err(AppError::Unauthenticated("this needs an API key: send `Authorization: Bearer <key>`"))
            }
            Self::InvalidKey => Err(AppError::Unauthenticated("the API key is not valid (unknown or revoked)")),
            Self::Admin => Err(AppError::Forbidden("the admin token cannot act as a user; use a user's API key")),
        }
    }

    pub fn require_admin(&self) -> AppResult<()> {
        match self {
            Self::Admin => Ok(()),
            Self::Anonymous | Self::InvalidKey => {
                Err(AppError::Unauthenticated("this needs the admin token: send `Authorization: Bearer <ADMIN_TOKEN>`"))
            }
            Self::User { .. } => Err(AppError::Forbidden("only the admin token can do this")),
        }
    }
}

/// Works out who sent `credential` (the part after `Bearer `).
pub async fn identify(db: &DatabaseConnection, admin_token: &Secret, credential: &str) -> AppResult<Caller> {
    if bool::from(credential.as_bytes().ct_eq(admin_token.expose().as_bytes())) {
        return Ok(Caller::Admin);
    }
    if !credential.starts_with(KEY_PREFIX) {
        return Ok(Caller::InvalidKey);
    }
    let Some(key) = ApiKey::find()
        .filter(api_key::Column::KeyHash.eq(hash_key(credential)))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await?
    else {
        return Ok(Caller::InvalidKey);
    };
    // Record use at most every few minutes, so reads do not each cost a write.
    let now = now();
    if key.last_used_at.is_none_or(|at| now - at > chrono::Duration::minutes(5)) {
        let mut active: api_key::ActiveModel = key.clone().into();
        active.last_used_at = Set(Some(now));
        active.update(db).await?;
    }
    Ok(Caller::User { user_id: key.user_id, key_id: key.id })
}

fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A freshly made key: the secret (shown once) and its stored record.
pub struct NewKey {
    pub secret: String,
    pub record: api_key::Model,
}

fn key_model(user_id: Uuid, name: String) -> (String, api_key::ActiveModel) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{KEY_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let model = api_key::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user_id),
        name: Set(name),
        prefix: Set(secret.chars().take(KEY_PREFIX.len() + 6).collect()),
        key_hash: Set(hash_key(&secret)),
        created_at: Set(now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    };
    (secret, model)
}

/// Creates a user with a first API key.
pub async fn create_user(db: &DatabaseConnection, display_name: &str) -> AppResult<(user::Model, NewKey)> {
    let display_name = validate::required_text("displayName", display_name, 100)?;
    let txn = db.begin().await?;
    let now = now();
    let user = user::ActiveModel {
        id: Set(new_id()),
        display_name: Set(display_name),
        memory_revision: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let (secret, key) = key_model(user.id, "default".into());
    let record = key.insert(&txn).await?;
    txn.commit().await?;
    Ok((user, NewKey { secret, record }))
}

pub async fn find_user(db: &DatabaseConnection, user_id: Uuid) -> AppResult<user::Model> {
    User::find_by_id(user_id).one(db).await?.ok_or(AppError::NotFound("user"))
}

/// Makes another key for the user, unless they already have `quota` keys that work.
pub async fn create_key(db: &DatabaseConnection, user_id: Uuid, name: Option<&str>, quota: u64) -> AppResult<NewKey> {
    let name = validate::optional_text("name", name, 100)?.unwrap_or_else(|| "unnamed".into());
    let live = ApiKey::find()
        .filter(api_key::Column::UserId.eq(user_id))
        .filter(api_key::Column::RevokedAt.is_null())
        .count(db)
        .await?;
    if live >= quota {
        return Err(AppError::bad_input(format!(
            "you have {quota} API keys, the most one user may hold (MAX_API_KEYS_PER_USER); revoke one first"
        )));
    }
    let (secret, key) = key_model(user_id, name);
    let record = key.insert(db).await?;
    Ok(NewKey { secret, record })
}

/// The user's keys, live and revoked, oldest first.
pub async fn list_keys(db: &DatabaseConnection, user_id: Uuid) -> AppResult<Vec<api_key::Model>> {
    Ok(ApiKey::find().filter(api_key::Column::UserId.eq(user_id)).order_by_asc(api_key::Column::Id).all(db).await?)
}

/// Revokes one of the user's keys; requests with it fail from then on, and the connections
/// open with it (WebSocket, event streams) close, on every replica. Revoking twice is harmless.
pub async fn revoke_key(state: &AppState, user_id: Uuid, key_id: Uuid) -> AppResult<api_key::Model> {
    let key = ApiKey::find_by_id(key_id)
        .filter(api_key::Column::UserId.eq(user_id))
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("API key"))?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let mut active: api_key::ActiveModel = key.into();
    active.revoked_at = Set(Some(now()));
    let revoked = active.update(&state.db).await?;
    state.access_events.publish(AccessEvent::KeyRevoked { user_id, key_id }).await;
    Ok(revoked)
}
