//! `file_process`: checks an uploaded file and moves it to `ready` or
//! `rejected`. The object must exist with the declared size (and SHA-256,
//! when declared, which reads it all); the first bytes must be what the
//! declared type says (never an executable); media facts are read from
//! them; images get a PNG thumbnail. Without a declared SHA-256 only the
//! head of the object is read, whatever its size.

use bytes::Bytes;
use futures::StreamExt;
use launchpad_domain::files::{
    FileRecord, FileStatus, media,
    repo::{self, Processed},
    sniff::{self, MediaFacts, Sniffed},
    storage::Storage,
};
use launchpad_domain::{
    jobs::Failure,
    kinds::{FileProcess, FileProcessOutput, FileProcessPayload},
};
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload, path::Path,
};
use sha2::{Digest, Sha256};

use crate::runtime::{Handler, JobContext};

/// Bytes read to recognise a file and its media facts.
const HEAD_BYTES: u64 = 64 * 1024;
/// Bytes read from the end of an Ogg file for its last granule position.
const TAIL_BYTES: u64 = 64 * 1024;
/// An MP4 `moov` larger than this is not read (no facts then).
const MOOV_MAX: u64 = 16 * 1024 * 1024;
/// Images larger than this get no thumbnail (decoding holds them in memory).
const THUMBNAIL_SOURCE_MAX: u64 = 64 * 1024 * 1024;

fn storage_failure(e: object_store::Error) -> Failure {
    Failure::transient("storage_error", e.to_string())
}

fn output(f: &FileRecord) -> FileProcessOutput {
    FileProcessOutput {
        status: f.status.as_str().into(),
        detected_type: f.detected_type.clone(),
        rejection_reason: f.rejection_reason.clone(),
    }
}

fn deleted() -> FileProcessOutput {
    FileProcessOutput {
        status: "deleted".into(),
        detected_type: None,
        rejection_reason: None,
    }
}

impl Handler for FileProcess {
    async fn run(ctx: &JobContext, p: FileProcessPayload) -> Result<FileProcessOutput, Failure> {
        let Some(f) = repo::fetch_any(&ctx.db, p.file_id).await? else {
            return Ok(deleted());
        };
        if f.deleted_at.is_some() {
            return Ok(deleted());
        }
        if f.status != FileStatus::Processing {
            // Done already (a repeated job), or not completed.
            return Ok(output(&f));
        }
        let outcome = examine(ctx, ctx.services.storage.as_ref(), &f).await?;
        match repo::finish(&ctx.db, f.id, outcome).await? {
            Some(f) => Ok(output(&f)),
            // Deleted meanwhile (or finished by another run).
            None => match repo::fetch_any(&ctx.db, f.id).await? {
                Some(f) if f.deleted_at.is_none() => Ok(output(&f)),
                _ => Ok(deleted()),
            },
        }
    }
}

fn rejected(reason: impl Into<String>, detected: Option<Sniffed>) -> Processed {
    Processed::Rejected {
        reason: reason.into(),
        detected_type: detected.map(|s| s.mime().to_string()),
    }
}

