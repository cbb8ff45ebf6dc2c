//! Who may do what in the CoP portal: the one place these rules live.
//!
//! First the tenant: a CoP (and everything in it) outside the caller's
//! [`Scope`] answers 404, exactly like a CoP that does not exist. Within the
//! scope, the platform role and the caller's role *in this CoP* decide:
//!
//! | Action ([`Action`])                                            | admin, internal | customer_exec¹ | exec_sponsor | lead | champion | member | other user of the customer |
//! |----------------------------------------------------------------|:---:|:---:|:---:|:---:|:---:|:---:|:---:|
//! | `Read`: get and list the CoP and everything in it, survey results | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
//! | `Administer`: create (²), update and archive the CoP itself      | ✓ | ✓ |   |   |   |   |   |
//! | `Manage`: members, events, others' registrations, attendance, content assets, surveys, champions, KPI ingest | ✓ | ✓ | ✓ | ✓ |   |   |   |
//! | `Participate`: register self, respond to surveys, record engagement | ³ | ³ | ✓ | ✓ | ✓ | ✓ |   |
//! | `Contribute`: submit a use case                                 | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |   |
//! | `Approve`: approve or reject use cases                          | ✓ |   | ✓ | ✓ |   |   |   |
//! | Edit or delete a use case that is not approved ([`CopAccess::require_edit_contribution`]) | ✓ | ⁴ | ✓ | ✓ | ⁴ | ⁴ |   |
//!
//! ¹ `customer_exec` *of the CoP's customer*. ² Creating checks the same rule
//! against the target customer ([`require_create`]). ³ Only as a member of the
//! CoP: participation is what the KPIs count, so it needs a membership.
//! ⁴ Only their own submissions (with `Contribute`); `Approve` covers any.
//!
//! Leaving a CoP and unregistering oneself need only the membership (or
//! registration) itself. Write actions on an archived CoP answer 409.

use sqlx::PgConnection;

use crate::text_enum;
use crate::{
    error::{Error, Result},
    ids::{CopId, CustomerId},
    tenancy::{Caller, Role},
};

text_enum! {
    /// A member's role in a CoP.
    pub enum CopRole {
        /// The executive sponsoring the CoP: manages it and approves use cases.
        ExecSponsor = "exec_sponsor",
        /// Runs the CoP day to day: manages it and approves use cases.
        Lead = "lead",
        /// A recognised champion; participates like a member.
        Champion = "champion",
        Member = "member",
    }
}

impl CopRole {
    /// Whether the role runs the CoP (manages its content, approves use cases).
    pub fn is_leader(self) -> bool {
        matches!(self, CopRole::ExecSponsor | CopRole::Lead)
    }
}

/// What a caller wants to do with a CoP (see the module's matrix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Administer,
    Manage,
    Participate,
    Contribute,
    Approve,
}

/// A CoP as seen by one caller: its tenant and the caller's standing in it.
#[derive(Debug, Clone)]
pub struct CopAccess {
    pub cop_id: CopId,
    pub customer_id: CustomerId,
    pub archived: bool,
    /// The caller's role in the CoP, when they are a member.
    pub role: Option<CopRole>,
    staff: bool,
    customer_exec: bool,
}

impl CopAccess {
    pub fn allows(&self, action: Action) -> bool {
        let leader = self.role.is_some_and(CopRole::is_leader);
        let member = self.role.is_some();
        match action {
            Action::Read => true,
            Action::Administer => self.staff || self.customer_exec,
            Action::Manage => self.staff || self.customer_exec || leader,
            Action::Participate => member,
            Action::Contribute => member || self.staff || self.customer_exec,
            Action::Approve => self.staff || leader,
        }
    }

    /// 403 when the action is not allowed; 409 for writes to an archived CoP.
    pub fn require(&self, action: Action) -> Result<()> {
        if !self.allows(action) {
            return Err(Error::forbidden(match action {
                Action::Read => "requires access to this CoP",
                Action::Administer => {
                    "requires the admin or internal role, or customer_exec of the CoP's customer"
                }
                Action::Manage => {
                    "requires the admin or internal role, customer_exec of the CoP's customer, \
                     or the lead or exec_sponsor role in the CoP"
                }
                Action::Participate => "requires membership of the CoP",
                Action::Contribute => "requires membership of the CoP or managing its customer",
                Action::Approve => {
                    "requires the admin or internal role, or the lead or exec_sponsor role in the CoP"
                }
            }));
        }
        if self.archived && action != Action::Read {
            return Err(Error::conflict(
                "cop_archived",
                "the CoP is archived; it can be read but not changed",
            ));
        }
        Ok(())
    }

