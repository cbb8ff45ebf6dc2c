//! Files: one storage for media, documents, transcripts and certificates.
//!
//! A file is a record (`files`) plus an object in [`storage`] under our own
//! key `{customer}/{file_id}`. Clients create the record, upload the bytes
//! (presigned PUT on S3, a signed URL on the API on local disk, or a direct
//! upload through the API), then `complete` it: a `file_process` job checks
//! the bytes (size, SHA-256, real type, media facts, thumbnail) and moves the
//! file to `ready` or `rejected`.
//!
//! Tenancy: every file belongs to a customer and is filtered through the
//! caller's [`Scope`](crate::tenancy::Scope) (another tenant's file is a 404).
//! Permissions: who may see a file follows the resource it is attached to
//! (every user of the customer may read the content, courses and lessons
//! files attach to); until attached, only its uploader and those who manage
//! the customer (admins, the customer's executives) see it.

pub mod attach;
pub mod media;
pub mod repo;
pub mod sniff;
pub mod storage;

use std::collections::HashMap;

use crate::text_enum;
use chrono::{DateTime, Utc};
use poem_openapi::Object;
use sqlx::FromRow;

use crate::{
    config::{self, ConfigError},
    error::{Error, Result, Validator},
    ids::{CustomerId, JobId, UserId},
    tenancy::Caller,
};

crate::uuid_id!(
    /// A stored file.
    FileId
);

text_enum! {
    /// What a file is for; it decides the accepted content types and the size limit.
    pub enum FilePurpose {
        /// A CoP content asset (documents, slides, media).
        Asset = "asset",
        /// The media of a video lesson.
        LessonMedia = "lesson_media",
        /// A course's thumbnail image.
        CourseThumbnail = "course_thumbnail",
        /// A coaching session's audio or video recording.
        CoachingRecording = "coaching_recording",
        /// Anything else attached to a resource (not executables).
        Attachment = "attachment",
        /// A transcript (WebVTT, SRT, text, JSON).
        Transcript = "transcript",
        /// A certificate document (PDF).
        Certificate = "certificate",
    }
}

text_enum! {
    /// Where a file is in its lifecycle.
    pub enum FileStatus {
        /// Created; the bytes may be uploaded, then `complete` called.
        Pending = "pending",
        /// `complete` was called; the `file_process` job checks the bytes.
        Processing = "processing",
        /// Checked and usable.
        Ready = "ready",
        /// The bytes were not what was declared (see `rejection_reason`).
        Rejected = "rejected",
    }
}

impl FilePurpose {
    /// Whether files of this purpose may declare `content_type`.
    pub fn accepts(self, content_type: &str) -> bool {
        let (top, _) = content_type.split_once('/').unwrap_or((content_type, ""));
        let image = matches!(
            content_type,
            "image/png" | "image/jpeg" | "image/gif" | "image/webp"
        );
        let media = top == "audio" || top == "video";
        let text =
            top == "text" || matches!(content_type, "application/json" | "application/x-subrip");
        match self {
            Self::CourseThumbnail => image,
            Self::LessonMedia | Self::CoachingRecording => media,
            Self::Transcript => text,
            Self::Certificate => content_type == "application/pdf",
            Self::Asset => {
                image
                    || media
                    || text
                    || matches!(
                        content_type,
                        "application/pdf" | "application/zip" | "application/epub+zip"
                    )
                    || content_type.starts_with("application/vnd.openxmlformats-officedocument.")
                    || content_type.starts_with("application/vnd.oasis.opendocument.")
            }
            Self::Attachment => true,
        }
    }

    /// Default size limit (`LAUNCHPAD_FILES_MAX_BYTES[_<PURPOSE>]` override).
    fn default_max_bytes(self) -> u64 {
        match self {
            Self::CourseThumbnail => 20 * 1024 * 1024,
            Self::Transcript | Self::Certificate => 100 * 1024 * 1024,
            _ => 5 * 1024 * 1024 * 1024,
        }
    }
}

