//! Coaching: one-to-one sessions between team leaders and agents within a
//! customer, with reporting lines and coaching roles ([`people`]), reach and
//! permissions decided in one place ([`access`]), calendar invitations
//! ([`invites`]) and notes and scores sealed at rest ([`crypto`]).
//!
//! Tables (migration `…_coaching.sql`): `coaching_people`,
//! `coaching_sessions`.

pub mod access;
pub mod crypto;
pub mod events;
pub mod invites;
pub mod markdown;
pub mod people;
pub mod sessions;

use sqlx::PgConnection;

use crate::{
    audit::{self, AuditEntry},
    error::Result,
    ids::CustomerId,
    tenancy::Caller,
};

crate::uuid_id!(
    /// A coaching session.
    CoachingSessionId
);

/// Records a coaching change in the audit log (in the change's
/// transaction). Snapshots never carry notes or scores.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn audit(
    conn: &mut PgConnection,
    caller: &Caller,
    action: &str,
    target_type: &str,
    target_id: String,
    customer_id: CustomerId,
    before: Option<serde_json::Value>,
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
            before,
            after,
        },
    )
    .await
}
