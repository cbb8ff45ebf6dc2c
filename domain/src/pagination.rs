//! Keyset pagination, the one way every list pages: `?limit=` (default 50,
//! max 200) and an opaque `cursor`.
//!
//! A list declares its [`Keyset`] — the columns it is ordered by, the last
//! one unique, all in one direction — and hands its filtered select to
//! [`Keyset::fetch`], which adds "after the cursor", the order and the limit,
//! runs it and builds the [`Page`]. A cursor is the base64url JSON of the
//! sort key of the last item returned; the next page starts strictly after it.

use std::marker::PhantomData;

use base64::Engine;
use sea_query::{Expr, ExprTrait, Order, PostgresQueryBuilder, SelectStatement};
use sea_query_sqlx::SqlxBinder;
use serde::{Serialize, de::DeserializeOwned};
use sqlx::postgres::PgRow;

use crate::error::{Error, Result};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// A validated page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Default for Limit {
    fn default() -> Self {
        Self(DEFAULT_LIMIT)
    }
}

impl Limit {
    pub fn parse(limit: Option<i64>) -> Result<Self> {
        match limit {
            None => Ok(Self::default()),
            Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => Ok(Self(n as u32)),
            Some(_) => Err(Error::field(
                "/limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// One more than the limit: fetched to know whether a next page exists.
    pub fn fetch(self) -> i64 {
        self.0 as i64 + 1
    }
}

/// Which page to read: its size and the `next_cursor` of the page before
/// (none for the first page). The cursor is decoded by the list that knows
/// its key, so a malformed one answers 400 there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: Limit,
    pub cursor: Option<String>,
}

impl PageRequest {
    /// Validates `limit` (1–[`MAX_LIMIT`], default [`DEFAULT_LIMIT`]).
    pub fn new(limit: Option<i64>, cursor: Option<String>) -> Result<Self> {
        Ok(Self {
            limit: Limit::parse(limit)?,
            cursor,
        })
    }

    /// The first page of `limit` items.
    pub fn first(limit: Limit) -> Self {
        Self {
            limit,
            cursor: None,
        }
    }
}

/// A sort key that a cursor carries: serialised into the cursor, bound as
/// the values the ordering columns are compared with.
pub trait CursorKey: Serialize + DeserializeOwned {
    fn values(self) -> Vec<sea_query::Value>;
}

macro_rules! single_keys {
    ($($t:ty),+) => {$(
        impl CursorKey for $t {
            fn values(self) -> Vec<sea_query::Value> {
                vec![self.into()]
            }
        }
    )+};
}
single_keys!(
    i32,
    i64,
    String,
    uuid::Uuid,
    crate::ids::CustomerId,
    crate::ids::UserId
);

impl<A, B> CursorKey for (A, B)
where
    A: Into<sea_query::Value> + Serialize + DeserializeOwned,
    B: Into<sea_query::Value> + Serialize + DeserializeOwned,
{
    fn values(self) -> Vec<sea_query::Value> {
        vec![self.0.into(), self.1.into()]
    }
}

/// The order of a list: SQL columns (constants, possibly qualified such as
/// `u.id`; the last one unique), all ascending or all descending, and the
/// type of their values in a cursor.
pub struct Keyset<K> {
    columns: &'static [&'static str],
    order: Order,
    key: PhantomData<fn() -> K>,
}

impl<K: CursorKey> Keyset<K> {
    pub const fn ascending(columns: &'static [&'static str]) -> Self {
        Self {
            columns,
            order: Order::Asc,
            key: PhantomData,
        }
    }

    pub const fn descending(columns: &'static [&'static str]) -> Self {
        Self {
            columns,
            order: Order::Desc,
            key: PhantomData,
        }
    }

    /// The key a cursor carries; `None` without a cursor, 400 when malformed.
    pub fn decode(&self, cursor: Option<&str>) -> Result<Option<K>> {
        decode_cursor(cursor)
    }

    /// Adds to `q` the rows after the cursor's key, this order and a limit
    /// one above the page size (to know whether a next page exists).
    pub fn apply(&self, q: &mut SelectStatement, page: &PageRequest) -> Result<()> {
        if let Some(key) = self.decode(page.cursor.as_deref())? {
            let columns = self.columns.iter().map(|c| Expr::cust(*c));
            let values = key.values().into_iter().map(Expr::val);
            let (columns, values) = (Expr::tuple(columns), Expr::tuple(values));
            q.and_where(match self.order {
                Order::Desc => columns.lt(values),
                _ => columns.gt(values),
            });
        }
        for c in self.columns {
            q.order_by_expr(Expr::cust(*c), self.order.clone());
        }
        q.limit(page.limit.fetch() as u64);
        Ok(())
    }

