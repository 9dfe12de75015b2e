//! Keyset pagination over time-ordered (UUIDv7) ids: a cursor is the id of an item, so pages stay
//! stable while rows are added, and each page is one indexed range scan.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

pub const DEFAULT_PAGE_SIZE: usize = 20;
pub const MAX_PAGE_SIZE: usize = 100;

/// The order a list is presented in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    OldestFirst,
    NewestFirst,
}

/// Relay-style page arguments, already decoded: `after`/`first` page forward, `before`/`last`
/// page backward, in the list's own order.
#[derive(Clone, Copy, Debug, Default)]
pub struct PageRequest {
    pub after: Option<Uuid>,
    pub before: Option<Uuid>,
    pub first: Option<usize>,
    pub last: Option<usize>,
}

pub struct Page<T> {
    pub items: Vec<T>,
    pub has_previous_page: bool,
    pub has_next_page: bool,
}

impl PageRequest {
    /// Checks the sizes: one of `first`/`last` at most, each in 0..=MAX_PAGE_SIZE.
    pub fn new(after: Option<Uuid>, before: Option<Uuid>, first: Option<i32>, last: Option<i32>) -> AppResult<Self> {
        if first.is_some() && last.is_some() {
            return Err(AppError::bad_input("pass either `first` or `last`, not both"));
        }
        let size = |name: &str, value: Option<i32>| -> AppResult<Option<usize>> {
            match value {
                None => Ok(None),
                Some(n) if (0..=MAX_PAGE_SIZE as i32).contains(&n) => Ok(Some(n as usize)),
                Some(n) => {
                    Err(AppError::bad_input(format!("`{name}` must be between 0 and {MAX_PAGE_SIZE} (got {n})")))
                }
            }
        };
        Ok(Self { after, before, first: size("first", first)?, last: size("last", last)? })
    }
}

/// Fetches one page of `select` (already scoped to the caller) ordered by `id_column`.
pub async fn fetch_page<E, C>(
    db: &C,
    select: Select<E>,
    id_column: E::Column,
    order: Order,
    request: PageRequest,
) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let ascending = order == Order::OldestFirst;
    let mut select = select;
    // "after" means later in the list's own order; for a newest-first list that is a smaller id.
    if let Some(after) = request.after {
        select = select.filter(if ascending { id_column.gt(after) } else { id_column.lt(after) });
    }
    if let Some(before) = request.before {
        select = select.filter(if ascending { id_column.lt(before) } else { id_column.gt(before) });
    }

    let backward = request.last.is_some();
    let size = request.last.or(request.first).unwrap_or(DEFAULT_PAGE_SIZE);
    // Backward pages are read in reverse from the `before` end, then put back in list order.
    let scan_ascending = ascending != backward;
    let select = if scan_ascending { select.order_by_asc(id_column) } else { select.order_by_desc(id_column) };
    let mut items = select.limit(size as u64 + 1).all(db).await?;
    let has_more = items.len() > size;
    items.truncate(size);
    if backward {
        items.reverse();
        Ok(Page { items, has_previous_page: has_more, has_next_page: request.before.is_some() })
    } else {
        Ok(Page { items, has_previous_page: request.after.is_some(), has_next_page: has_more })
    }
}
