//! Champions: members of a CoP recognised with a title for a period.

use chrono::{DateTime, NaiveDate, Utc};
use launchpad_domain::{
    ids::{ChampionId, CopId, UserId},
    portal::champions::{self, Champion, ChampionPatch, NewChampion},
};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::Example};

use crate::list_query::Paging;
use crate::types::{Created, NoContent, Page, Tag};
use crate::{body::JsonBody, problem::ApiResult, security::BearerAuth, state::SharedState};

pub struct ChampionsApi;

/// A champion recognition.
#[derive(Object)]
#[oai(example)]
pub struct ChampionView {
    pub id: ChampionId,
    pub cop_id: CopId,
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    /// E.g. "Champion of the quarter".
    pub title: String,
    /// First day of the period (YYYY-MM-DD).
    pub period_start: NaiveDate,
    /// Last day of the period, inclusive (YYYY-MM-DD).
    pub period_end: NaiveDate,
    #[oai(skip_serializing_if_is_none)]
    pub recognised_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

impl Example for ChampionView {
    fn example() -> Self {
        Self {
            id: ChampionId(uuid::Uuid::from_u128(
                0x0193_5c24_5f60_7177_9081_92a3_b4c5_d6e7,
            )),
            cop_id: CopId(uuid::Uuid::from_u128(
                0x0193_5c22_3d4e_7f55_8e6f_7081_92a3_b4c5,
            )),
            user_id: UserId(uuid::Uuid::from_u128(
                0x0193_5c20_1b2c_7d33_8c5d_6e7f_8091_a2b3,
            )),
            email: "ana.silva@acme.example".into(),
            name: "Ana Silva".into(),
            title: "Champion of the quarter".into(),
            period_start: example_date(2026, 10, 1),
            period_end: example_date(2026, 12, 31),
            recognised_by: Some(UserId(uuid::Uuid::from_u128(
                0x0193_5c20_1b2c_7d33_8c5d_6e7f_8091_a2c4,
            ))),
            created_at: chrono::DateTime::parse_from_rfc3339("2026-10-02T09:00:00Z")
                .map(|d| d.with_timezone(&chrono::Utc))
                .unwrap_or_default(),
        }
    }
}

impl From<Champion> for ChampionView {
    fn from(c: Champion) -> Self {
        Self {
            id: c.id,
            cop_id: c.cop_id,
            user_id: c.user_id,
            email: c.email,
            name: c.name,
            title: c.title,
            period_start: c.period_start,
            period_end: c.period_end,
            recognised_by: c.recognised_by,
            created_at: c.created_at,
        }
    }
}

/// Recognises a member of the CoP.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateChampion {
    pub user_id: UserId,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    /// YYYY-MM-DD.
    pub period_start: NaiveDate,
    /// YYYY-MM-DD, not before `period_start`.
    pub period_end: NaiveDate,
}

fn example_date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

impl Example for CreateChampion {
    fn example() -> Self {
        Self {
            user_id: UserId(uuid::Uuid::from_u128(
                0x0193_5c20_1b2c_7d33_8c5d_6e7f_8091_a2b3,
            )),
            title: "Champion of the quarter".into(),
            period_start: example_date(2026, 10, 1),
            period_end: example_date(2026, 12, 31),
        }
    }
}

/// Changes to a recognition; absent fields stay. The period must not end
/// before it starts. The member cannot change: remove the recognition and
/// recognise someone else.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateChampion {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Option<String>,
    /// YYYY-MM-DD.
    pub period_start: Option<NaiveDate>,
    /// YYYY-MM-DD.
    pub period_end: Option<NaiveDate>,
}

impl Example for UpdateChampion {
    fn example() -> Self {
        Self {
            title: Some("Champion of the half-year".into()),
            period_start: None,
            period_end: Some(example_date(2027, 3, 31)),
        }
    }
}

#[OpenApi(tag = "Tag::Champions")]
impl ChampionsApi {
    /// Recognises a member as a champion for a period.
    #[oai(
        path = "/api/v1/cops/:cop_id/champions",
        method = "post",
        operation_id = "champions_create"
    )]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        body: JsonBody<CreateChampion>,
    ) -> ApiResult<Created<ChampionView>> {
        let b = body.value;
        let input = NewChampion::parse(b.user_id, &b.title, b.period_start, b.period_end)?;
        Ok(Created::Created(Json(
            champions::recognise(&state.db, &auth.0, cop_id.0, input)
                .await?
                .into(),
        )))
    }

    /// Lists a CoP's champions, most recent period first.
    #[oai(
        path = "/api/v1/cops/:cop_id/champions",
        method = "get",
        operation_id = "champions_list"
    )]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        query: Paging,
    ) -> ApiResult<Json<Page<ChampionView>>> {
        let page = champions::list(&state.db, &auth.0, cop_id.0, &query.page).await?;
        Ok(Json(Page::from_domain(page, ChampionView::from)))
    }
    /// Gets a champion recognition.
    #[oai(
        path = "/api/v1/champions/:champion_id",
        method = "get",
        operation_id = "champions_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        champion_id: Path<ChampionId>,
    ) -> ApiResult<Json<ChampionView>> {
        Ok(Json(
            champions::get(&state.db, &auth.0, champion_id.0)
                .await?
                .into(),
        ))
    }

    /// Changes a recognition's title or period (those who manage the CoP).
    #[oai(
        path = "/api/v1/champions/:champion_id",
        method = "patch",
        operation_id = "champions_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        champion_id: Path<ChampionId>,
        body: JsonBody<UpdateChampion>,
    ) -> ApiResult<Json<ChampionView>> {
        let b = body.value;
        let patch = ChampionPatch::parse(b.title.as_deref(), b.period_start, b.period_end)?;
        Ok(Json(
            champions::update(&state.db, &auth.0, champion_id.0, patch)
                .await?
                .into(),
        ))
    }

    /// Removes a champion recognition (those who manage the CoP).
    #[oai(
        path = "/api/v1/champions/:champion_id",
        method = "delete",
        operation_id = "champions_delete"
    )]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        champion_id: Path<ChampionId>,
    ) -> ApiResult<NoContent> {
        champions::delete(&state.db, &auth.0, champion_id.0).await?;
        Ok(NoContent::Done)
    }
}
