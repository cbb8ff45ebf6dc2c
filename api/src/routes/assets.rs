//! The content library of a CoP, and engagement with it.

use chrono::{DateTime, Utc};
use launchpad_domain::{
    files::FileId,
    ids::{AssetId, CopId, UserId},
    portal::assets::{
        self, Asset, AssetData, AssetFilter, AssetKind, AssetLevel, AssetPatch, Engagement,
        EngagementAction, NewAssetInput,
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
    /// The query of `GET /api/v1/cops/{cop_id}/assets`.
    pub struct AssetsQuery {
        /// Only assets of this kind.
        kind: Option<AssetKind>,
        /// Only assets for this persona.
        persona: Option<String>,
        /// Only assets of this level.
        level: Option<AssetLevel>,
        /// Only assets on this topic.
        topic: Option<String>,
        /// Only assets with this tag (case-insensitive).
        tag: Option<String>,
    }
}

pub struct AssetsApi;

/// A content asset, with its engagement counts.
#[derive(Object)]
pub struct AssetView {
    pub id: AssetId,
    pub cop_id: CopId,
    pub kind: AssetKind,
    pub title: String,
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
    pub url: String,
    /// The audience, e.g. `data_engineer`.
    #[oai(skip_serializing_if_is_none)]
    pub persona: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub level: Option<AssetLevel>,
    #[oai(skip_serializing_if_is_none)]
    pub topic: Option<String>,
    /// Lower-case tags.
    pub tags: Vec<String>,
    /// A stored file carried besides the URL (`PUT /assets/{id}/file`).
    #[oai(skip_serializing_if_is_none)]
    pub file_id: Option<FileId>,
    #[oai(skip_serializing_if_is_none)]
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub views: i64,
    pub downloads: i64,
    pub likes: i64,
}

impl From<Asset> for AssetView {
    fn from(a: Asset) -> Self {
        Self {
            id: a.id,
            cop_id: a.cop_id,
            kind: a.kind,
            title: a.title,
            description: a.description,
            url: a.url,
            persona: a.persona,
            level: a.level,
            topic: a.topic,
            tags: a.tags,
            file_id: a.file_id,
            created_by: a.created_by,
            created_at: a.created_at,
            updated_at: a.updated_at,
            views: a.views,
            downloads: a.downloads,
            likes: a.likes,
        }
    }
}

/// A new content asset.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateAsset {
    pub kind: AssetKind,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    #[oai(skip_serializing_if_is_none, validator(max_length = 10000))]
    pub description: Option<String>,
    /// An http(s) URL.
    #[oai(validator(max_length = 2048))]
    pub url: String,
    #[oai(
        skip_serializing_if_is_none,
        validator(min_length = 1, max_length = 100)
    )]
    pub persona: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub level: Option<AssetLevel>,
    #[oai(
        skip_serializing_if_is_none,
        validator(min_length = 1, max_length = 100)
    )]
    pub topic: Option<String>,
    /// At most 20 tags of 1–50 characters (stored lower-case).
    #[serde(default)]
    #[oai(default, validator(max_items = 20))]
    pub tags: Vec<String>,
}

impl Example for CreateAsset {
    fn example() -> Self {
        Self {
            kind: AssetKind::Notebook,
            title: "Delta Live Tables starter".into(),
            description: None,
            url: "https://docs.example.com/dlt-starter".into(),
            persona: Some("data_engineer".into()),
            level: Some(AssetLevel::Beginner),
            topic: Some("pipelines".into()),
            tags: vec!["dlt".into(), "streaming".into()],
        }
    }
}

/// Changes to an asset; absent fields stay, `null` clears optional ones.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateAsset {
    pub kind: Option<AssetKind>,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Option<String>,
    #[serde(default)]
    pub description: MaybeUndefined<String>,
    #[oai(validator(max_length = 2048))]
    pub url: Option<String>,
    #[serde(default)]
    pub persona: MaybeUndefined<String>,
    #[serde(default)]
    pub level: MaybeUndefined<AssetLevel>,
    #[serde(default)]
    pub topic: MaybeUndefined<String>,
    pub tags: Option<Vec<String>>,
}

impl Example for UpdateAsset {
    fn example() -> Self {
        Self {
            kind: None,
            title: Some("Delta Live Tables starter (2026 edition)".into()),
            description: MaybeUndefined::Null,
            url: None,
            persona: MaybeUndefined::Undefined,
            level: MaybeUndefined::Value(AssetLevel::Intermediate),
            topic: MaybeUndefined::Undefined,
            tags: Some(vec!["dlt".into(), "streaming".into(), "quality".into()]),
        }
    }
}

/// Records an engagement of the caller with an asset.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateEngagement {
    pub action: EngagementAction,
}

