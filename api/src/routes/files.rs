//! Files: create a record, upload the bytes (presigned PUT on S3, a signed
//! URL on the API on local disk, or directly through the API), complete
//! (a `file_process` job checks them), download through short-lived URLs.
//! Uploads stream to storage: memory stays flat whatever the size.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use launchpad_domain::{
    Error as DomainError,
    files::{
        FileId, FilePurpose, FileRecord, FileStatus, FileView, NewFile, NewFileInput,
        attach::{self, Target},
        repo::{self, FileFilter, Usage},
        storage::{self, ObjectKey, Presign, PutError, SignatureError, StorageKind},
    },
    ids::{AssetId, CourseId, CustomerId, LessonId},
    lms::{courses, lessons},
    portal::assets as portal_assets,
    tenancy::Caller,
};
use object_store::ObjectStoreExt;
use poem::{Body, http::Method, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::{Binary, Json, Response},
    types::Example,
};

use super::{
    assets::AssetView,
    jobs::{JobAccepted, JobRequest, accept_job},
    lms_courses::{CourseView, LessonView},
};
use crate::types::{Created, NoContent, Page, Tag};
use crate::{
    body::JsonBody,
    problem::{ApiError, ApiResult, Problem},
    security::BearerAuth,
    state::{AppState, SharedState},
};

pub struct FilesApi;

crate::list_query! {
    /// The query of `GET /api/v1/files`.
    pub struct FilesQuery {
        /// Only files of this customer.
        customer_id: Option<CustomerId>,
        /// Only files of this purpose.
        purpose: Option<FilePurpose>,
        /// Only files in this status.
        status: Option<FileStatus>,
    }
}

/// Whether a request is a file upload, which streams to storage under the
/// file's own limits instead of the API's body limit.
pub fn is_streamed_upload(method: &Method, path: &str) -> bool {
    path.starts_with("/api/v1/files/")
        && ((method == Method::PUT && path.ends_with("/upload"))
            || (method == Method::POST && path.ends_with("/content")))
}

/// The bytes of a file, in the request body as they are. Any media type is
/// accepted (the file's own, as declared and signed); the spec declares
/// `application/octet-stream`, the type SDK generators know for raw bytes.
pub struct FileBytes(pub Body);

impl<'a> poem_openapi::ApiExtractor<'a> for FileBytes {
    const TYPES: &'static [poem_openapi::ApiExtractorType] =
        &[poem_openapi::ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
        let mut schema = poem_openapi::registry::MetaSchema::new("string");
        schema.format = Some("binary");
        schema.example = Some(serde_json::Value::String("%PDF-1.7 …".into()));
        Some(poem_openapi::registry::MetaRequest {
            description: None,
            content: vec![poem_openapi::registry::MetaMediaType {
                content_type: "application/octet-stream",
                schema: poem_openapi::registry::MetaSchemaRef::Inline(Box::new(schema)),
            }],
            required: true,
        })
    }

    async fn from_request(
        _request: &'a poem::Request,
        body: &mut poem::RequestBody,
        _param_opts: poem_openapi::ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(Self(body.take()?))
    }
}

/// A new file: its metadata; the bytes follow through `upload`.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateFile {
    /// The tenant; may be omitted by a caller who belongs to exactly one.
    #[oai(skip_serializing_if_is_none)]
    pub customer_id: Option<CustomerId>,
    /// The original filename (metadata only): 1–255 characters, no path.
    #[oai(validator(max_length = 10000))]
    pub filename: String,
    /// The media type, `type/subtype`; must be accepted for the purpose.
    #[oai(validator(max_length = 255))]
    pub content_type: String,
    /// Exact size in bytes (1 up to the purpose's limit).
    pub size: i64,
    /// SHA-256 of the content (64 hex digits); checked when given.
    #[oai(skip_serializing_if_is_none)]
    pub sha256: Option<String>,
    pub purpose: FilePurpose,
}

impl Example for CreateFile {
    fn example() -> Self {
        Self {
            customer_id: None,
            filename: "Onboarding deck.pdf".into(),
            content_type: "application/pdf".into(),
            size: 1_482_113,
            sha256: None,
            purpose: FilePurpose::Asset,
        }
    }
}

