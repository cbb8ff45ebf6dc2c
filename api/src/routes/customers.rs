//! Customers (tenants): admins create and delete them; everyone sees their own.

use chrono::{DateTime, Utc};
use launchpad_domain::{
    customers::{self, Customer, CustomerPatch, NewCustomer},
    ids::CustomerId,
};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::Example};

use crate::list_query::Paging;
use crate::types::{Created, NoContent, Page, Tag};
use crate::{body::JsonBody, problem::ApiResult, security::BearerAuth, state::SharedState};

pub struct CustomersApi;

/// A customer: the tenant that owns CoPs, users and data.
#[derive(Object)]
pub struct CustomerView {
    pub id: CustomerId,
    pub name: String,
    pub slug: String,
    /// IANA time zone used for the customer's KPIs.
    pub time_zone: String,
    /// The tenant's portal: notifications link to `<portal_base_url><API path>` (`link_url`).
    #[oai(skip_serializing_if_is_none)]
    pub portal_base_url: Option<String>,
    /// Whether the last editor of a newsletter may approve it themselves.
    pub newsletter_self_approval: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Customer> for CustomerView {
    fn from(c: Customer) -> Self {
        Self {
            id: c.id,
            name: c.name,
            slug: c.slug,
            time_zone: c.time_zone,
            portal_base_url: c.portal_base_url,
            newsletter_self_approval: c.newsletter_self_approval,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateCustomer {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// Lower-case letters, digits and dashes; unique.
    #[oai(validator(pattern = "^[a-z0-9][a-z0-9-]{0,62}$"))]
    pub slug: String,
    /// IANA time zone (default `UTC`).
    pub time_zone: Option<String>,
}

impl Example for CreateCustomer {
    fn example() -> Self {
        Self {
            name: "Acme Corp".into(),
            slug: "acme".into(),
            time_zone: Some("Europe/Paris".into()),
        }
    }
}

#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateCustomer {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    pub time_zone: Option<String>,
    /// The tenant's portal (http or https, no query); `""` removes it.
    pub portal_base_url: Option<String>,
    /// Whether the last editor of a newsletter may approve it themselves.
    pub newsletter_self_approval: Option<bool>,
}

impl Example for UpdateCustomer {
    fn example() -> Self {
        Self {
            name: Some("Acme Corporation".into()),
            time_zone: None,
            portal_base_url: Some("https://portal.acme.example".into()),
            newsletter_self_approval: None,
        }
    }
}

#[OpenApi(tag = "Tag::Customers")]
impl CustomersApi {
    /// Creates a customer (admin only).
    #[oai(
        path = "/api/v1/customers",
        method = "post",
        operation_id = "customers_create"
    )]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<CreateCustomer>,
    ) -> ApiResult<Created<CustomerView>> {
        let b = body.value;
        let input = NewCustomer::parse(&b.name, &b.slug, b.time_zone.as_deref())?;
        Ok(Created::Created(Json(
            customers::create(&state.db, &auth.0, input).await?.into(),
        )))
    }

    /// Lists the customers the caller can see.
    #[oai(
        path = "/api/v1/customers",
        method = "get",
        operation_id = "customers_list"
    )]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: Paging,
    ) -> ApiResult<Json<Page<CustomerView>>> {
        let page = customers::list(&state.db, &auth.0.scope(), &query.page).await?;
        Ok(Json(Page::from_domain(page, CustomerView::from)))
    }

    /// Gets a customer.
    #[oai(
        path = "/api/v1/customers/:id",
        method = "get",
        operation_id = "customers_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CustomerId>,
    ) -> ApiResult<Json<CustomerView>> {
        Ok(Json(
            customers::get(&state.db, &auth.0.scope(), id.0)
                .await?
                .into(),
        ))
    }

    /// Updates a customer (admin, or customer_exec of this customer).
    #[oai(
        path = "/api/v1/customers/:id",
        method = "patch",
        operation_id = "customers_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CustomerId>,
        body: JsonBody<UpdateCustomer>,
    ) -> ApiResult<Json<CustomerView>> {
        let mut patch = CustomerPatch::parse(
            body.value.name.as_deref(),
            body.value.time_zone.as_deref(),
            body.value.portal_base_url.as_deref(),
        )?;
        patch.newsletter_self_approval = body.value.newsletter_self_approval;
        Ok(Json(
            customers::update(&state.db, &auth.0, id.0, patch)
                .await?
                .into(),
        ))
    }

    /// Deletes a customer and everything it owns (admin only).
    #[oai(
        path = "/api/v1/customers/:id",
        method = "delete",
        operation_id = "customers_delete"
    )]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CustomerId>,
    ) -> ApiResult<NoContent> {
        customers::delete(&state.db, &auth.0, id.0).await?;
        Ok(NoContent::Done)
    }
}
