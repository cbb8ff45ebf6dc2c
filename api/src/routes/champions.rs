//! Champions: members of a CoP recognised with a title for a period.

use chrono::{DateTime, NaiveDate, Utc};
use launchpad_domain::{
    ids::{ChampionId, CopId, UserId},
    portal::champions::{self, Champion, NewChampion},
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{Created, Page, Tag, limit_param};
use crate::{body::JsonBody, problem::ApiResult, security::BearerAuth, state::SharedState};

pub struct ChampionsApi;

/// A champion recognition.
#[derive(Object)]
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
pub struct CreateChampion {
    pub user_id: UserId,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    /// YYYY-MM-DD.
    pub period_start: NaiveDate,
    /// YYYY-MM-DD, not before `period_start`.
    pub period_end: NaiveDate,
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
        /// Page size, 1–200 (default 50).
        limit: Query<Option<i64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Page<ChampionView>>> {
        let page = champions::list(
            &state.db,
            &auth.0,
            cop_id.0,
            limit_param(limit.0)?,
            cursor.0.as_deref(),
        )
        .await?;
        Ok(Json(Page::from_domain(page, ChampionView::from)))
    }
}
