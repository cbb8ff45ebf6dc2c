//! `files_cleanup` (nightly) deletes orphans — files nobody attached in
//! time — with their objects, finishes removals a lost `file_delete` left,
//! and removes objects that no record references (a crash between upload
//! and record).

use chrono::Utc;
use futures::StreamExt;
use launchpad_domain::{
    files::{FileId, repo, storage::Storage},
    jobs::Failure,
    kinds::{FilesCleanup, FilesCleanupOutput, FilesCleanupPayload},
};
use object_store::ObjectStoreExt;

use crate::{
    jobs::file_delete::{purge, storage_failure},
    runtime::{Handler, JobContext},
};

const BATCH: i64 = 500;

impl Handler for FilesCleanup {
    async fn run(ctx: &JobContext, p: FilesCleanupPayload) -> Result<FilesCleanupOutput, Failure> {
        let storage = ctx.services.storage.as_ref();
        let mut out = FilesCleanupOutput::default();
        let orphan_before = Utc::now() - chrono::Duration::hours(p.orphan_hours as i64);
        loop {
            let orphans = repo::delete_orphans(&ctx.db, orphan_before, BATCH).await?;
            for f in &orphans {
                purge(ctx, storage, f).await?;
            }
            out.orphans_deleted += orphans.len() as u64;
            if (orphans.len() as i64) < BATCH {
                break;
            }
            ctx.checkpoint().await?;
        }
        // Deletions whose `file_delete` job did not (yet) run: after an hour.
        let deleted_before = Utc::now() - chrono::Duration::hours(1);
        loop {
            let left = repo::unpurged(&ctx.db, deleted_before, BATCH).await?;
            for f in &left {
                purge(ctx, storage, f).await?;
            }
            out.purged += left.len() as u64;
            if (left.len() as i64) < BATCH {
                break;
            }
            ctx.checkpoint().await?;
        }
        out.stray_objects_deleted = strays(ctx, storage, p.stray_minutes).await?;
        Ok(out)
    }
}

/// Removes objects older than `minutes` whose file has no record (or a
/// purged one).
async fn strays(ctx: &JobContext, storage: &dyn Storage, minutes: u32) -> Result<u64, Failure> {
    let before = Utc::now() - chrono::Duration::minutes(minutes as i64);
    let root = storage.root();
    let mut listing = storage.objects().list(root.as_ref());
    let mut deleted = 0u64;
    let mut batch: Vec<(object_store::path::Path, FileId)> = vec![];
    loop {
        let next = listing.next().await;
        let done = next.is_none();
        if let Some(meta) = next {
            let meta = meta.map_err(storage_failure)?;
            if meta.last_modified < before
                && let Some(key) = storage.key_of(&meta.location)
            {
                batch.push((meta.location, key.file));
            }
        }
        if batch.len() >= BATCH as usize || (done && !batch.is_empty()) {
            let ids: Vec<FileId> = batch.iter().map(|(_, id)| *id).collect();
            let kept: std::collections::HashSet<FileId> =
                repo::existing(&ctx.db, &ids).await?.into_iter().collect();
            for (path, id) in batch.drain(..) {
                if !kept.contains(&id) {
                    match storage.objects().delete(&path).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                        Err(e) => return Err(storage_failure(e)),
                    }
                }
            }
            ctx.checkpoint().await?;
        }
        if done {
            break;
        }
    }
    Ok(deleted)
}