/// How to send the bytes: make this request (with exactly these headers)
/// before `expires_at`, then call `complete`.
#[derive(Object)]
pub struct UploadInstruction {
    /// `PUT`.
    pub method: String,
    /// A presigned URL of the object store (S3), or a signed URL on this
    /// API (local storage; relative to the API's base URL unless configured).
    pub url: String,
    /// Headers the request must carry (signed with it).
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
    /// Alternative for small clients: `POST` the bytes here with a bearer token.
    pub direct_upload_path: String,
}

/// A created file and where to upload its bytes.
#[derive(Object)]
pub struct FileCreated {
    pub file: FileView,
    pub upload: UploadInstruction,
}

/// A page of files.
type FilePage = Page<FileView>;

/// Stored files of one purpose.
#[derive(Object)]
pub struct PurposeUsageView {
    pub purpose: FilePurpose,
    pub files: i64,
    pub bytes: i64,
}

/// A tenant's stored files: declared bytes of files not deleted or
/// rejected, and the quota (absent: none).
#[derive(Object)]
pub struct StorageUsageView {
    pub customer_id: CustomerId,
    pub bytes: i64,
    pub files: i64,
    #[oai(skip_serializing_if_is_none)]
    pub quota_bytes: Option<i64>,
    pub by_purpose: Vec<PurposeUsageView>,
}

impl From<Usage> for StorageUsageView {
    fn from(u: Usage) -> Self {
        Self {
            customer_id: u.customer_id,
            bytes: u.bytes,
            files: u.files,
            quota_bytes: u.quota_bytes,
            by_purpose: u
                .by_purpose
                .into_iter()
                .map(|p| PurposeUsageView {
                    purpose: p.purpose,
                    files: p.files,
                    bytes: p.bytes,
                })
                .collect(),
        }
    }
}

/// A tenant's storage quota.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct SetStorageQuota {
    /// Bytes (declared sizes of files not deleted or rejected); `null` removes the quota.
    pub quota_bytes: Option<i64>,
}

impl Example for SetStorageQuota {
    fn example() -> Self {
        Self {
            quota_bytes: Some(50 * 1024 * 1024 * 1024),
        }
    }
}

/// The file to attach (`null` detaches the current one).
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct AttachFile {
    /// A `ready` file of the same customer, of a purpose the resource takes.
    pub file_id: Option<FileId>,
}

impl Example for AttachFile {
    fn example() -> Self {
        Self {
            file_id: Some(FileId(uuid::Uuid::from_u128(
                0x0193_5c27_8293_74aa_b3b4_c5d6_e7f8_0a1b,
            ))),
        }
    }
}

/// `302 Found` to a short-lived URL of the content.
#[derive(ApiResponse)]
pub enum Redirect {
    /// Follow `Location` (valid for minutes).
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String),
}

fn upload_path(id: FileId) -> String {
    format!("/api/v1/files/{id}/upload")
}

fn download_path(id: FileId, thumbnail: bool) -> String {
    if thumbnail {
        format!("/api/v1/files/{id}/thumbnail")
    } else {
        format!("/api/v1/files/{id}/download")
    }
}

/// Makes a signed URL absolute when the API's public URL is configured.
fn absolute(state: &AppState, url: String) -> String {
    match (&state.settings.public_url, url.starts_with('/')) {
        (Some(base), true) => format!("{base}{url}"),
        _ => url,
    }
}

fn storage_error(e: impl std::fmt::Display) -> ApiError {
    DomainError::Unavailable(format!("file storage: {e}")).into()
}

async fn upload_instruction(state: &AppState, f: &FileRecord) -> ApiResult<UploadInstruction> {
    let local_path = upload_path(f.id);
    let signed = state
        .storage
        .presign(Presign {
            put: true,
            key: &f.key(),
            local_path: &local_path,
            expires_in: state.settings.files.url_ttl,
            content_type: Some(&f.content_type),
            content_disposition: None,
        })
        .await
        .map_err(storage_error)?;
    Ok(UploadInstruction {
        method: signed.method,
        url: absolute(state, signed.url),
        headers: signed.headers.into_iter().collect(),
        expires_at: signed.expires_at,
        direct_upload_path: format!("/api/v1/files/{}/content", f.id),
    })
}

