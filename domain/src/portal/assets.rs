//! The content library of a CoP, and engagement with it.
//!
//! `asset_engagement (asset_id, cop_id, user_id, action, at)` is append-only
//! (a trigger refuses updates): one row per view, download or like, which
//! the KPI rollups count per day.

use crate::text_enum;
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Query};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    access::{self, Action, CopAccess},
    audit, labels, opt_text,
};
use crate::{
    error::{Error, Result, Validator},
    ids::{AssetId, CopId, UserId},
    pagination::{Keyset, Page, PageRequest},
    tenancy::Caller,
    values,
};

text_enum! {
    /// What a content asset is.
    pub enum AssetKind {
        Course = "course",
        Video = "video",
        Doc = "doc",
        Presentation = "presentation",
        Notebook = "notebook",
        Dashboard = "dashboard",
    }
}

text_enum! {
    /// The level of expertise a content asset is aimed at.
    pub enum AssetLevel {
        Beginner = "beginner",
        Intermediate = "intermediate",
        Advanced = "advanced",
    }
}

text_enum! {
    /// An engagement with a content asset.
    pub enum EngagementAction {
        View = "view",
        Download = "download",
        Like = "like",
    }
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Asset {
    pub id: AssetId,
    pub cop_id: CopId,
    pub kind: AssetKind,
    pub title: String,
    pub description: Option<String>,
    pub url: String,
    pub persona: Option<String>,
    pub level: Option<AssetLevel>,
    pub topic: Option<String>,
    pub tags: Vec<String>,
    pub file_id: Option<crate::files::FileId>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub views: i64,
    pub downloads: i64,
    pub likes: i64,
}

const COLUMNS: &str = "id, cop_id, kind, title, description, url, persona, level, topic, tags, file_id, created_by, \
    created_at, updated_at, \
    (SELECT count(*) FROM asset_engagement g WHERE g.asset_id = content_assets.id AND g.action = 'view') AS views, \
    (SELECT count(*) FROM asset_engagement g WHERE g.asset_id = content_assets.id AND g.action = 'download') AS downloads, \
    (SELECT count(*) FROM asset_engagement g WHERE g.asset_id = content_assets.id AND g.action = 'like') AS likes";

const DESCRIPTION_MAX: usize = 10_000;
const LABEL_MAX: usize = 100;

/// A validated asset (new, or an existing one after a patch).
#[derive(Debug, Clone)]
pub struct AssetData {
    pub kind: AssetKind,
    pub title: String,
    pub description: Option<String>,
    pub url: String,
    pub persona: Option<String>,
    pub level: Option<AssetLevel>,
    pub topic: Option<String>,
    pub tags: Vec<String>,
}

/// The raw fields of a new asset.
#[derive(Debug, Clone)]
pub struct NewAssetInput {
    pub kind: AssetKind,
    pub title: String,
    pub description: Option<String>,
    pub url: String,
    pub persona: Option<String>,
    pub level: Option<AssetLevel>,
    pub topic: Option<String>,
    pub tags: Vec<String>,
}

fn label(v: &mut Validator, pointer: &str, s: Option<&str>) -> Option<String> {
    s.and_then(|s| v.check(pointer, values::text(s, LABEL_MAX, false)))
}

/// Tags are compared case-insensitively: stored lower-case.
fn tags(v: &mut Validator, tags: &[String]) -> Vec<String> {
    let lower: Vec<String> = tags.iter().map(|t| t.to_lowercase()).collect();
    labels(v, "/tags", &lower, 20, 50)
}

impl AssetData {
    pub fn parse(i: NewAssetInput) -> Result<Self> {
        let mut v = Validator::new();
        let title = v.check("/title", values::name(&i.title));
        let description = opt_text(
            &mut v,
            "/description",
            i.description.as_deref(),
            DESCRIPTION_MAX,
        );
        let url = v.check("/url", values::http_url(&i.url));
        let persona = label(&mut v, "/persona", i.persona.as_deref());
        let topic = label(&mut v, "/topic", i.topic.as_deref());
        let tags = tags(&mut v, &i.tags);
        v.finish()?;
        Ok(Self {
            kind: i.kind,
            title: title.expect("checked"),
            description,
            url: url.expect("checked"),
            persona,
            level: i.level,
            topic,
            tags,
        })
    }

    fn of(a: &Asset) -> Self {
        Self {
            kind: a.kind,
            title: a.title.clone(),
            description: a.description.clone(),
            url: a.url.clone(),
            persona: a.persona.clone(),
            level: a.level,
            topic: a.topic.clone(),
            tags: a.tags.clone(),
        }
    }
}

/// A partial update, as received. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct AssetPatch {
    pub kind: Option<AssetKind>,
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub url: Option<String>,
    pub persona: Option<Option<String>>,
    pub level: Option<Option<AssetLevel>>,
    pub topic: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
}