/// File settings shared by the API and the worker.
#[derive(Debug, Clone)]
pub struct FilesConfig {
    pub storage: storage::StorageConfig,
    /// Size limit per purpose.
    pub max_bytes: HashMap<FilePurpose, u64>,
    /// Lifetime of upload and download URLs (`LAUNCHPAD_FILES_URL_TTL_SECS`, 900).
    pub url_ttl: std::time::Duration,
}

impl FilesConfig {
    pub fn from_env() -> std::result::Result<Self, ConfigError> {
        let global: Option<u64> = match config::optional("LAUNCHPAD_FILES_MAX_BYTES")? {
            Some(v) => Some(v.trim().parse().map_err(|_| {
                config::invalid("LAUNCHPAD_FILES_MAX_BYTES", "must be a positive integer")
            })?),
            None => None,
        };
        let mut max_bytes = HashMap::new();
        for p in FilePurpose::ALL {
            let var = format!("LAUNCHPAD_FILES_MAX_BYTES_{}", p.as_str().to_uppercase());
            let default = global.unwrap_or_else(|| p.default_max_bytes());
            let n: u64 = config::parsed_or(&var, default)?;
            if n == 0 {
                return Err(config::invalid(&var, "must be positive"));
            }
            max_bytes.insert(*p, n);
        }
        Ok(Self {
            storage: storage::StorageConfig::from_env()?,
            max_bytes,
            url_ttl: std::time::Duration::from_secs(
                config::parsed_or("LAUNCHPAD_FILES_URL_TTL_SECS", 900u64)?.clamp(10, 7 * 86400),
            ),
        })
    }

    /// Defaults with the given storage (tests).
    pub fn with_storage(storage: storage::StorageConfig) -> Self {
        Self {
            storage,
            max_bytes: FilePurpose::ALL
                .iter()
                .map(|p| (*p, p.default_max_bytes()))
                .collect(),
            url_ttl: std::time::Duration::from_secs(900),
        }
    }

    pub fn max_bytes(&self, p: FilePurpose) -> u64 {
        self.max_bytes
            .get(&p)
            .copied()
            .unwrap_or_else(|| p.default_max_bytes())
    }
}

/// A file record.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct FileRecord {
    pub id: FileId,
    pub customer_id: CustomerId,
    pub created_by: Option<UserId>,
    pub purpose: FilePurpose,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: Option<String>,
    pub status: FileStatus,
    pub uploaded_at: Option<DateTime<Utc>>,
    pub detected_type: Option<String>,
    pub facts: serde_json::Value,
    pub thumbnail_width: Option<i32>,
    pub thumbnail_height: Option<i32>,
    pub rejection_reason: Option<String>,
    pub process_job_id: Option<String>,
    pub attached_to: Option<String>,
    pub attached_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl FileRecord {
    pub fn key(&self) -> storage::ObjectKey {
        storage::ObjectKey::of(self.customer_id, self.id)
    }

    pub fn job_id(&self) -> Option<JobId> {
        self.process_job_id.as_deref().and_then(|j| j.parse().ok())
    }

    pub fn has_thumbnail(&self) -> bool {
        self.thumbnail_width.is_some()
    }
}

/// Media facts of a ready file.
#[derive(Debug, Clone, Object, PartialEq)]
pub struct MediaFactsView {
    #[oai(skip_serializing_if_is_none)]
    pub width: Option<u32>,
    #[oai(skip_serializing_if_is_none)]
    pub height: Option<u32>,
    /// Audio/video duration in milliseconds.
    #[oai(skip_serializing_if_is_none)]
    pub duration_ms: Option<u64>,
    #[oai(skip_serializing_if_is_none)]
    pub channels: Option<u16>,
    #[oai(skip_serializing_if_is_none)]
    pub sample_rate: Option<u32>,
    #[oai(skip_serializing_if_is_none)]
    pub bits_per_sample: Option<u16>,
}