/// The file as shown to a reader: ready files carry short-lived URLs.
async fn view_with_urls(state: &AppState, f: &FileRecord) -> ApiResult<FileView> {
    let mut v = FileView::from(f);
    if f.status == FileStatus::Ready {
        let (url, expires) = download_url(state, f, false).await?;
        v.download_url = Some(url);
        v.download_url_expires_at = Some(expires);
        if let Some(t) = v.thumbnail.as_mut() {
            t.url = Some(download_url(state, f, true).await?.0);
        }
    }
    Ok(v)
}

async fn download_url(
    state: &AppState,
    f: &FileRecord,
    thumbnail: bool,
) -> ApiResult<(String, DateTime<Utc>)> {
    let key = if thumbnail {
        f.key().thumbnail()
    } else {
        f.key()
    };
    let disposition = storage::content_disposition(&f.filename);
    let content_type = if thumbnail {
        "image/png"
    } else {
        f.content_type.as_str()
    };
    let local_path = download_path(f.id, thumbnail);
    let signed = state
        .storage
        .presign(Presign {
            put: false,
            key: &key,
            local_path: &local_path,
            expires_in: state.settings.files.url_ttl,
            content_type: Some(content_type),
            content_disposition: (!thumbnail).then_some(disposition.as_str()),
        })
        .await
        .map_err(storage_error)?;
    Ok((absolute(state, signed.url), signed.expires_at))
}

fn signature_problem(e: SignatureError) -> ApiError {
    let (code, detail) = match e {
        SignatureError::Expired => (
            "url_expired",
            "the signed URL has expired; ask for a new one",
        ),
        SignatureError::Invalid => ("invalid_signature", "the URL's signature is not valid"),
    };
    ApiError::Forbidden(Json(
        Problem::new(
            poem::http::StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            Some(detail.into()),
        )
        .with_code(code),
    ))
}

/// Checks a signed URL of local storage (which S3 storage does not serve).
fn check_signed(
    state: &AppState,
    method: &str,
    path: &str,
    expires: i64,
    signature: &str,
) -> ApiResult<()> {
    if state.storage.kind() != StorageKind::Local {
        return Err(DomainError::not_found("file").into());
    }
    state
        .url_signer
        .verify(method, path, expires, signature, Utc::now())
        .map_err(signature_problem)
}

fn too_large(code: &'static str, detail: String) -> ApiError {
    DomainError::PayloadTooLarge { code, detail }.into()
}

/// Streams a request body into the file's object: at most the declared
/// size (and the purpose's limit), exactly the declared size in the end.
async fn store_body(
    state: &AppState,
    f: &FileRecord,
    body: Body,
    content_length: Option<u64>,
) -> ApiResult<()> {
    let max = state.settings.files.max_bytes(f.purpose);
    let declared = f.size as u64;
    let limit = declared.min(max);
    if content_length.is_some_and(|n| n > limit) {
        return Err(too_large(
            "file_too_large",
            format!(
                "the body has {} bytes; the file declared {declared}",
                content_length.unwrap_or(0)
            ),
        ));
    }
    let stream = body.into_bytes_stream();
    match storage::put_stream(
        state.storage.as_ref(),
        &f.key(),
        stream,
        limit,
        declared,
        &f.content_type,
    )
    .await
    {
        Ok(_) => {}
        Err(PutError::TooLarge { limit }) => {
            return Err(too_large(
                "file_too_large",
                format!(
                    "the body exceeds {limit} bytes (the declared size, within the purpose's limit); nothing was stored"
                ),
            ));
        }
        Err(PutError::TooShort { got, expected }) => {
            return Err(DomainError::unprocessable(
                "size_mismatch",
                format!(
                    "the body has {got} bytes, the file declared {expected}; nothing was stored"
                ),
            )
            .into());
        }
        Err(PutError::Body(e)) => {
            return Err(ApiError::bad_request(
                "/",
                format!("reading the body failed: {e}"),
            ));
        }
        Err(PutError::Store(e)) => return Err(storage_error(e)),
    }
    repo::mark_uploaded(&state.db, f.id).await?;
    Ok(())
}

