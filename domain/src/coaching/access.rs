//! Who sees and does what in coaching: the one place these rules live.
//!
//! Coaching roles are held per customer (`coaching_people`, granted through
//! `PUT /api/v1/coaching/people/{user_id}`), next to the reporting lines:
//! a person's `team_leader_id` and `managed_by`. How they map onto the
//! platform's roles:
//!
//! | Coaching role    | Who                                                          |
//! |------------------|--------------------------------------------------------------|
//! | coaching admin   | platform `admin` (every customer); `customer_exec` of the customer; a person granted `coaching_admin` in it |
//! | manager          | a person granted `manager`                                   |
//! | team leader      | a person granted `team_leader`                               |
//! | agent            | a person granted `agent`                                     |
//!
//! `internal` staff hold no coaching role: what is written about people in
//! coaching stays with the customer's line of management.
//!
//! **Reach** (what a person sees), for sessions, plans, items, quick notes
//! and metrics, all keyed by the agent they are about:
//! - an agent: their own;
//! - a team leader: their own, their agents' (`team_leader_id` = them), and
//!   the sessions they lead;
//! - a manager: their own and everyone's who reports to them (`managed_by`)
//!   or to a team leader who does;
//! - coaching admins: everything in the customer.
//!
//! A row outside the caller's reach answers 404, exactly like a missing one
//! (and anything outside the caller's tenants, see [`Scope`]).
//!
//! **Actions** within reach:
//! - read: everyone in reach (quick notes: not the agent they are about);
//! - schedule, change, cancel a session; plans and items: the session's team
//!   leader, a manager, or a coaching admin (agents read, and update the
//!   status of items they own);
//! - complete a session, and change a completed one for 7 days: its team
//!   leader (coaching admins too).

use sea_query::{Condition, Expr, ExprTrait};
use sqlx::PgConnection;

use crate::text_enum;
use crate::{
    error::{Error, Result},
    ids::{CustomerId, UserId},
    tenancy::{Caller, Role},
};

text_enum! {
    /// A person's coaching role in a customer.
    pub enum CoachingRole {
        /// Sees and manages all coaching in the customer.
        CoachingAdmin = "coaching_admin",
        /// Sees everyone who reports to them or to their team leaders.
        Manager = "manager",
        /// Coaches the agents who report to them.
        TeamLeader = "team_leader",
        /// Is coached.
        Agent = "agent",
    }
}

/// What the caller may see: computed once per request, applied to every
/// query through [`Reach::condition`].
#[derive(Debug, Clone)]
pub struct Reach {
    me: UserId,
    /// Platform admin: coaching admin in every customer.
    everywhere: bool,
    /// Customers of which the caller is `customer_exec`.
    exec_of: Vec<CustomerId>,
    tenancy: crate::tenancy::Scope,
}

impl Reach {
    pub fn of(caller: &Caller) -> Self {
        Self {
            me: caller.user_id,
            everywhere: caller.is_admin(),
            exec_of: if caller.has_role(Role::CustomerExec) {
                caller.customer_ids.clone()
            } else {
                vec![]
            },
            tenancy: caller.scope(),
        }
    }

    pub fn me(&self) -> UserId {
        self.me
    }

    /// The rows about people in reach, for a table whose rows belong to
    /// `customer` and are about `agent` (and, for sessions, led by
    /// `team_leader`). Column names are constants of the caller's query
    /// (qualified when it joins).
    pub fn condition(
        &self,
        customer: &'static str,
        agent: &'static str,
        team_leader: Option<&'static str>,
    ) -> Condition {
        let tenancy = match self.tenancy.customer_ids() {
            None => Condition::all(),
            Some(ids) => Condition::all().add(Expr::cust(customer).is_in(ids)),
        };
        if self.everywhere {
            return tenancy;
        }
        let me = self.me.0;
        let mut any = Condition::any()
            .add(Expr::cust_with_values(
                format!(
                    "{customer} IN (SELECT a.customer_id FROM coaching_people a \
                     WHERE a.user_id = $1 AND a.role = 'coaching_admin')"
                ),
                [me],
            ))
            .add(Expr::cust_with_values(
                format!(
                    "({customer}, {agent}) IN (SELECT p.customer_id, p.user_id FROM coaching_people p \
                     WHERE p.user_id = $1 OR p.team_leader_id = $1 OR p.managed_by = $1 \
                        OR p.team_leader_id IN (SELECT t.user_id FROM coaching_people t \
                            WHERE t.customer_id = p.customer_id AND t.managed_by = $1))"
                ),
                [me],
            ));
        if !self.exec_of.is_empty() {
            any = any.add(
                Expr::cust(customer).is_in(self.exec_of.iter().map(|c| c.0).collect::<Vec<_>>()),
            );
        }
        if let Some(tl) = team_leader {
            any = any.add(Expr::cust(tl).eq(me));
        }
        tenancy.add(any)
    }
}

