-- apalis' fetch (`apalis.get_jobs`) picks the next tasks with an index scan,
-- then joins them back to `apalis.jobs` for the UPDATE. For that join the
-- planner chose a hash join over a sequential scan of the whole table once
-- the queue held a few thousand rows (a batch of 128 out of 20,000 pending
-- tasks read all 20,000 rows: ~10 ms per fetch, the largest cost of a
-- drain, and it grows with the table). Handing the picked ids over as an
-- array makes the UPDATE a primary-key lookup whatever the table's size.
-- Same signature, same rows, same locking (FOR UPDATE SKIP LOCKED).
CREATE OR REPLACE FUNCTION apalis.get_jobs(
    worker_id TEXT,
    v_job_type TEXT,
    v_job_count INTEGER DEFAULT 5
)
RETURNS SETOF apalis.jobs
LANGUAGE sql
VOLATILE
AS $$
    UPDATE apalis.jobs j
    SET
        status = 'Queued',
        lock_by = worker_id,
        lock_at = now()
    WHERE j.id = ANY (ARRAY(
        SELECT id
        FROM apalis.jobs
        WHERE
            (
                status = 'Pending'
                OR (
                    status = 'Failed'
                    AND attempts < max_attempts
                )
            )
            AND run_at < now()
            AND job_type = v_job_type
        ORDER BY priority DESC, run_at ASC
        LIMIT v_job_count
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING j.*;
$$;
