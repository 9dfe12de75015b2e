//! The order learning follows, across replicas: a user's messages are numbered as they are
//! stored (`next_seq`, under the user's row lock, so a message sent after another was stored
//! always comes after it, whatever the replicas' clocks say) and marked once learned
//! (`mark_learned`). Whoever holds the user's learning lock learns every unmarked message up to
//! its own, oldest first (`still_to_learn`): when the replica of an earlier message is slower, or
//! died, the later one learns it first, and the earlier one's turn then finds nothing left.

use entity::enums::MessageRole;
use entity::{message, prelude::*};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::db::{lock_user, now};

/// How far back a learner looks for messages still to learn: one that has waited behind this
/// many later ones (its replica died before learning it, long ago) is left alone. Also bounds
/// the scan to that many rows of the `(user_id, seq)` index.
const CATCH_UP: i64 = 50;

/// The place of the user's next message, inside the transaction that stores it.
pub async fn next_seq(txn: &impl ConnectionTrait, user_id: Uuid) -> Result<i64, DbErr> {
    lock_user(txn, user_id).await?;
    let last: Option<i64> = Message::find()
        .select_only()
        .column_as(message::Column::Seq.max(), "last")
        .filter(message::Column::UserId.eq(user_id))
        .into_tuple::<Option<i64>>()
        .one(txn)
        .await?
        .flatten();
    Ok(last.unwrap_or(0) + 1)
}

/// The user's messages up to `message` that are not learned yet, oldest first (`message` last,
/// unless another learner got to it).
pub async fn still_to_learn(db: &impl ConnectionTrait, message: &message::Model) -> Result<Vec<message::Model>, DbErr> {
    let Some(seq) = message.seq else {
        // Stored without a place (not by a chat turn): only itself.
        return Ok(vec![message.clone()]);
    };
    Message::find()
        .filter(message::Column::UserId.eq(message.user_id))
        .filter(message::Column::Role.eq(MessageRole::User))
        .filter(message::Column::Seq.lte(seq))
        .filter(message::Column::Seq.gt(seq - CATCH_UP))
        .filter(message::Column::LearnedAt.is_null())
        .order_by_asc(message::Column::Seq)
        .all(db)
        .await
}

/// Marks a message learned, in the transaction that stores what it taught; false when it
/// already was (that transaction then must not count it again).
pub async fn mark_learned(db: &impl ConnectionTrait, message_id: Uuid) -> Result<bool, DbErr> {
    let marked = Message::update_many()
        .col_expr(message::Column::LearnedAt, now().into())
        .filter(message::Column::Id.eq(message_id))
        .filter(message::Column::LearnedAt.is_null())
        .exec(db)
        .await?;
    Ok(marked.rows_affected == 1)
}