    /// Runs `q` (the list's columns, tables and filters) as one page: rows
    /// after the cursor in this order, `key` giving each row's sort key.
    pub async fn fetch<'e, T>(
        &self,
        db: impl sqlx::PgExecutor<'e>,
        mut q: SelectStatement,
        page: &PageRequest,
        key: impl Fn(&T) -> K,
    ) -> Result<Page<T>>
    where
        T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        self.apply(&mut q, page)?;
        let (sql, values) = q.build_sqlx(PostgresQueryBuilder);
        let rows: Vec<T> = sqlx::query_as_with(sqlx::AssertSqlSafe(sql), values)
            .fetch_all(db)
            .await?;
        Ok(Page::from_rows(rows, page.limit, key))
    }
}

pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    let json = serde_json::to_vec(key).expect("cursor keys serialise");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

pub fn decode_cursor<K: DeserializeOwned>(cursor: Option<&str>) -> Result<Option<K>> {
    let Some(c) = cursor else { return Ok(None) };
    let bad = || {
        Error::field(
            "/cursor",
            "malformed cursor; pass the next_cursor of a previous page",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map(Some).map_err(|_| bad())
}

/// A page of items plus the cursor of the next page, if any.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows.
    pub fn from_rows<K: Serialize>(mut rows: Vec<T>, limit: Limit, key: impl Fn(&T) -> K) -> Self {
        let next_cursor = if rows.len() > limit.get() as usize {
            rows.truncate(limit.get() as usize);
            rows.last().map(|r| encode_cursor(&key(r)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = encode_cursor(&("2026-01-01T00:00:00Z", "abc"));
        let back: Option<(String, String)> = decode_cursor(Some(&c)).unwrap();
        assert_eq!(back.unwrap().1, "abc");
        assert!(decode_cursor::<(String, String)>(Some("!!")).is_err());
        assert!(decode_cursor::<(String, String)>(Some("bm90IGpzb24")).is_err());
    }

    #[test]
    fn limit_bounds() {
        assert_eq!(Limit::parse(None).unwrap().get(), 50);
        assert!(Limit::parse(Some(0)).is_err());
        assert!(Limit::parse(Some(201)).is_err());
        assert_eq!(Limit::parse(Some(200)).unwrap().get(), 200);
    }

    #[test]
    fn keyset_adds_the_cursor_condition_order_and_limit() {
        const BY_NAME: Keyset<(String, uuid::Uuid)> = Keyset::ascending(&["c.name", "c.id"]);
        const NEWEST: Keyset<i32> = Keyset::descending(&["position"]);
        let sql = |q: &SelectStatement| q.to_string(PostgresQueryBuilder);
        let base = || {
            let mut q = sea_query::Query::select();
            q.expr(Expr::cust("*")).from("t");
            q
        };

        let mut q = base();
        BY_NAME.apply(&mut q, &PageRequest::default()).unwrap();
        assert_eq!(
            sql(&q),
            r#"SELECT * FROM "t" ORDER BY c.name ASC, c.id ASC LIMIT 51"#
        );

        let id = uuid::Uuid::nil();
        let page = PageRequest {
            limit: Limit::parse(Some(2)).unwrap(),
            cursor: Some(encode_cursor(&("b", id))),
        };
        let mut q = base();
        BY_NAME.apply(&mut q, &page).unwrap();
        assert_eq!(
            sql(&q),
            format!(
                r#"SELECT * FROM "t" WHERE (c.name, c.id) > ('b', '{id}') ORDER BY c.name ASC, c.id ASC LIMIT 3"#
            )
        );

        let mut q = base();
        let page = PageRequest {
            limit: Limit::default(),
            cursor: Some(encode_cursor(&7)),
        };
        NEWEST.apply(&mut q, &page).unwrap();
        assert_eq!(
            sql(&q),
            r#"SELECT * FROM "t" WHERE (position) < (7) ORDER BY position DESC LIMIT 51"#
        );

        let bad = PageRequest {
            limit: Limit::default(),
            cursor: Some("bm90IGpzb24".into()),
        };
        match NEWEST.apply(&mut base(), &bad) {
            Err(Error::Validation(fields)) => assert_eq!(fields[0].pointer, "/cursor"),
            other => panic!("{other:?}"),
        }
    }
}
