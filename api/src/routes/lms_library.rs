//! Enablement portal: the content library (items with files, a lifecycle
//! and an expiry) and the metadata hierarchy that tags items and courses.
//! Who may do what is decided in `launchpad_domain::lms::access`.

use chrono::{DateTime, Utc};
use launchpad_domain::{
    files::FileId,
    ids::{ContentItemId, CourseId, CustomerId, MetadataTermId, UserId},
    lms::{
        library::{self, ContentItem, ContentStatus, ItemFilter, ItemInput, Transition},
        metadata::{self, Term, TermInput, TermPatchInput},
    },
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::Path,
    payload::Json,
    types::{Example, MaybeUndefined},
};

use crate::types::{Created, NoContent, Page, Tag};
use crate::{body::JsonBody, problem::ApiResult, security::BearerAuth, state::SharedState};

crate::list_query! {
    /// The query of `GET /api/v1/content-items`.
    pub struct ContentItemsQuery {
        /// Only items of this customer.
        customer_id: Option<CustomerId>,
        /// Only items in this status (default: draft and approved).
        status: Option<ContentStatus>,
        /// Only items tagged with this metadata term or a term below it.
        term_id: Option<MetadataTermId>,
        /// Only items owned by this user.
        owner_id: Option<UserId>,
        /// Text contained in the title or description (case-insensitive).
        q: Option<String>,
    }
}

