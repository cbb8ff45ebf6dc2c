//! KPIs: daily metrics per CoP, computed by the `kpi_rollup` job from the
//! portal's and the LMS's data, stored in `kpi_metrics`, and served as
//! series, summaries and a portfolio.
//!
//! - [`metrics`]: every metric, defined once — name, what counts, its
//!   window, how it aggregates, its set-based SQL, and the pure arithmetic
//!   (NPS, rates).
//! - [`rollup`]: what a rollup job computes and how rollups are enqueued
//!   (nightly, on demand, after an attendance import or a closed survey,
//!   coalesced per CoP).
//! - [`series`]: the read side of one CoP — a metric over time by day, week
//!   or month, and the summary of every metric against the previous period.
//! - [`health`]: the health score of a CoP and the portfolio of every CoP a
//!   caller can see.
//!
//! Dates are local dates in the CoP's customer's time zone
//! (`customers.time_zone`). Rows ingested from outside (`source = 'ingest'`,
//! see [`crate::portal::kpis`]) are never written by the rollup.

pub mod health;
pub mod metrics;
pub mod rollup;
pub mod series;

use chrono::{Months, NaiveDate};

pub use metrics::{Aggregation, Metric};

use crate::error::{Error, Result};

/// The longest range a rollup request or a series may span: `to` at most
/// this many months after `from`.
pub const MAX_RANGE_MONTHS: u32 = 24;

/// A validated, inclusive range of dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DateRange {
    /// `from` ≤ `to` (else 400 naming `from`) and `to` at most two years
    /// after `from` (else 400 naming `to`).
    pub fn parse(from: NaiveDate, to: NaiveDate) -> Result<Self> {
        if from > to {
            return Err(Error::field(
                "/from",
                format!("must not be after to ({to})"),
            ));
        }
        let limit = from
            .checked_add_months(Months::new(MAX_RANGE_MONTHS))
            .unwrap_or(NaiveDate::MAX);
        if to > limit {
            return Err(Error::field(
                "/to",
                format!(
                    "the range may span at most {} years: to must not be after {limit}",
                    MAX_RANGE_MONTHS / 12
                ),
            ));
        }
        Ok(Self { from, to })
    }

    /// Number of dates in the range.
    pub fn days(&self) -> u32 {
        ((self.to - self.from).num_days() + 1) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn pointer(e: Error) -> String {
        match e {
            Error::Validation(v) => v[0].pointer.clone(),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(
            DateRange::parse(d("2026-01-01"), d("2026-01-01"))
                .unwrap()
                .days(),
            1
        );
        assert_eq!(
            DateRange::parse(d("2024-03-01"), d("2026-03-01"))
                .unwrap()
                .days(),
            731
        );
        assert_eq!(
            pointer(DateRange::parse(d("2026-01-02"), d("2026-01-01")).unwrap_err()),
            "/from"
        );
        assert_eq!(
            pointer(DateRange::parse(d("2024-03-01"), d("2026-03-02")).unwrap_err()),
            "/to"
        );
    }
}