/// A thumbnail made of an image file (PNG, fits in 320×320).
#[derive(Debug, Clone, Object, PartialEq)]
pub struct ThumbnailView {
    pub width: i32,
    pub height: i32,
    /// A short-lived URL of the PNG.
    #[oai(skip_serializing_if_is_none)]
    pub url: Option<String>,
}

/// A file, as the API shows it and as the `data` of `file.*` events.
#[derive(Debug, Clone, Object, PartialEq)]
pub struct FileView {
    pub id: FileId,
    pub customer_id: CustomerId,
    pub purpose: FilePurpose,
    /// The client's filename (metadata only; never part of the storage key).
    pub filename: String,
    /// The declared media type.
    pub content_type: String,
    /// The declared size in bytes.
    pub size: i64,
    #[oai(skip_serializing_if_is_none)]
    pub sha256: Option<String>,
    pub status: FileStatus,
    /// The type recognised from the bytes (once processed).
    #[oai(skip_serializing_if_is_none)]
    pub detected_type: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub facts: Option<MediaFactsView>,
    #[oai(skip_serializing_if_is_none)]
    pub thumbnail: Option<ThumbnailView>,
    /// Why the file was rejected.
    #[oai(skip_serializing_if_is_none)]
    pub rejection_reason: Option<String>,
    /// The `file_process` job, once `complete` was called.
    #[oai(skip_serializing_if_is_none)]
    pub process_job_id: Option<String>,
    /// The resource the file is attached to (`asset:{id}`, `lesson:{id}`, `course:{id}`).
    #[oai(skip_serializing_if_is_none)]
    pub attached_to: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// A short-lived URL of the content (ready files, `GET /files/{id}` only).
    #[oai(skip_serializing_if_is_none)]
    pub download_url: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub download_url_expires_at: Option<DateTime<Utc>>,
}

impl From<&FileRecord> for FileView {
    fn from(f: &FileRecord) -> Self {
        let facts: sniff::MediaFacts = serde_json::from_value(f.facts.clone()).unwrap_or_default();
        let facts = (facts != sniff::MediaFacts::default()).then_some(MediaFactsView {
            width: facts.width,
            height: facts.height,
            duration_ms: facts.duration_ms,
            channels: facts.channels,
            sample_rate: facts.sample_rate,
            bits_per_sample: facts.bits_per_sample,
        });
        Self {
            id: f.id,
            customer_id: f.customer_id,
            purpose: f.purpose,
            filename: f.filename.clone(),
            content_type: f.content_type.clone(),
            size: f.size,
            sha256: f.sha256.clone(),
            status: f.status,
            detected_type: f.detected_type.clone(),
            facts,
            thumbnail: f
                .thumbnail_width
                .zip(f.thumbnail_height)
                .map(|(width, height)| ThumbnailView {
                    width,
                    height,
                    url: None,
                }),
            rejection_reason: f.rejection_reason.clone(),
            process_job_id: f.process_job_id.clone(),
            attached_to: f.attached_to.clone(),
            created_by: f.created_by,
            created_at: f.created_at,
            updated_at: f.updated_at,
            download_url: None,
            download_url_expires_at: None,
        }
    }
}

/// The fields of `POST /files`, as received.
#[derive(Debug, Clone)]
pub struct NewFileInput {
    pub customer_id: Option<CustomerId>,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: Option<String>,
    pub purpose: FilePurpose,
}

/// A validated new file.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub customer_id: CustomerId,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: Option<String>,
    pub purpose: FilePurpose,
}

pub const FILENAME_MAX: usize = 255;