/// `Undefined` → keep, `null` → clear, a value → set.
fn change<T>(m: MaybeUndefined<T>) -> Option<Option<T>> {
    match m {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

fn example_customer() -> CustomerId {
    CustomerId(uuid::Uuid::from_u128(
        0x0193_5c1e_7d2a_7b11_8a3e_4f5a_6b7c_8d9e,
    ))
}

fn example_term(n: u128) -> MetadataTermId {
    MetadataTermId(uuid::Uuid::from_u128(
        0x0193_5c30_1a2b_7c3d_8e4f_5a6b_7c8d_9e00 + n,
    ))
}

fn example_file(n: u128) -> FileId {
    FileId(uuid::Uuid::from_u128(
        0x0193_5c31_4d5e_7f60_8172_8394_a5b6_c700 + n,
    ))
}

/// An item of the content library.
#[derive(Object)]
pub struct ContentItemView {
    pub id: ContentItemId,
    pub customer_id: CustomerId,
    // No doc comment: on an enum field it becomes an `allOf` that SDK
    // generators refuse (the enum's own description says it).
    pub status: ContentStatus,
    pub title: String,
    /// Free text (may be empty).
    pub description: String,
    /// Told when the item expires.
    #[oai(skip_serializing_if_is_none)]
    pub owner_id: Option<UserId>,
    /// After this the nightly job marks the item `expired`.
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The item's files (purpose `asset` or `attachment`), in order.
    pub file_ids: Vec<FileId>,
    /// Terms of the customer's metadata hierarchy.
    pub term_ids: Vec<MetadataTermId>,
    #[oai(skip_serializing_if_is_none)]
    pub created_by: Option<UserId>,
    #[oai(skip_serializing_if_is_none)]
    pub approved_by: Option<UserId>,
    #[oai(skip_serializing_if_is_none)]
    pub approved_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub deprecated_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub expired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ContentItem> for ContentItemView {
    fn from(i: ContentItem) -> Self {
        Self {
            id: i.id,
            customer_id: i.customer_id,
            status: i.status,
            title: i.title,
            description: i.description,
            owner_id: i.owner_id,
            expires_at: i.expires_at,
            file_ids: i.file_ids,
            term_ids: i.term_ids,
            created_by: i.created_by,
            approved_by: i.approved_by,
            approved_at: i.approved_at,
            deprecated_at: i.deprecated_at,
            expired_at: i.expired_at,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// A new content item; it starts as a draft.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateContentItem {
    /// The customer the item belongs to.
    pub customer_id: CustomerId,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    #[oai(skip_serializing_if_is_none, validator(max_length = 10000))]
    pub description: Option<String>,
    /// Who is told when the item expires (default: you).
    #[oai(skip_serializing_if_is_none)]
    pub owner_id: Option<UserId>,
    /// When the item expires (in the future).
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Files of purpose `asset` or `attachment`, `ready`, of the same
    /// customer, not attached elsewhere; at most 20, in order.
    #[serde(default)]
    #[oai(default, validator(max_items = 20))]
    pub file_ids: Vec<FileId>,
    /// Terms of the customer's metadata hierarchy; at most 50.
    #[serde(default)]
    #[oai(default, validator(max_items = 50))]
    pub term_ids: Vec<MetadataTermId>,
}

impl Example for CreateContentItem {
    fn example() -> Self {
        Self {
            customer_id: example_customer(),
            title: "Lakehouse pitch deck".into(),
            description: Some("The approved deck for first meetings.".into()),
            owner_id: None,
            expires_at: Some("2027-06-30T00:00:00Z".parse().expect("a time")),
            file_ids: vec![example_file(1)],
            term_ids: vec![example_term(2)],
        }
    }
}

/// Changes to a content item; absent fields stay, `null` clears optional ones.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateContentItem {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Option<String>,
    #[oai(validator(max_length = 10000))]
    pub description: Option<String>,
    #[serde(default)]
    pub owner_id: MaybeUndefined<UserId>,
    #[serde(default)]
    pub expires_at: MaybeUndefined<DateTime<Utc>>,
    /// Replaces the files (files left out are detached).
    #[oai(validator(max_items = 20))]
    pub file_ids: Option<Vec<FileId>>,
    /// Replaces the terms.
    #[oai(validator(max_items = 50))]
    pub term_ids: Option<Vec<MetadataTermId>>,
}

impl Example for UpdateContentItem {
    fn example() -> Self {
        Self {
            title: None,
            description: None,
            owner_id: MaybeUndefined::Undefined,
            expires_at: MaybeUndefined::Value("2027-12-31T00:00:00Z".parse().expect("a time")),
            file_ids: Some(vec![example_file(1), example_file(2)]),
            term_ids: None,
        }
    }
}

/// A term of a customer's metadata hierarchy.
#[derive(Object)]
pub struct MetadataTermView {
    pub id: MetadataTermId,
    pub customer_id: CustomerId,
    /// The level or facet (`product_suite`, `concept`, ...).
    pub group_key: String,
    /// The term above (absent at the top).
    #[oai(skip_serializing_if_is_none)]
    pub parent_id: Option<MetadataTermId>,
    pub name: String,
    /// Siblings are listed by it, then by name.
    pub sort_order: i32,
    /// `#rrggbb`.
    #[oai(skip_serializing_if_is_none)]
    pub color: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Term> for MetadataTermView {
    fn from(t: Term) -> Self {
        Self {
            id: t.id,
            customer_id: t.customer_id,
            group_key: t.group_key,
            parent_id: t.parent_id,
            name: t.name,
            sort_order: t.sort_order,
            color: t.color,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// Every term of a customer (at most 2,000), by group, sort order and name.
#[derive(Object)]
pub struct MetadataTerms {
    pub items: Vec<MetadataTermView>,
}

/// A new term.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateMetadataTerm {
    /// 1–50 characters of `a-z`, `0-9` and `_`, starting with a letter.
    #[oai(validator(min_length = 1, max_length = 50))]
    pub group_key: String,
    /// The term above (the same customer's).
    #[oai(skip_serializing_if_is_none)]
    pub parent_id: Option<MetadataTermId>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    #[oai(skip_serializing_if_is_none)]
    pub sort_order: Option<i64>,
    /// `#rrggbb`.
    #[oai(skip_serializing_if_is_none, validator(max_length = 7))]
    pub color: Option<String>,
}

impl Example for CreateMetadataTerm {
    fn example() -> Self {
        Self {
            group_key: "concept".into(),
            parent_id: Some(example_term(1)),
            name: "Delta Live Tables".into(),
            sort_order: Some(10),
            color: Some("#1b3a5c".into()),
        }
    }
}

/// Changes to a term; absent fields stay; `parent_id: null` moves it to the top.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateMetadataTerm {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: Option<String>,
    pub sort_order: Option<i64>,
    #[oai(validator(max_length = 7))]
    pub color: Option<String>,
    #[serde(default)]
    pub parent_id: MaybeUndefined<MetadataTermId>,
}

impl Example for UpdateMetadataTerm {
    fn example() -> Self {
        Self {
            name: Some("Lakeflow Declarative Pipelines".into()),
            sort_order: None,
            color: None,
            parent_id: MaybeUndefined::Undefined,
        }
    }
}

/// The metadata terms of a course: every term replaces the previous ones.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CourseTerms {
    #[oai(validator(max_items = 50))]
    pub term_ids: Vec<MetadataTermId>,
}

impl Example for CourseTerms {
    fn example() -> Self {
        Self {
            term_ids: vec![example_term(1), example_term(2)],
        }
    }
}

pub struct LibraryApi;

#[OpenApi(tag = "Tag::Library")]
impl LibraryApi {
    /// Creates a draft content item (contributors: admin, internal,
    /// customer_exec of the customer). Its files are attached to it.
    #[oai(
        path = "/api/v1/content-items",
        method = "post",
        operation_id = "content_items_create"
    )]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<CreateContentItem>,
    ) -> ApiResult<Created<ContentItemView>> {
        let b = body.value;
        let fields = ItemInput {
            title: Some(b.title),
            description: b.description,
            owner_id: b.owner_id.map(Some),
            expires_at: b.expires_at.map(Some),
            file_ids: Some(b.file_ids),
            term_ids: Some(b.term_ids),
        }
        .parse(true, Utc::now())?;
        let item = library::create(&state.db, &auth.0, b.customer_id, fields).await?;
        Ok(Created::Created(Json(item.into())))
    }

    /// Lists content items, newest first. Viewers see approved items only;
    /// deprecated and expired items are left out unless asked for by `status`.
    #[oai(
        path = "/api/v1/content-items",
        method = "get",
        operation_id = "content_items_list"
    )]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: ContentItemsQuery,
    ) -> ApiResult<Json<Page<ContentItemView>>> {
        let filter = ItemFilter {
            customer_id: query.customer_id,
            status: query.status,
            term_id: query.term_id,
            owner_id: query.owner_id,
            q: query.q,
        }
        .parse()?;
        let page = library::list(&state.db, &auth.0, &filter, &query.page).await?;
        Ok(Json(Page::from_domain(page, ContentItemView::from)))
    }

    /// Gets a content item (items that are not approved are 404 for viewers).
    #[oai(
        path = "/api/v1/content-items/:item_id",
        method = "get",
        operation_id = "content_items_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        item_id: Path<ContentItemId>,
    ) -> ApiResult<Json<ContentItemView>> {
        Ok(Json(
            library::get(&state.db, &auth.0, item_id.0).await?.into(),
        ))
    }

    /// Updates a content item: contributors edit drafts; approved,
    /// deprecated and expired items need an approver (admin, customer_exec
    /// of the customer).
    #[oai(
        path = "/api/v1/content-items/:item_id",
        method = "patch",
        operation_id = "content_items_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        item_id: Path<ContentItemId>,
        body: JsonBody<UpdateContentItem>,
    ) -> ApiResult<Json<ContentItemView>> {
        let b = body.value;
        let fields = ItemInput {
            title: b.title,
            description: b.description,
            owner_id: change(b.owner_id),
            expires_at: change(b.expires_at),
            file_ids: b.file_ids,
            term_ids: b.term_ids,
        }
        .parse(false, Utc::now())?;
        Ok(Json(
            library::update(&state.db, &auth.0, item_id.0, fields)
                .await?
                .into(),
        ))
    }

    /// Deletes a content item (contributors delete drafts, approvers any);
    /// its files are detached.
    #[oai(
        path = "/api/v1/content-items/:item_id",
        method = "delete",
        operation_id = "content_items_delete"
    )]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        item_id: Path<ContentItemId>,
    ) -> ApiResult<NoContent> {
        library::delete(&state.db, &auth.0, item_id.0).await?;
        Ok(NoContent::Done)
    }

    /// Approves a draft, expired or deprecated item; its `expires_at`, if
    /// any, must lie ahead (approvers: admin, customer_exec of the customer).
    #[oai(
        path = "/api/v1/content-items/:item_id/approve",
        method = "post",
        operation_id = "content_items_approve"
    )]
    async fn approve(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        item_id: Path<ContentItemId>,
    ) -> ApiResult<Json<ContentItemView>> {
        let item = library::transition(&state.db, &auth.0, item_id.0, Transition::Approve).await?;
        Ok(Json(item.into()))
    }

    /// Deprecates an item: viewers no longer see it (approvers: admin,
    /// customer_exec of the customer).
    #[oai(
        path = "/api/v1/content-items/:item_id/deprecate",
        method = "post",
        operation_id = "content_items_deprecate"
    )]
    async fn deprecate(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        item_id: Path<ContentItemId>,
    ) -> ApiResult<Json<ContentItemView>> {
        let item =
            library::transition(&state.db, &auth.0, item_id.0, Transition::Deprecate).await?;
        Ok(Json(item.into()))
    }

    /// Creates a term of the customer's metadata hierarchy (contributors:
    /// admin, internal, customer_exec of the customer).
    #[oai(
        path = "/api/v1/customers/:customer_id/metadata-terms",
        method = "post",
        operation_id = "metadata_terms_create"
    )]
    async fn create_term(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        customer_id: Path<CustomerId>,
        body: JsonBody<CreateMetadataTerm>,
    ) -> ApiResult<Created<MetadataTermView>> {
        let b = body.value;
        let term = TermInput {
            group_key: b.group_key,
            parent_id: b.parent_id,
            name: b.name,
            sort_order: b.sort_order,
            color: b.color,
        }
        .parse()?;
        let term = metadata::create(&state.db, &auth.0, customer_id.0, term).await?;
        Ok(Created::Created(Json(term.into())))
    }

    /// Every term of the customer's metadata hierarchy (anyone in the customer).
    #[oai(
        path = "/api/v1/customers/:customer_id/metadata-terms",
        method = "get",
        operation_id = "metadata_terms_list"
    )]
    async fn list_terms(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        customer_id: Path<CustomerId>,
    ) -> ApiResult<Json<MetadataTerms>> {
        let terms = metadata::list(&state.db, &auth.0, customer_id.0).await?;
        Ok(Json(MetadataTerms {
            items: terms.into_iter().map(MetadataTermView::from).collect(),
        }))
    }

    /// Changes a term (contributors). A new parent must be the same
    /// customer's, and not the term itself or a term below it.
    #[oai(
        path = "/api/v1/metadata-terms/:term_id",
        method = "patch",
        operation_id = "metadata_terms_update"
    )]
    async fn update_term(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        term_id: Path<MetadataTermId>,
        body: JsonBody<UpdateMetadataTerm>,
    ) -> ApiResult<Json<MetadataTermView>> {
        let b = body.value;
        let patch = TermPatchInput {
            name: b.name,
            sort_order: b.sort_order,
            color: b.color,
            parent_id: change(b.parent_id),
        }
        .parse()?;
        Ok(Json(
            metadata::update(&state.db, &auth.0, term_id.0, patch)
                .await?
                .into(),
        ))
    }

    /// Deletes a term without terms below it; items and courses lose the
    /// tag (approvers: admin, customer_exec of the customer).
    #[oai(
        path = "/api/v1/metadata-terms/:term_id",
        method = "delete",
        operation_id = "metadata_terms_delete"
    )]
    async fn delete_term(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        term_id: Path<MetadataTermId>,
    ) -> ApiResult<NoContent> {
        metadata::delete(&state.db, &auth.0, term_id.0).await?;
        Ok(NoContent::Done)
    }

    /// Replaces a course's metadata terms (the course's edit rights:
    /// contributors for drafts, approvers otherwise).
    #[oai(
        path = "/api/v1/courses/:course_id/terms",
        method = "put",
        operation_id = "courses_set_terms"
    )]
    async fn set_course_terms(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        course_id: Path<CourseId>,
        body: JsonBody<CourseTerms>,
    ) -> ApiResult<Json<CourseTerms>> {
        let ids = metadata::set_course_terms(&state.db, &auth.0, course_id.0, &body.value.term_ids)
            .await?;
        Ok(Json(CourseTerms { term_ids: ids }))
    }
}
