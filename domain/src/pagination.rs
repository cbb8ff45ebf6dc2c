//! Cursor pagination: `?limit=` (default 50, max 200) and an opaque `cursor`.
//!
//! A cursor is the base64url JSON of the sort key of the last item returned;
//! the next page starts strictly after it.

use base64::Engine;
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub fn parse(limit: Option<i64>) -> Result<Self> {
        match limit {
            None => Ok(Self(DEFAULT_LIMIT)),
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
}
