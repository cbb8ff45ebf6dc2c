//! `file_delete`: removes a deleted file's objects (the object and its
//! thumbnail) and records the file as purged. A file that vanished or is no
//! longer deleted is left alone.

use launchpad_domain::{
    files::{
        FileRecord, repo,
        storage::{self, Storage},
    },
    jobs::Failure,
    kinds::{FileDelete, FileDeleteOutput, FileDeletePayload},
};

use crate::runtime::{Handler, JobContext};

pub(crate) fn storage_failure(e: object_store::Error) -> Failure {
    Failure::transient("storage_error", e.to_string())
}

/// Removes a file's object and thumbnail, then records it.
pub(crate) async fn purge(
    ctx: &JobContext,
    storage: &dyn Storage,
    f: &FileRecord,
) -> Result<(), Failure> {
    storage::delete(storage, &f.key())
        .await
        .map_err(storage_failure)?;
    storage::delete(storage, &f.key().thumbnail())
        .await
        .map_err(storage_failure)?;
    repo::mark_purged(&ctx.db, f.id).await?;
    Ok(())
}

impl Handler for FileDelete {
    async fn run(ctx: &JobContext, p: FileDeletePayload) -> Result<FileDeleteOutput, Failure> {
        let Some(f) = repo::fetch_any(&ctx.db, p.file_id).await? else {
            return Ok(FileDeleteOutput { purged: false });
        };
        if f.deleted_at.is_none() {
            return Ok(FileDeleteOutput { purged: false });
        }
        purge(ctx, ctx.services.storage.as_ref(), &f).await?;
        Ok(FileDeleteOutput { purged: true })
    }
}