/// A stored object as a streamed body, and its size (404 naming `what`
/// when it is gone; 503 when the storage fails).
pub(crate) async fn object_body(
    state: &AppState,
    key: &ObjectKey,
    what: &'static str,
) -> ApiResult<(Body, u64)> {
    let got = state
        .storage
        .objects()
        .get(&state.storage.path(key))
        .await
        .map_err(|e| match e {
            object_store::Error::NotFound { .. } => DomainError::not_found(what).into(),
            e => storage_error(e),
        })?;
    let size = got.meta.size;
    let stream = got
        .into_stream()
        .map_err(|e| std::io::Error::other(e.to_string()));
    Ok((Body::from_bytes_stream(stream.boxed()), size))
}

/// Streams an object with the file's type and disposition.
async fn serve_object(
    state: &AppState,
    f: &FileRecord,
    thumbnail: bool,
) -> ApiResult<Response<Binary<Body>>> {
    let key = if thumbnail {
        f.key().thumbnail()
    } else {
        f.key()
    };
    let (body, size) = object_body(state, &key, "file content").await?;
    let (ct, cd) = if thumbnail {
        ("image/png".to_string(), "inline".to_string())
    } else {
        (
            f.content_type.clone(),
            storage::content_disposition(&f.filename),
        )
    };
    Ok(Response::new(Binary(body))
        .header("content-type", ct)
        .header("content-disposition", cd)
        .header("content-length", size.to_string())
        .header("cache-control", "private, max-age=300"))
}