impl Example for CreateEngagement {
    fn example() -> Self {
        Self {
            action: EngagementAction::View,
        }
    }
}

/// One engagement (append-only).
#[derive(Object)]
#[oai(example)]
pub struct EngagementView {
    pub id: i64,
    pub asset_id: AssetId,
    pub user_id: UserId,
    pub action: EngagementAction,
    pub at: DateTime<Utc>,
}

impl Example for EngagementView {
    fn example() -> Self {
        Self {
            id: 4211,
            asset_id: AssetId(uuid::Uuid::from_u128(
                0x0193_5c27_8293_74aa_b3b4_c5d6_e7f8_091a,
            )),
            user_id: UserId(uuid::Uuid::from_u128(
                0x0193_5c20_1b2c_7d33_8c5d_6e7f_8091_a2b3,
            )),
            action: EngagementAction::Download,
            at: chrono::DateTime::parse_from_rfc3339("2026-11-18T14:22:00Z")
                .map(|d| d.with_timezone(&chrono::Utc))
                .unwrap_or_default(),
        }
    }
}

impl From<Engagement> for EngagementView {
    fn from(e: Engagement) -> Self {
        Self {
            id: e.id,
            asset_id: e.asset_id,
            user_id: e.user_id,
            action: e.action,
            at: e.at,
        }
    }
}

#[OpenApi(tag = "Tag::Content")]
impl AssetsApi {
    /// Adds a content asset to a CoP's library.
    #[oai(
        path = "/api/v1/cops/:cop_id/assets",
        method = "post",
        operation_id = "assets_create"
    )]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        body: JsonBody<CreateAsset>,
    ) -> ApiResult<Created<AssetView>> {
        let b = body.value;
        let data = AssetData::parse(NewAssetInput {
            kind: b.kind,
            title: b.title,
            description: b.description,
            url: b.url,
            persona: b.persona,
            level: b.level,
            topic: b.topic,
            tags: b.tags,
        })?;
        Ok(Created::Created(Json(
            assets::create(&state.db, &auth.0, cop_id.0, data)
                .await?
                .into(),
        )))
    }

    /// Lists a CoP's assets, newest first.
    #[oai(
        path = "/api/v1/cops/:cop_id/assets",
        method = "get",
        operation_id = "assets_list"
    )]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        query: AssetsQuery,
    ) -> ApiResult<Json<Page<AssetView>>> {
        let filter = AssetFilter {
            kind: query.kind,
            persona: query.persona,
            level: query.level,
            topic: query.topic,
            tag: query.tag,
        };
        let page = assets::list(&state.db, &auth.0, cop_id.0, &filter, &query.page).await?;
        Ok(Json(Page::from_domain(page, AssetView::from)))
    }

    /// Gets an asset.
    #[oai(
        path = "/api/v1/assets/:asset_id",
        method = "get",
        operation_id = "assets_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        asset_id: Path<AssetId>,
    ) -> ApiResult<Json<AssetView>> {
        Ok(Json(
            assets::get(&state.db, &auth.0, asset_id.0).await?.into(),
        ))
    }

    /// Updates an asset.
    #[oai(
        path = "/api/v1/assets/:asset_id",
        method = "patch",
        operation_id = "assets_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        asset_id: Path<AssetId>,
        body: JsonBody<UpdateAsset>,
    ) -> ApiResult<Json<AssetView>> {
        let b = body.value;
        let patch = AssetPatch {
            kind: b.kind,
            title: b.title,
            description: b.description.into(),
            url: b.url,
            persona: b.persona.into(),
            level: b.level.into(),
            topic: b.topic.into(),
            tags: b.tags,
        };
        Ok(Json(
            assets::update(&state.db, &auth.0, asset_id.0, patch)
                .await?
                .into(),
        ))
    }

    /// Removes an asset from the library (its engagement history is kept).
    #[oai(
        path = "/api/v1/assets/:asset_id",
        method = "delete",
        operation_id = "assets_delete"
    )]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        asset_id: Path<AssetId>,
    ) -> ApiResult<NoContent> {
        assets::delete(&state.db, &auth.0, asset_id.0).await?;
        Ok(NoContent::Done)
    }

    /// Records that the caller viewed, downloaded or liked an asset
    /// (members of its CoP). Appended, never updated.
    #[oai(
        path = "/api/v1/assets/:asset_id/engagement",
        method = "post",
        operation_id = "assets_engage"
    )]
    async fn engage(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        asset_id: Path<AssetId>,
        body: JsonBody<CreateEngagement>,
    ) -> ApiResult<Created<EngagementView>> {
        let e = assets::engage(&state.db, &auth.0, asset_id.0, body.value.action).await?;
        Ok(Created::Created(Json(e.into())))
    }
}
