//! The CoP portal: communities of practice and everything that hangs off
//! them — members, events, registrations, attendance, content assets and
//! engagement, surveys, use cases, champions and KPI metrics.
//!
//! Tenancy: every row belongs to a CoP, every CoP to a customer. Each
//! operation first resolves the CoP through [`access::load`], which applies
//! the caller's [`Scope`](crate::tenancy::Scope) (rows of other customers
//! answer 404 exactly like missing rows) and then the permission rules,
//! which live in [`access`] and nowhere else.
//!
//! Tables other jobs read (see the migration `20261121000010_portal.sql`):
//! `cop_members`, `events`, `event_registrations`, `event_attendance`,
//! `asset_engagement`, `survey_responses` + `survey_answers`, `use_cases`,
//! `kpi_metrics`.

pub mod access;
pub mod assets;
pub mod attendance;
pub mod champions;
pub mod cops;
pub mod events;
pub mod invites;
pub mod kpis;
pub mod members;
pub mod registrations;
pub mod surveys;
pub mod use_cases;

use sqlx::PgConnection;

use crate::{
    audit::{self, AuditEntry},
    error::Result,
    ids::CustomerId,
    tenancy::Caller,
};

/// Records a portal change in the audit log (inside the change's transaction).
pub(crate) async fn audit(
    conn: &mut PgConnection,
    caller: &Caller,
    action: &str,
    target_type: &str,
    target_id: String,
    customer_id: CustomerId,
    after: Option<serde_json::Value>,
) -> Result<()> {
    audit::record(
        conn,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action,
            target_type,
            target_id: Some(target_id),
            customer_id: Some(customer_id),
            after,
            ..Default::default()
        },
    )
    .await
}

/// An `ILIKE` pattern matching `s` anywhere, with `%`, `_` and `\` escaped.
pub(crate) fn contains_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// A list of short labels (tags, speakers): each trimmed, 1..=`max_len`
/// characters, at most `max_items`, duplicates dropped (first wins).
pub(crate) fn labels(
    v: &mut crate::error::Validator,
    pointer: &str,
    items: &[String],
    max_items: usize,
    max_len: usize,
) -> Vec<String> {
    if items.len() > max_items {
        v.push(pointer, format!("must have at most {max_items} entries"));
        return vec![];
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(t) = v.check(
            &format!("{pointer}/{i}"),
            crate::values::text(item, max_len, false),
        ) && !out.contains(&t)
        {
            out.push(t);
        }
    }
    out
}

/// An optional free-text field: `None` stays `None`, text is checked.
pub(crate) fn opt_text(
    v: &mut crate::error::Validator,
    pointer: &str,
    s: Option<&str>,
    max: usize,
) -> Option<String> {
    s.and_then(|s| v.check(pointer, crate::values::text(s, max, true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }
}
