//! The enablement portal (LMS): courses and their ordered lessons, learning
//! paths, per-lesson progress with derived course completion, assignments
//! with a derived status, and certificate records.
//!
//! Every row belongs to a customer (directly, or through its course) and is
//! read through [`access`], which maps the portal's Viewer / Contributor /
//! Approver / Admin onto the platform roles: rows the caller may not see
//! answer 404 exactly like missing rows.
//!
//! Tables later work reads: `course_completions` (one row per user and
//! course, written by [`progress::record_lesson_progress`]) and
//! `certificates` (written by the `certificate_issue` job, see [`certificates`]).

pub mod access;
pub mod assignments;
pub mod certificates;
pub mod courses;
pub mod lessons;
pub mod library;
pub mod metadata;
pub mod paths;
pub mod progress;

use crate::{audit::AuditEntry, error::Validator, ids::CustomerId, tenancy::Caller, values};

/// Longest description (courses, paths).
pub const MAX_DESCRIPTION: usize = 10_000;

/// An optional multi-line description: trimmed, at most [`MAX_DESCRIPTION`]
/// characters; empty is allowed.
pub(crate) fn description(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Ok(String::new());
    }
    values::text(s, MAX_DESCRIPTION, true)
}

/// Tags under `/tags`: trimmed and lower-cased, 1–50 characters each, at
/// most 20, duplicates dropped.
pub(crate) fn tags(v: &mut Validator, tags: &[String]) -> Vec<String> {
    if tags.len() > 20 {
        v.push("/tags", "must have at most 20 tags");
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for (i, t) in tags.iter().enumerate() {
        if let Some(t) = v.check(&format!("/tags/{i}"), values::text(t, 50, false)) {
            let t = t.to_lowercase();
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

/// An audit entry for an LMS change by `caller`; callers add `before`/`after`.
pub(crate) fn audit_entry<'a>(
    caller: &'a Caller,
    action: &'a str,
    target_type: &'a str,
    target_id: impl ToString,
    customer: CustomerId,
) -> AuditEntry<'a> {
    AuditEntry {
        actor_id: Some(caller.user_id),
        actor_email: Some(&caller.email),
        action,
        target_type,
        target_id: Some(target_id.to_string()),
        customer_id: Some(customer),
        ..Default::default()
    }
}

/// A `LIKE` pattern matching `q` as a substring (wildcards in `q` are literal).
pub(crate) fn contains_pattern(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalised() {
        let mut v = Validator::new();
        assert_eq!(
            tags(&mut v, &[" SQL ".into(), "sql".into(), "Delta Lake".into()]),
            vec!["sql", "delta lake"]
        );
        assert!(v.is_ok());
        tags(&mut v, &["ok".into(), " ".into()]);
        assert_eq!(v.finish().unwrap_err().to_string(), "validation failed");
        let mut v = Validator::new();
        tags(&mut v, &vec!["x".to_string(); 21]);
        assert!(!v.is_ok());
    }

    #[test]
    fn patterns_escape_wildcards() {
        assert_eq!(contains_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
    }
}
