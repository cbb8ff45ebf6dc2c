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

-- apalis' insert trigger sends one NOTIFY per row. `jobs::enqueue` sends one
-- per kind itself (or, on hot paths, after the commit from a connection of
-- its own), and switches the trigger off for its transaction: a NOTIFY in a
-- transaction serialises commits (see domain/src/jobs/wakeup.rs).
CREATE OR REPLACE FUNCTION apalis.notify_new_jobs() RETURNS TRIGGER AS $$
BEGIN
    IF NEW.run_at <= now()
       AND coalesce(current_setting('launchpad.defer_notify', true), '') <> 'on' THEN
        PERFORM pg_notify(
            'apalis::job::insert',
            json_build_object('job_type', NEW.job_type, 'id', NEW.id, 'run_at', NEW.run_at)::text
        );
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
