-- Job state transitions as HOT updates.
--
-- Every job is written three times (enqueue, start, finish). An UPDATE that
-- changes a column some index covers (or a partial index's predicate reads)
-- must add an entry to every index of the table; one that changes no such
-- column is a HOT update that stays on its heap page. So no index of `jobs`
-- reads the columns a transition changes (status, attempts, started_at,
-- finished_at, ...), and pages keep room for the new row versions.

-- Coalescing keys: a key is only ever set on a *queued* job; the worker
-- clears it when the job starts and cancelling clears it, so the unique index
-- no longer needs `status` in its predicate.
UPDATE jobs SET unique_key = NULL WHERE unique_key IS NOT NULL AND status <> 'queued';
DROP INDEX jobs_unique_key_idx;
CREATE UNIQUE INDEX jobs_unique_key_idx ON jobs (kind, unique_key) WHERE unique_key IS NOT NULL;

-- Queue depth comes from the transport rows (see below); listing filters by
-- status within a tenant's created_at range.
DROP INDEX jobs_kind_status_idx;
-- Pruning walks created_at (a job finishes after it is created).
DROP INDEX jobs_finished_idx;

ALTER TABLE jobs SET (fillfactor = 70);

-- apalis' schema indexes `id` and `lock_by` twice each (a unique index next
-- to the primary key, and `lidx` next to `idx_apalis_jobs_lock_by`): every
-- fetch and ack paid for four index entries too many.
DROP INDEX IF EXISTS apalis.unique_job_id;
DROP INDEX IF EXISTS apalis.lidx;

-- Jobs fetched or running per kind, for the queue metrics (the queued ones
-- are counted through apalis' own partial fetch index).
CREATE INDEX IF NOT EXISTS apalis_jobs_active_idx ON apalis.jobs (job_type)
    WHERE status IN ('Queued', 'Running');
