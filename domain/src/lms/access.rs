//! Who may do what in the enablement portal: its four roles mapped onto the
//! platform roles. This is the only place the mapping is written down.
//!
//! | Portal role | Platform role                         | In which customers          |
//! |-------------|---------------------------------------|-----------------------------|
//! | Admin       | `admin`                               | every customer              |
//! | Approver    | `customer_exec`                       | the customers they belong to|
//! | Contributor | `internal`                            | every customer              |
//! | Viewer      | `customer_member` (any member)        | the customers they belong to|
//!
//! A caller holding several platform roles gets the highest portal role per
//! customer (an `internal` user who is also `customer_exec` of Acme is an
//! Approver for Acme and a Contributor elsewhere). Outside the customers a
//! caller can see at all, every LMS resource answers 404, like a missing one.
//!
//! What each role may do (each role may also do everything of the roles below):
//!
//! | Minimum role | Actions                                                                                     |
//! |--------------|---------------------------------------------------------------------------------------------|
//! | Viewer       | read published courses, their lessons and learning paths (draft and archived courses are 404; paths list only published courses); record and read their own progress; list their own assignments |
//! | Contributor  | read draft and archived courses; create courses (as drafts); edit draft courses and their lessons; create, edit and delete learning paths; read the assignments of a customer |
//! | Approver     | publish and archive courses; edit published or archived courses and their lessons; create, change and delete assignments |
//! | Admin        | all of the above in every customer                                                          |
//!
//! Why this mapping:
//! - `customer_exec` already governs a customer on the platform (manages its
//!   users, see [`Caller::can_manage_customer`]); deciding what that
//!   customer's people see and are assigned is the same authority, so the exec
//!   approves.
//! - `internal` staff author and maintain enablement content for every
//!   customer, but publishing into a customer's portal stays the customer's
//!   (or an admin's) decision: four eyes between writing and publishing.
//! - `customer_member` are the learners.
//! - `admin` operates the platform and may override anything.

use crate::text_enum;
use crate::{
    error::{Error, Result},
    ids::CustomerId,
    tenancy::{Caller, Role, Scope},
};

use super::courses::CourseStatus;

text_enum! {
    /// The enablement portal's roles, lowest first.
    #[derive(PartialOrd, Ord)]
    pub enum LmsRole {
        Viewer = "viewer",
        Contributor = "contributor",
        Approver = "approver",
        Admin = "admin",
    }
}

impl LmsRole {
    /// Whether this role sees draft and archived courses.
    pub fn sees_drafts(self) -> bool {
        self >= LmsRole::Contributor
    }

    /// Whether this role may see a course in `status`.
    pub fn sees(self, status: CourseStatus) -> bool {
        status == CourseStatus::Published || self.sees_drafts()
    }
}

/// The role needed to edit a course (and its lessons) in `status`: drafts
/// are the contributors' work; published and archived content is approved.
pub fn role_to_edit(status: CourseStatus) -> LmsRole {
    match status {
        CourseStatus::Draft => LmsRole::Contributor,
        CourseStatus::Published | CourseStatus::Archived => LmsRole::Approver,
    }
}

/// The caller's portal role for the data of `customer`; `None` when the
/// customer lies outside the caller's tenants.
pub fn role_in(caller: &Caller, customer: CustomerId) -> Option<LmsRole> {
    let member = caller.customer_ids.contains(&customer);
    if caller.has_role(Role::Admin) {
        Some(LmsRole::Admin)
    } else if member && caller.has_role(Role::CustomerExec) {
        Some(LmsRole::Approver)
    } else if caller.has_role(Role::Internal) {
        Some(LmsRole::Contributor)
    } else if member {
        Some(LmsRole::Viewer)
    } else {
        None
    }
}

/// The customers in which the caller holds at least `min`; `None` when none.
pub fn scope_with(caller: &Caller, min: LmsRole) -> Option<Scope> {
    if caller.has_role(Role::Admin)
        || (min <= LmsRole::Contributor && caller.has_role(Role::Internal))
    {
        return Some(Scope::All);
    }
    let own = if caller.has_role(Role::CustomerExec) {
        LmsRole::Approver
    } else {
        LmsRole::Viewer
    };
    (own >= min && !caller.customer_ids.is_empty())
        .then(|| Scope::Customers(caller.customer_ids.clone()))
}