impl AssetPatch {
    fn apply(self, cur: AssetData) -> Result<AssetData> {
        let mut v = Validator::new();
        let mut next = cur;
        if let Some(k) = self.kind {
            next.kind = k;
        }
        if let Some(t) = self.title.and_then(|t| v.check("/title", values::name(&t))) {
            next.title = t;
        }
        if let Some(d) = self.description {
            next.description = opt_text(&mut v, "/description", d.as_deref(), DESCRIPTION_MAX);
        }
        if let Some(u) = self.url.and_then(|u| v.check("/url", values::http_url(&u))) {
            next.url = u;
        }
        if let Some(p) = self.persona {
            next.persona = label(&mut v, "/persona", p.as_deref());
        }
        if let Some(l) = self.level {
            next.level = l;
        }
        if let Some(t) = self.topic {
            next.topic = label(&mut v, "/topic", t.as_deref());
        }
        if let Some(t) = self.tags {
            next.tags = tags(&mut v, &t);
        }
        v.finish()?;
        Ok(next)
    }
}

async fn fetch(conn: &mut PgConnection, id: AssetId) -> Result<Option<Asset>> {
    Ok(sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM content_assets WHERE id = $1 AND deleted_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

async fn load(conn: &mut PgConnection, caller: &Caller, id: AssetId) -> Result<(Asset, CopAccess)> {
    let asset = fetch(conn, id).await?.ok_or(Error::not_found("asset"))?;
    let a = access::load(conn, caller, asset.cop_id, "asset").await?;
    Ok((asset, a))
}

pub async fn create(db: &PgPool, caller: &Caller, cop: CopId, d: AssetData) -> Result<Asset> {
    let mut tx = db.begin().await?;
    let a = access::load(&mut tx, caller, cop, "cop").await?;
    a.require(Action::Manage)?;
    let id = AssetId::new();
    sqlx::query(
        "INSERT INTO content_assets (id, cop_id, kind, title, description, url, persona, level, topic, tags, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(cop)
    .bind(d.kind)
    .bind(&d.title)
    .bind(&d.description)
    .bind(&d.url)
    .bind(&d.persona)
    .bind(d.level)
    .bind(&d.topic)
    .bind(&d.tags)
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await?;
    let asset = fetch(&mut tx, id).await?.ok_or(Error::not_found("asset"))?;
    audit(
        &mut tx,
        caller,
        "asset.created",
        "asset",
        id.to_string(),
        a.customer_id,
        serde_json::to_value(&asset).ok(),
    )
    .await?;
    tx.commit().await?;
    Ok(asset)
}

pub async fn get(db: &PgPool, caller: &Caller, id: AssetId) -> Result<Asset> {
    let mut conn = db.acquire().await?;
    let (asset, a) = load(&mut conn, caller, id).await?;
    a.require(Action::Read)?;
    Ok(asset)
}

/// Filters of `GET /cops/{id}/assets`.
#[derive(Debug, Clone, Default)]
pub struct AssetFilter {
    pub kind: Option<AssetKind>,
    pub persona: Option<String>,
    pub level: Option<AssetLevel>,
    pub topic: Option<String>,
    /// Assets carrying this tag (case-insensitive).
    pub tag: Option<String>,
}

/// Newest first.
const NEWEST: Keyset<(DateTime<Utc>, AssetId)> = Keyset::descending(&["created_at", "id"]);

/// A CoP's assets, newest first.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    cop: CopId,
    filter: &AssetFilter,
    page: &PageRequest,
) -> Result<Page<Asset>> {
    let mut conn = db.acquire().await?;
    access::load(&mut conn, caller, cop, "cop")
        .await?
        .require(Action::Read)?;
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("content_assets")
        .and_where(Expr::col("cop_id").eq(cop.0))
        .and_where(Expr::col("deleted_at").is_null());
    if let Some(k) = filter.kind {
        q.and_where(Expr::col("kind").eq(k));
    }
    if let Some(p) = &filter.persona {
        q.and_where(Expr::col("persona").eq(p.trim()));
    }
    if let Some(l) = filter.level {
        q.and_where(Expr::col("level").eq(l));
    }
    if let Some(t) = &filter.topic {
        q.and_where(Expr::col("topic").eq(t.trim()));
    }
    if let Some(t) = &filter.tag {
        // `@>` uses the GIN index on tags. (No `[x]` here: sea-query's
        // tokenizer takes brackets for quoted identifiers and drops `$1`.)
        q.and_where(Expr::cust_with_values(
            "tags @> array_append('{}'::text[], $1::text)",
            [t.trim().to_lowercase()],
        ));
    }
    NEWEST
        .fetch(&mut *conn, q, page, |a: &Asset| (a.created_at, a.id))
        .await
}

pub async fn update(db: &PgPool, caller: &Caller, id: AssetId, patch: AssetPatch) -> Result<Asset> {
    let mut tx = db.begin().await?;
    let (cur, a) = load(&mut tx, caller, id).await?;
    a.require(Action::Manage)?;
    let d = patch.apply(AssetData::of(&cur))?;
    sqlx::query(
        "UPDATE content_assets SET kind = $2, title = $3, description = $4, url = $5, persona = $6,
             level = $7, topic = $8, tags = $9, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(d.kind)
    .bind(&d.title)
    .bind(&d.description)
    .bind(&d.url)
    .bind(&d.persona)
    .bind(d.level)
    .bind(&d.topic)
    .bind(&d.tags)
    .execute(&mut *tx)
    .await?;
    let asset = fetch(&mut tx, id).await?.ok_or(Error::not_found("asset"))?;
    audit(
        &mut tx,
        caller,
        "asset.updated",
        "asset",
        id.to_string(),
        a.customer_id,
        serde_json::to_value(&asset).ok(),
    )
    .await?;
    tx.commit().await?;
    Ok(asset)
}

/// Removes an asset from the library (soft delete: its engagement history
/// stays for the KPIs).
pub async fn delete(db: &PgPool, caller: &Caller, id: AssetId) -> Result<()> {
    let mut tx = db.begin().await?;
    let (_, a) = load(&mut tx, caller, id).await?;
    a.require(Action::Manage)?;
    sqlx::query("UPDATE content_assets SET deleted_at = now(), updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        caller,
        "asset.deleted",
        "asset",
        id.to_string(),
        a.customer_id,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One recorded engagement.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Engagement {
    pub id: i64,
    pub asset_id: AssetId,
    pub user_id: UserId,
    pub action: EngagementAction,
    pub at: DateTime<Utc>,
}

/// Appends the caller's engagement with an asset (members of its CoP).
pub async fn engage(
    db: &PgPool,
    caller: &Caller,
    id: AssetId,
    action: EngagementAction,
) -> Result<Engagement> {
    let mut conn = db.acquire().await?;
    let (asset, a) = load(&mut conn, caller, id).await?;
    a.require(Action::Participate)?;
    Ok(sqlx::query_as(
        "INSERT INTO asset_engagement (asset_id, cop_id, user_id, action) VALUES ($1, $2, $3, $4)
         RETURNING id, asset_id, user_id, action, at",
    )
    .bind(id)
    .bind(asset.cop_id)
    .bind(caller.user_id)
    .bind(action)
    .fetch_one(&mut *conn)
    .await?)
}
