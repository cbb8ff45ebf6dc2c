-- apalis' `lock_by` index covers every task a worker ever locked: finished
-- tasks keep their `lock_by`. The orphan rescue that runs with every
-- heartbeat (`Running`/`Queued` tasks of dead workers) and the ack (tasks of
-- this worker, by id) then read thousands of entries per job once a queue
-- has history — measured at ~1,400 index entries read per webhook delivery.
-- Only tasks being worked on need finding by worker.
DROP INDEX IF EXISTS apalis.idx_apalis_jobs_lock_by;
CREATE INDEX IF NOT EXISTS apalis_jobs_active_lock_by_idx ON apalis.jobs (lock_by)
    WHERE status = 'Running' OR status = 'Queued';