/// The caller's standing in one customer's coaching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub customer_id: CustomerId,
    /// The role granted in `coaching_people`, if any.
    pub role: Option<CoachingRole>,
    /// Coaching admin: platform admin, customer_exec of the customer, or
    /// granted `coaching_admin`.
    pub admin: bool,
}

impl Standing {
    pub fn is_manager(&self) -> bool {
        self.admin || self.role == Some(CoachingRole::Manager)
    }

    /// 403 unless a coaching admin.
    pub fn require_admin(&self) -> Result<()> {
        if self.admin {
            Ok(())
        } else {
            Err(Error::forbidden(
                "requires a coaching admin of this customer (admin, customer_exec, or coaching_admin)",
            ))
        }
    }
}

/// The caller's standing in `customer`: 404 (as `resource`) outside their
/// tenants.
pub async fn standing(
    conn: &mut PgConnection,
    caller: &Caller,
    customer: CustomerId,
    resource: &'static str,
) -> Result<Standing> {
    caller.scope().ensure(customer, resource)?;
    let role: Option<CoachingRole> = sqlx::query_scalar(
        "SELECT role FROM coaching_people WHERE customer_id = $1 AND user_id = $2",
    )
    .bind(customer)
    .bind(caller.user_id)
    .fetch_optional(conn)
    .await?;
    Ok(standing_of(caller, customer, role))
}

fn standing_of(caller: &Caller, customer: CustomerId, role: Option<CoachingRole>) -> Standing {
    Standing {
        customer_id: customer,
        role,
        admin: caller.can_manage_customer(customer) || role == Some(CoachingRole::CoachingAdmin),
    }
}

/// Who may change a session (or the plans and items around an agent):
/// its team leader, a manager (the row is in their reach), or a coaching
/// admin. 403 otherwise (the caller already sees the row).
pub fn require_coach(s: &Standing, me: UserId, team_leader: Option<UserId>) -> Result<()> {
    if s.admin || s.role == Some(CoachingRole::Manager) || team_leader == Some(me) {
        Ok(())
    } else {
        Err(Error::forbidden(
            "requires the session's team leader, a manager, or a coaching admin",
        ))
    }
}

/// Who may complete a session and change its notes and scores: its team
/// leader, or a coaching admin. 403 otherwise.
pub fn require_session_lead(s: &Standing, me: UserId, team_leader: Option<UserId>) -> Result<()> {
    if s.admin || team_leader == Some(me) {
        Ok(())
    } else {
        Err(Error::forbidden(
            "requires the session's team leader or a coaching admin",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[Role], customers: &[CustomerId]) -> Caller {
        Caller {
            user_id: UserId::new(),
            email: "x@example.com".into(),
            name: "X".into(),
            roles: roles.to_vec(),
            customer_ids: customers.to_vec(),
        }
    }

    #[test]
    fn who_is_a_coaching_admin() {
        let (a, b) = (CustomerId::new(), CustomerId::new());
        assert!(standing_of(&caller(&[Role::Admin], &[]), a, None).admin);
        assert!(standing_of(&caller(&[Role::CustomerExec], &[a]), a, None).admin);
        assert!(!standing_of(&caller(&[Role::CustomerExec], &[a]), b, None).admin);
        assert!(!standing_of(&caller(&[Role::Internal], &[]), a, None).admin);
        let m = caller(&[Role::CustomerMember], &[a]);
        assert!(standing_of(&m, a, Some(CoachingRole::CoachingAdmin)).admin);
        assert!(!standing_of(&m, a, Some(CoachingRole::Manager)).admin);
    }

    #[test]
    fn who_changes_a_session() {
        let a = CustomerId::new();
        let m = caller(&[Role::CustomerMember], &[a]);
        let other = UserId::new();
        let as_role = |r| standing_of(&m, a, Some(r));
        assert!(
            require_coach(
                &as_role(CoachingRole::TeamLeader),
                m.user_id,
                Some(m.user_id)
            )
            .is_ok()
        );
        assert!(require_coach(&as_role(CoachingRole::TeamLeader), m.user_id, Some(other)).is_err());
        assert!(require_coach(&as_role(CoachingRole::Manager), m.user_id, Some(other)).is_ok());
        assert!(require_coach(&as_role(CoachingRole::Agent), m.user_id, Some(other)).is_err());
        assert!(
            require_session_lead(&as_role(CoachingRole::Manager), m.user_id, Some(other)).is_err()
        );
        assert!(
            require_session_lead(
                &as_role(CoachingRole::CoachingAdmin),
                m.user_id,
                Some(other)
            )
            .is_ok()
        );
    }
}
