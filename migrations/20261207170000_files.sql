-- Files: one record per stored object (local disk or S3-compatible). The
-- object key is ours ({customer}/{id}); the client's filename is metadata.
--
-- Lifecycle: pending (created; bytes may be uploaded) → processing
-- (`complete` called; a `file_process` job checks the bytes) → ready or
-- rejected (with a reason). Deleting is soft (`deleted_at`); a job then
-- removes the object and sets `purged_at`.

CREATE TABLE files (
    id                uuid PRIMARY KEY,
    customer_id       uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    created_by        uuid REFERENCES users(id) ON DELETE SET NULL,
    purpose           text NOT NULL CHECK (purpose IN
                          ('asset','lesson_media','course_thumbnail','coaching_recording','attachment','transcript','certificate')),
    filename          text NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 255),
    -- As declared by the client (type/subtype, lower case).
    content_type      text NOT NULL CHECK (char_length(content_type) BETWEEN 3 AND 255),
    size              bigint NOT NULL CHECK (size > 0),
    -- Declared SHA-256 (hex), checked by `file_process` when present.
    sha256            text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    status            text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending','processing','ready','rejected')),
    -- Set when the bytes went through the API (local URL or direct upload).
    uploaded_at       timestamptz,
    -- What the bytes are (sniffed), media facts, thumbnail.
    detected_type     text,
    facts             jsonb NOT NULL DEFAULT '{}',
    thumbnail_width   integer,
    thumbnail_height  integer,
    rejection_reason  text,
    process_job_id    text,
    -- The resource the file is attached to (`asset:{id}`, `lesson:{id}`…);
    -- a file nobody attached within 24 h is an orphan.
    attached_to       text,
    attached_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    deleted_at        timestamptz,
    -- The object (and thumbnail) are gone from storage.
    purged_at         timestamptz,
    CHECK (status <> 'rejected' OR rejection_reason IS NOT NULL),
    CHECK (purged_at IS NULL OR deleted_at IS NOT NULL)
);
-- Lists: newest first per customer, keyset on (created_at, id).
CREATE INDEX files_customer_created_idx ON files (customer_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
-- Orphans and objects to purge, for `files_cleanup`.
CREATE INDEX files_orphan_idx ON files (created_at) WHERE attached_at IS NULL AND deleted_at IS NULL;
CREATE INDEX files_unpurged_idx ON files (deleted_at) WHERE deleted_at IS NOT NULL AND purged_at IS NULL;
CREATE INDEX files_created_by_idx ON files (created_by);

-- Optional per-tenant quota on stored bytes (files not deleted or rejected).
ALTER TABLE customers ADD COLUMN storage_quota_bytes bigint CHECK (storage_quota_bytes > 0);