async fn examine(
    ctx: &JobContext,
    storage: &dyn Storage,
    f: &FileRecord,
) -> Result<Processed, Failure> {
    let objects = storage.objects();
    let path = storage.path(&f.key());
    let meta = match objects.head(&path).await {
        Ok(m) => m,
        Err(object_store::Error::NotFound { .. }) => {
            return Ok(rejected("object not found: nothing was uploaded", None));
        }
        Err(e) => return Err(storage_failure(e)),
    };
    if meta.size != f.size as u64 {
        return Ok(rejected(
            format!(
                "size mismatch: {} bytes were declared, {} were stored",
                f.size, meta.size
            ),
            None,
        ));
    }
    let head = match objects.get_range(&path, 0..meta.size.min(HEAD_BYTES)).await {
        Ok(b) => b,
        Err(object_store::Error::NotFound { .. }) => {
            return Ok(rejected("object not found: nothing was uploaded", None));
        }
        Err(e) => return Err(storage_failure(e)),
    };
    let kind = sniff::sniff(&head);
    if let Err(reason) = sniff::check_declared(&f.content_type, kind) {
        return Ok(rejected(reason, kind));
    }
    if let Some(expected) = &f.sha256 {
        let mut stream = objects
            .get(&path)
            .await
            .map_err(storage_failure)?
            .into_stream();
        let mut hasher = Sha256::new();
        let mut since_check = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(storage_failure)?;
            since_check += chunk.len() as u64;
            hasher.update(&chunk);
            if since_check > 256 * 1024 * 1024 {
                since_check = 0;
                ctx.checkpoint().await?;
            }
        }
        let got = hex::encode(hasher.finalize());
        if &got != expected {
            return Ok(rejected(
                format!("sha256 mismatch: {expected} was declared, the content has {got}"),
                kind,
            ));
        }
    }
    let mut facts = media_facts(objects.as_ref(), &path, kind, &head, meta.size).await?;
    let mut thumbnail = None;
    if matches!(kind, Some(Sniffed::Png | Sniffed::Jpeg)) && meta.size <= THUMBNAIL_SOURCE_MAX {
        let bytes = objects
            .get(&path)
            .await
            .map_err(storage_failure)?
            .bytes()
            .await
            .map_err(storage_failure)?;
        let made = tokio::task::spawn_blocking(move || sniff::thumbnail(&bytes))
            .await
            .map_err(|e| Failure::transient("internal_error", e.to_string()))?;
        let t = match made {
            Ok(t) => t,
            Err(e) => {
                return Ok(rejected(format!("the image cannot be decoded: {e}"), kind));
            }
        };
        facts.width = Some(t.source_width);
        facts.height = Some(t.source_height);
        let mut attributes = Attributes::new();
        if storage.stores_content_type() {
            attributes.insert(Attribute::ContentType, "image/png".into());
        }
        objects
            .put_opts(
                &storage.path(&f.key().thumbnail()),
                PutPayload::from(t.png),
                PutOptions {
                    attributes,
                    ..Default::default()
                },
            )
            .await
            .map_err(storage_failure)?;
        thumbnail = Some((t.width, t.height));
    }
    Ok(Processed::Ready {
        detected_type: kind
            .map(Sniffed::mime)
            .unwrap_or("application/octet-stream")
            .into(),
        facts: serde_json::to_value(&facts).unwrap_or_default(),
        thumbnail,
    })
}

/// Bytes `range` of the object, from `head` (its first bytes) when they are
/// in it.
async fn read(
    objects: &dyn ObjectStore,
    path: &Path,
    head: &Bytes,
    range: std::ops::Range<u64>,
) -> Result<Bytes, Failure> {
    if range.end <= head.len() as u64 {
        return Ok(head.slice(range.start as usize..range.end as usize));
    }
    objects
        .get_range(path, range)
        .await
        .map_err(storage_failure)
}

/// Media facts: from the head, and for the formats that keep them
/// elsewhere, from ranged reads: an MP4's `moov` (often at the end; found
/// by reading the top-level box headers), an Ogg file's last page, MP3
/// frames after an ID3 tag longer than the head.
async fn media_facts(
    objects: &dyn ObjectStore,
    path: &Path,
    kind: Option<Sniffed>,
    head: &Bytes,
    size: u64,
) -> Result<MediaFacts, Failure> {
    let in_head = head.len() as u64 >= size;
    Ok(match kind {
        Some(Sniffed::Mp4) if !in_head => {
            let mut at = 0u64;
            for _ in 0..media::MP4_MAX_BOXES {
                if at.saturating_add(8) > size {
                    break;
                }
                let header = read(objects, path, head, at..size.min(at + 16)).await?;
                let Some(b) = media::mp4_box(&header, size - at) else {
                    break;
                };
                if &b.kind == b"moov" {
                    if b.len - b.header_len > MOOV_MAX {
                        break;
                    }
                    let moov = read(objects, path, head, at + b.header_len..at + b.len).await?;
                    return Ok(media::mp4_facts(&moov));
                }
                at += b.len;
            }
            MediaFacts::default()
        }
        Some(Sniffed::Ogg) if !in_head => {
            let tail = read(objects, path, head, size.saturating_sub(TAIL_BYTES)..size).await?;
            media::ogg_facts(head, &tail).unwrap_or_default()
        }
        Some(Sniffed::Mp3) if !in_head && media::id3v2_len(head) + 4096 > head.len() as u64 => {
            let start = media::id3v2_len(head);
            if start >= size {
                return Ok(MediaFacts::default());
            }
            let audio = read(objects, path, head, start..size.min(start + HEAD_BYTES)).await?;
            media::mp3_facts(&audio, size - start).unwrap_or_default()
        }
        _ => sniff::facts(kind, head, size),
    })
}