/// A filename as metadata: 1–255 characters, no path (`/`, `\`), no `..`
/// alone, no control characters (NUL included).
pub fn filename(s: &str) -> std::result::Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("must not be empty".into());
    }
    if t.chars().count() > FILENAME_MAX {
        return Err(format!("must be at most {FILENAME_MAX} characters"));
    }
    if t.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if t.contains('/') || t.contains('\\') {
        return Err("must be a name, not a path (no / or \\)".into());
    }
    if t == "." || t == ".." {
        return Err("must be a name, not . or ..".into());
    }
    Ok(t.to_string())
}

/// A media type `type/subtype` (RFC 9110 tokens; parameters dropped),
/// lower-cased.
pub fn content_type(s: &str) -> std::result::Result<String, String> {
    let essence = s
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let token = |t: &str| {
        !t.is_empty()
            && t.len() <= 127
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    match essence.split_once('/') {
        Some((t, st)) if token(t) && token(st) => Ok(essence),
        _ => Err("must be a media type type/subtype, e.g. application/pdf".into()),
    }
}

impl NewFile {
    /// Validates a new file for `caller`; `max_bytes` is the purpose's limit.
    pub fn parse(caller: &Caller, i: NewFileInput, max_bytes: u64) -> Result<Self> {
        let mut v = Validator::new();
        let customer = match i.customer_id {
            Some(c) => Some(c),
            None if caller.customer_ids.len() == 1 => Some(caller.customer_ids[0]),
            None => {
                v.push(
                    "/customer_id",
                    "is required (the caller belongs to several customers, or none)",
                );
                None
            }
        };
        let name = v.check("/filename", filename(&i.filename));
        let ct = v.check("/content_type", content_type(&i.content_type));
        if let Some(ct) = &ct
            && !i.purpose.accepts(ct)
        {
            v.push(
                "/content_type",
                format!("is not accepted for purpose {}", i.purpose.as_str()),
            );
        }
        if i.size <= 0 {
            v.push("/size", "must be at least 1 byte");
        }
        let sha = i
            .sha256
            .as_deref()
            .map(str::trim)
            .map(str::to_ascii_lowercase);
        if let Some(h) = &sha
            && !(h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            v.push("/sha256", "must be 64 hexadecimal digits");
        }
        v.finish()?;
        if i.size as u64 > max_bytes {
            return Err(Error::PayloadTooLarge {
                code: "file_too_large",
                detail: format!(
                    "size {} exceeds the limit of {max_bytes} bytes for purpose {}",
                    i.size,
                    i.purpose.as_str()
                ),
            });
        }
        Ok(Self {
            customer_id: customer.expect("checked"),
            filename: name.expect("checked"),
            content_type: ct.expect("checked"),
            size: i.size,
            sha256: sha,
            purpose: i.purpose,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_names_not_paths() {
        assert_eq!(filename("  Résumé 2026.pdf ").unwrap(), "Résumé 2026.pdf");
        for bad in [
            "",
            "../etc/passwd",
            "a/b.pdf",
            "a\\b.pdf",
            "..",
            "a\0b.pdf",
            "a\u{1b}[31m.pdf",
            "line\nbreak.txt",
        ] {
            assert!(filename(bad).is_err(), "{bad:?}");
        }
        assert!(filename(&"x".repeat(10_000)).is_err());
        assert!(filename(&"é".repeat(255)).is_ok());
    }

    #[test]
    fn content_types_are_type_slash_subtype() {
        assert_eq!(content_type("Text/VTT; charset=utf-8").unwrap(), "text/vtt");
        for bad in [
            "pdf",
            "text/",
            "/plain",
            "a/b/c",
            "text /plain",
            "te\0xt/plain",
            "",
        ] {
            assert!(content_type(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn purposes_limit_content_types() {
        assert!(FilePurpose::CourseThumbnail.accepts("image/png"));
        assert!(!FilePurpose::CourseThumbnail.accepts("application/pdf"));
        assert!(FilePurpose::LessonMedia.accepts("video/mp4"));
        assert!(!FilePurpose::LessonMedia.accepts("image/png"));
        assert!(FilePurpose::Attachment.accepts("application/x-anything"));
    }
}