#[OpenApi(tag = "Tag::Files")]
impl FilesApi {
    /// Creates a file record (`pending`) and answers where to upload its
    /// bytes: a presigned `PUT` (S3) or a signed URL on the API (local
    /// storage). Then call `files_complete`.
    #[oai(path = "/api/v1/files", method = "post", operation_id = "files_create")]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<CreateFile>,
    ) -> ApiResult<Created<FileCreated>> {
        let b = body.value;
        let input = NewFileInput {
            customer_id: b.customer_id,
            filename: b.filename,
            content_type: b.content_type,
            size: b.size,
            sha256: b.sha256,
            purpose: b.purpose,
        };
        let new = NewFile::parse(&auth.0, input, state.settings.files.max_bytes(b.purpose))?;
        let f = repo::create(&state.db, &auth.0, new).await?;
        let upload = upload_instruction(&state, &f).await?;
        Ok(Created::Created(Json(FileCreated {
            file: FileView::from(&f),
            upload,
        })))
    }

    /// Lists the files the caller may see, newest first.
    #[oai(path = "/api/v1/files", method = "get", operation_id = "files_list")]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: FilesQuery,
    ) -> ApiResult<Json<FilePage>> {
        let filter = FileFilter {
            customer_id: query.customer_id,
            purpose: query.purpose,
            status: query.status,
        };
        let page = repo::list(&state.db, &auth.0, &filter, &query.page).await?;
        Ok(Json(Page::from_domain(page, |f| FileView::from(&f))))
    }

    /// Gets a file: metadata, status, media facts, and for ready files a
    /// short-lived `download_url` (and thumbnail URL).
    #[oai(
        path = "/api/v1/files/:file_id",
        method = "get",
        operation_id = "files_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        file_id: Path<FileId>,
    ) -> ApiResult<Json<FileView>> {
        let f = repo::get(&state.db, &auth.0, file_id.0).await?;
        Ok(Json(view_with_urls(&state, &f).await?))
    }

    /// Deletes a file (soft): it disappears at once; a job removes its
    /// object. An attached file must be detached first (409).
    #[oai(
        path = "/api/v1/files/:file_id",
        method = "delete",
        operation_id = "files_delete"
    )]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        file_id: Path<FileId>,
    ) -> ApiResult<NoContent> {
        repo::delete(&state.db, &auth.0, file_id.0).await?;
        Ok(NoContent::Done)
    }

    /// Uploads a pending file's bytes through the API (for small clients;
    /// the upload URL of `files_create` is the usual way). Streams to
    /// storage; more bytes than declared (or than the purpose's limit)
    /// answer 413 and nothing is kept.
    #[oai(
        path = "/api/v1/files/:file_id/content",
        method = "post",
        operation_id = "files_upload"
    )]
    async fn upload(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        file_id: Path<FileId>,
        #[oai(name = "Content-Length")] content_length: Header<Option<u64>>,
        body: FileBytes,
    ) -> ApiResult<Json<FileView>> {
        let f = repo::for_direct_upload(&state.db, &auth.0, file_id.0).await?;
        store_body(&state, &f, body.0, content_length.0).await?;
        let f = repo::get(&state.db, &auth.0, f.id).await?;
        Ok(Json(FileView::from(&f)))
    }

    /// The upload URL of local storage (signed by `files_create`; no bearer
    /// token). Same rules as `files_upload`.
    #[oai(
        path = "/api/v1/files/:file_id/upload",
        method = "put",
        operation_id = "files_upload_signed"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn upload_signed(
        &self,
        state: Data<&SharedState>,
        file_id: Path<FileId>,
        /// Expiry (unix seconds), as signed.
        expires: Query<i64>,
        signature: Query<String>,
        #[oai(name = "Content-Length")] content_length: Header<Option<u64>>,
        #[oai(name = "Content-Type")] content_type: Header<Option<String>>,
        body: FileBytes,
    ) -> ApiResult<NoContent> {
        check_signed(
            &state,
            "PUT",
            &upload_path(file_id.0),
            expires.0,
            &signature.0,
        )?;
        let f = repo::for_signed_upload(&state.db, file_id.0).await?;
        // The upload instruction's headers bind as on S3, where the content
        // type is part of the signature.
        let sent = content_type
            .0
            .as_deref()
            .map(launchpad_domain::files::content_type);
        if sent.and_then(Result::ok).as_deref() != Some(f.content_type.as_str()) {
            return Err(ApiError::Forbidden(Json(
                Problem::new(
                    poem::http::StatusCode::FORBIDDEN,
                    "forbidden",
                    "Forbidden",
                    Some(format!(
                        "the upload must carry the signed Content-Type: {}",
                        f.content_type
                    )),
                )
                .with_code("content_type_mismatch"),
            )));
        }
        store_body(&state, &f, body.0, content_length.0).await?;
        Ok(NoContent::Done)
    }

    /// Marks the upload finished: a `file_process` job checks the bytes and
    /// moves the file to `ready` or `rejected`. Calling it again answers
    /// the same job.
    #[oai(
        path = "/api/v1/files/:file_id/complete",
        method = "post",
        operation_id = "files_complete"
    )]
    async fn complete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        file_id: Path<FileId>,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
    ) -> ApiResult<JobAccepted> {
        let id = file_id.0;
        let caller: Caller = auth.0.clone();
        let path = format!("/api/v1/files/{id}/complete");
        let body = serde_json::Value::Null;
        let req = JobRequest {
            caller: &auth.0,
            tenant: None,
            idempotency_key: idempotency_key.0.as_deref(),
            path: &path,
            body: &body,
        };
        accept_job(&state, &req, move |conn| {
            Box::pin(async move { repo::complete(conn, &caller, id).await })
        })
        .await
    }

    /// Redirects (302) to a short-lived URL of a ready file's content, which
    /// answers with `Content-Disposition: attachment` and the original
    /// filename (RFC 6266).
    #[oai(
        path = "/api/v1/files/:file_id/content",
        method = "get",
        operation_id = "files_download"
    )]
    async fn download(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        file_id: Path<FileId>,
    ) -> ApiResult<Redirect> {
        let f = repo::get(&state.db, &auth.0, file_id.0).await?;
        if f.status != FileStatus::Ready {
            return Err(DomainError::conflict(
                "file_not_ready",
                format!(
                    "the file is {}; only ready files can be downloaded",
                    f.status.as_str()
                ),
            )
            .into());
        }
        Ok(Redirect::Found(download_url(&state, &f, false).await?.0))
    }

    /// The download URL of local storage (signed; no bearer token).
    #[oai(
        path = "/api/v1/files/:file_id/download",
        method = "get",
        operation_id = "files_download_signed"
    )]
    async fn download_signed(
        &self,
        state: Data<&SharedState>,
        file_id: Path<FileId>,
        /// Expiry (unix seconds), as signed.
        expires: Query<i64>,
        signature: Query<String>,
    ) -> ApiResult<Response<Binary<Body>>> {
        check_signed(
            &state,
            "GET",
            &download_path(file_id.0, false),
            expires.0,
            &signature.0,
        )?;
        let f = repo::for_signed_download(&state.db, file_id.0).await?;
        serve_object(&state, &f, false).await
    }

    /// The thumbnail URL of local storage (signed; no bearer token): a PNG.
    #[oai(
        path = "/api/v1/files/:file_id/thumbnail",
        method = "get",
        operation_id = "files_thumbnail_signed"
    )]
    async fn thumbnail_signed(
        &self,
        state: Data<&SharedState>,
        file_id: Path<FileId>,
        /// Expiry (unix seconds), as signed.
        expires: Query<i64>,
        signature: Query<String>,
    ) -> ApiResult<Response<Binary<Body>>> {
        check_signed(
            &state,
            "GET",
            &download_path(file_id.0, true),
            expires.0,
            &signature.0,
        )?;
        let f = repo::for_signed_download(&state.db, file_id.0).await?;
        if !f.has_thumbnail() {
            return Err(DomainError::not_found("thumbnail").into());
        }
        serve_object(&state, &f, true).await
    }

    /// Attaches a file (purpose `asset` or `attachment`) to a content asset,
    /// besides its URL; `null` detaches it. Those who manage the CoP's
    /// content may; the file must be the same customer's and `ready`.
    #[oai(
        path = "/api/v1/assets/:asset_id/file",
        method = "put",
        operation_id = "assets_attach_file"
    )]
    async fn attach_asset_file(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        asset_id: Path<AssetId>,
        body: JsonBody<AttachFile>,
    ) -> ApiResult<Json<AssetView>> {
        attach::set(
            &state.db,
            &auth.0,
            Target::Asset(asset_id.0),
            body.value.file_id,
        )
        .await?;
        Ok(Json(
            portal_assets::get(&state.db, &auth.0, asset_id.0)
                .await?
                .into(),
        ))
    }

    /// Sets a course's thumbnail (a `ready` file of purpose
    /// `course_thumbnail`); `null` removes it. Same rights as editing the course.
    #[oai(
        path = "/api/v1/courses/:course_id/thumbnail",
        method = "put",
        operation_id = "courses_set_thumbnail"
    )]
    async fn set_course_thumbnail(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        course_id: Path<CourseId>,
        body: JsonBody<AttachFile>,
    ) -> ApiResult<Json<CourseView>> {
        attach::set(
            &state.db,
            &auth.0,
            Target::CourseThumbnail(course_id.0),
            body.value.file_id,
        )
        .await?;
        Ok(Json(
            courses::get(&state.db, &auth.0, course_id.0).await?.into(),
        ))
    }

    /// Sets a video lesson's media (a `ready` file of purpose
    /// `lesson_media`); `null` removes it. Same rights as editing the course.
    #[oai(
        path = "/api/v1/courses/:course_id/lessons/:lesson_id/media",
        method = "put",
        operation_id = "lessons_set_media"
    )]
    async fn set_lesson_media(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        course_id: Path<CourseId>,
        lesson_id: Path<LessonId>,
        body: JsonBody<AttachFile>,
    ) -> ApiResult<Json<LessonView>> {
        attach::set(
            &state.db,
            &auth.0,
            Target::LessonMedia(course_id.0, lesson_id.0),
            body.value.file_id,
        )
        .await?;
        Ok(Json(
            lessons::get(&state.db, &auth.0, course_id.0, lesson_id.0)
                .await?
                .into(),
        ))
    }

    /// A tenant's storage usage (bytes and files by purpose) and quota.
    #[oai(
        path = "/api/v1/customers/:customer_id/storage",
        method = "get",
        operation_id = "storage_get"
    )]
    async fn storage_get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        customer_id: Path<CustomerId>,
    ) -> ApiResult<Json<StorageUsageView>> {
        Ok(Json(
            repo::usage(&state.db, &auth.0, customer_id.0).await?.into(),
        ))
    }

    /// Sets or removes a tenant's storage quota (admins). Creating a file
    /// that would exceed it answers 413.
    #[oai(
        path = "/api/v1/customers/:customer_id/storage",
        method = "put",
        operation_id = "storage_set_quota"
    )]
    async fn storage_set_quota(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        customer_id: Path<CustomerId>,
        body: JsonBody<SetStorageQuota>,
    ) -> ApiResult<Json<StorageUsageView>> {
        Ok(Json(
            repo::set_quota(&state.db, &auth.0, customer_id.0, body.value.quota_bytes)
                .await?
                .into(),
        ))
    }
}