    /// Editing or deleting a contribution (a use case): its submitter while
    /// they may still contribute, or anyone who may approve contributions.
    /// 403 otherwise; 409 for an archived CoP.
    pub fn require_edit_contribution(&self, submitted_by_caller: bool) -> Result<()> {
        let action = if submitted_by_caller && self.allows(Action::Contribute) {
            Action::Contribute
        } else {
            Action::Approve
        };
        match self.require(action) {
            Err(Error::Forbidden(_)) => Err(Error::forbidden(
                "requires being the submitter, the admin or internal role, \
                 or the lead or exec_sponsor role in the CoP",
            )),
            r => r,
        }
    }

    pub fn is_member(&self) -> bool {
        self.role.is_some()
    }
}

fn is_staff(caller: &Caller) -> bool {
    caller.has_role(Role::Admin) || caller.has_role(Role::Internal)
}

fn is_customer_exec(caller: &Caller, customer: CustomerId) -> bool {
    caller.has_role(Role::CustomerExec) && caller.customer_ids.contains(&customer)
}

/// Creating a CoP for `customer`: 404 outside the scope, 403 without the
/// `Administer` rights over that customer.
pub fn require_create(caller: &Caller, customer: CustomerId) -> Result<()> {
    caller.scope().ensure(customer, "customer")?;
    if is_staff(caller) || is_customer_exec(caller, customer) {
        Ok(())
    } else {
        Err(Error::forbidden(
            "requires the admin or internal role, or customer_exec of this customer",
        ))
    }
}

/// Resolves a CoP for `caller`: 404 (naming `resource`, the thing the request
/// addressed) when the CoP does not exist or lies outside the caller's scope.
pub async fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    cop_id: CopId,
    resource: &'static str,
) -> Result<CopAccess> {
    let row: Option<(CustomerId, bool, Option<CopRole>)> = sqlx::query_as(
        "SELECT c.customer_id, c.archived_at IS NOT NULL, m.role
         FROM cops c LEFT JOIN cop_members m ON m.cop_id = c.id AND m.user_id = $2
         WHERE c.id = $1",
    )
    .bind(cop_id)
    .bind(caller.user_id)
    .fetch_optional(conn)
    .await?;
    let (customer_id, archived, role) = row.ok_or(Error::not_found(resource))?;
    caller.scope().ensure(customer_id, resource)?;
    Ok(CopAccess {
        cop_id,
        customer_id,
        archived,
        role,
        staff: is_staff(caller),
        customer_exec: is_customer_exec(caller, customer_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(role: Option<CopRole>, staff: bool, exec: bool) -> CopAccess {
        CopAccess {
            cop_id: CopId::new(),
            customer_id: CustomerId::new(),
            archived: false,
            role,
            staff,
            customer_exec: exec,
        }
    }

    #[test]
    fn matrix() {
        use Action::*;
        let all = [Read, Administer, Manage, Participate, Contribute, Approve];
        let allowed =
            |a: &CopAccess| -> Vec<Action> { all.into_iter().filter(|x| a.allows(*x)).collect() };
        assert_eq!(
            allowed(&access(None, true, false)),
            vec![Read, Administer, Manage, Contribute, Approve]
        );
        assert_eq!(
            allowed(&access(None, false, true)),
            vec![Read, Administer, Manage, Contribute]
        );
        for r in [CopRole::ExecSponsor, CopRole::Lead] {
            assert_eq!(
                allowed(&access(Some(r), false, false)),
                vec![Read, Manage, Participate, Contribute, Approve]
            );
        }
        for r in [CopRole::Champion, CopRole::Member] {
            assert_eq!(
                allowed(&access(Some(r), false, false)),
                vec![Read, Participate, Contribute]
            );
        }
        assert_eq!(allowed(&access(None, false, false)), vec![Read]);
    }

    #[test]
    fn contributions_are_edited_by_their_submitter_or_approvers() {
        let staff = access(None, true, false);
        let exec = access(None, false, true);
        let lead = access(Some(CopRole::Lead), false, false);
        let member = access(Some(CopRole::Member), false, false);
        let outsider = access(None, false, false);
        for a in [&staff, &lead] {
            assert!(a.require_edit_contribution(false).is_ok());
            assert!(a.require_edit_contribution(true).is_ok());
        }
        for a in [&exec, &member] {
            assert!(a.require_edit_contribution(true).is_ok());
            assert!(matches!(
                a.require_edit_contribution(false),
                Err(Error::Forbidden(_))
            ));
        }
        // A former member who submitted it no longer contributes.
        assert!(matches!(
            outsider.require_edit_contribution(true),
            Err(Error::Forbidden(_))
        ));
        let mut archived = member.clone();
        archived.archived = true;
        assert!(matches!(
            archived.require_edit_contribution(true),
            Err(Error::Conflict { .. })
        ));
    }

    #[test]
    fn archived_cops_are_read_only() {
        let mut a = access(Some(CopRole::Lead), false, false);
        a.archived = true;
        assert!(a.require(Action::Read).is_ok());
        assert!(matches!(
            a.require(Action::Manage),
            Err(Error::Conflict { .. })
        ));
        assert!(matches!(
            a.require(Action::Administer),
            Err(Error::Forbidden(_))
        ));
    }
}