/// Like [`scope_with`], but 403 when the caller holds `min` nowhere.
pub fn require_scope(caller: &Caller, min: LmsRole) -> Result<Scope> {
    scope_with(caller, min).ok_or_else(|| forbidden(min))
}

/// The caller's role in `customer`: 404 (as `resource`) outside their tenants,
/// 403 when the role is below `min`.
pub fn require(
    caller: &Caller,
    customer: CustomerId,
    min: LmsRole,
    resource: &'static str,
) -> Result<LmsRole> {
    let role = role_in(caller, customer).ok_or(Error::not_found(resource))?;
    ensure(role, min)?;
    Ok(role)
}

/// 403 unless `role` is at least `min`.
pub fn ensure(role: LmsRole, min: LmsRole) -> Result<()> {
    if role < min {
        Err(forbidden(min))
    } else {
        Ok(())
    }
}

fn forbidden(min: LmsRole) -> Error {
    let platform = match min {
        LmsRole::Viewer => "any role in this customer",
        LmsRole::Contributor => "admin, internal, or customer_exec of this customer",
        LmsRole::Approver => "admin, or customer_exec of this customer",
        LmsRole::Admin => "admin",
    };
    Error::forbidden(format!(
        "requires the enablement {} role ({platform})",
        min.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;

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
    fn mapping() {
        let (a, b) = (CustomerId::new(), CustomerId::new());
        assert_eq!(
            role_in(&caller(&[Role::Admin], &[]), a),
            Some(LmsRole::Admin)
        );
        assert_eq!(
            role_in(&caller(&[Role::Internal], &[]), a),
            Some(LmsRole::Contributor)
        );
        assert_eq!(
            role_in(&caller(&[Role::CustomerExec], &[a]), a),
            Some(LmsRole::Approver)
        );
        assert_eq!(role_in(&caller(&[Role::CustomerExec], &[a]), b), None);
        assert_eq!(
            role_in(&caller(&[Role::CustomerMember], &[a]), a),
            Some(LmsRole::Viewer)
        );
        assert_eq!(role_in(&caller(&[Role::CustomerMember], &[a]), b), None);
        let both = caller(&[Role::Internal, Role::CustomerExec], &[a]);
        assert_eq!(role_in(&both, a), Some(LmsRole::Approver));
        assert_eq!(role_in(&both, b), Some(LmsRole::Contributor));
    }

    #[test]
    fn scopes_agree_with_the_tenancy_scope() {
        let a = CustomerId::new();
        for roles in [
            vec![Role::Admin],
            vec![Role::Internal],
            vec![Role::CustomerExec],
            vec![Role::CustomerMember],
            vec![Role::Internal, Role::CustomerExec],
        ] {
            let c = caller(&roles, &[a]);
            assert_eq!(
                scope_with(&c, LmsRole::Viewer),
                Some(c.scope()),
                "{roles:?}"
            );
        }
        let member = caller(&[Role::CustomerMember], &[a]);
        assert!(require_scope(&member, LmsRole::Contributor).is_err());
        let internal = caller(&[Role::Internal], &[]);
        assert_eq!(
            scope_with(&internal, LmsRole::Contributor),
            Some(Scope::All)
        );
        assert!(scope_with(&internal, LmsRole::Approver).is_none());
        let both = caller(&[Role::Internal, Role::CustomerExec], &[a]);
        assert_eq!(
            scope_with(&both, LmsRole::Approver),
            Some(Scope::Customers(vec![a]))
        );
    }

    #[test]
    fn editing_published_content_needs_an_approver() {
        assert_eq!(role_to_edit(CourseStatus::Draft), LmsRole::Contributor);
        assert_eq!(role_to_edit(CourseStatus::Published), LmsRole::Approver);
        assert!(!LmsRole::Viewer.sees(CourseStatus::Draft));
        assert!(LmsRole::Viewer.sees(CourseStatus::Published));
        assert!(LmsRole::Contributor.sees(CourseStatus::Archived));
    }
}
