//! Tenancy: who is calling and which customers they may see.
//!
//! Every tenant-scoped query takes a [`Scope`] and filters through
//! [`Scope::sql_filter`] or checks through [`Scope::ensure`]; a row outside the
//! scope is indistinguishable from a row that does not exist (404).

use crate::text_enum;
use crate::{
    error::{Error, Result},
    ids::{CustomerId, UserId},
};

text_enum! {
    /// Platform roles, as carried in the access token's `roles` claim.
    pub enum Role {
        /// Operates the platform: sees and manages every customer.
        Admin = "admin",
        /// Staff of the platform's owner: sees every customer.
        Internal = "internal",
        /// A customer's executive: manages the users of their customers.
        CustomerExec = "customer_exec",
        /// A member of a customer.
        CustomerMember = "customer_member",
    }
}

/// The authenticated caller of a request or the requester of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub customer_ids: Vec<CustomerId>,
}

impl Caller {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(Role::Admin)
    }

    /// `admin` and `internal` see every customer.
    pub fn is_staff(&self) -> bool {
        self.has_role(Role::Admin) || self.has_role(Role::Internal)
    }

    pub fn scope(&self) -> Scope {
        if self.is_staff() {
            Scope::All
        } else {
            Scope::Customers(self.customer_ids.clone())
        }
    }

    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::forbidden("requires the admin role"))
        }
    }

    pub fn require_any(&self, roles: &[Role]) -> Result<()> {
        if roles.iter().any(|r| self.has_role(*r)) {
            Ok(())
        } else {
            let names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
            Err(Error::forbidden(format!(
                "requires one of the roles: {}",
                names.join(", ")
            )))
        }
    }

    /// Whether the caller may manage (not only read) users and data of `customer`.
    pub fn can_manage_customer(&self, customer: CustomerId) -> bool {
        self.is_admin()
            || (self.has_role(Role::CustomerExec) && self.customer_ids.contains(&customer))
    }
}

/// The set of customers a request may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Customers(Vec<CustomerId>),
}

impl Scope {
    pub fn contains(&self, customer: CustomerId) -> bool {
        match self {
            Scope::All => true,
            Scope::Customers(ids) => ids.contains(&customer),
        }
    }

    /// 404 for rows outside the scope, exactly as for rows that do not exist.
    pub fn ensure(&self, customer: CustomerId, resource: &'static str) -> Result<()> {
        if self.contains(customer) {
            Ok(())
        } else {
            Err(Error::not_found(resource))
        }
    }

    /// Customer ids to bind for `customer_id = ANY($n)`; `None` = no restriction.
    pub fn customer_ids(&self) -> Option<Vec<uuid::Uuid>> {
        match self {
            Scope::All => None,
            Scope::Customers(ids) => Some(ids.iter().map(|c| c.0).collect()),
        }
    }

    /// A sea-query condition restricting `column` to the scope.
    pub fn sql_filter(&self, column: impl sea_query::IntoColumnRef) -> sea_query::Condition {
        use sea_query::{Condition, Expr, ExprTrait};
        match self.customer_ids() {
            None => Condition::all(),
            Some(ids) => Condition::all().add(Expr::col(column).is_in(ids)),
        }
    }
}
