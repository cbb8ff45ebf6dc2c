-- One record per job: the `jobs` row is both the product's view and the
-- transport. Until now every job was also an apalis-postgres task in
-- `apalis.jobs` (same id): enqueue wrote both, every transition updated
-- both. Launchpad's own apalis backend (worker/src/runtime/queue.rs) now
-- fetches, starts, finishes, retries and rescues `jobs` rows directly, and
-- the apalis schema goes away. See README "Jobs".
--
-- Work in flight is kept: queued and retrying jobs keep their place and
-- their due time; running ones go back to the queue with the attempt they
-- were on counted (the workers running them belong to the version being
-- replaced), exactly as the orphan rescue treats a worker that stopped.

-- 1. Job ids become UUIDs, like every other id of the API (v7 from now on).
--    An earlier ULID keeps its 128 bits: its first 48 are the same
--    millisecond time stamp a UUIDv7 starts with, so ids still sort by time.
CREATE FUNCTION pg_temp.ulid_to_uuid(u text) RETURNS uuid
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    alphabet constant text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    v numeric := 0;
    h text := '';
    d int;
BEGIN
    IF u ~ '^[0-9a-fA-F-]{32,36}$' THEN
        RETURN u::uuid;
    END IF;
    FOR i IN 1..26 LOOP
        d := strpos(alphabet, upper(substr(u, i, 1))) - 1;
        IF d < 0 THEN
            RAISE EXCEPTION 'not a ULID: %', u;
        END IF;
        v := v * 32 + d;
    END LOOP;
    FOR i IN 1..32 LOOP
        h := substr('0123456789abcdef', (mod(v, 16))::int + 1, 1) || h;
        v := div(v, 16);
    END LOOP;
    RETURN h::uuid;
END
$$;

ALTER TABLE jobs ALTER COLUMN id TYPE uuid USING pg_temp.ulid_to_uuid(id);
ALTER TABLE cron_ticks ALTER COLUMN job_id TYPE uuid USING pg_temp.ulid_to_uuid(job_id);
ALTER TABLE ai_usage ALTER COLUMN job_id TYPE uuid USING pg_temp.ulid_to_uuid(job_id);
ALTER TABLE survey_ai_summaries ALTER COLUMN job_id TYPE uuid USING pg_temp.ulid_to_uuid(job_id);
ALTER TABLE cop_ai_advice ALTER COLUMN job_id TYPE uuid USING pg_temp.ulid_to_uuid(job_id);

-- 2. The transport's columns.
--    run_at: the job's place in its kind's line while it waits to run (NULL
--      once it started or ended). A job runs when run_at <= now(), in
--      (priority DESC, run_at) order. For a delayed job or a retry it is the
--      due time; for a job due now it is chosen at enqueue to interleave
--      tenants (see domain/src/jobs/enqueue.rs, "fair queueing").
--    lock_by: the worker (job_workers.id) that started the job's latest
--      attempt; kept after it ends (who ran it), so that ending a job
--      changes no indexed column and stays a HOT update.
ALTER TABLE jobs
    ADD COLUMN run_at timestamptz,
    ADD COLUMN lock_by bigint;

-- The worker processes (host and pid) with the kinds they run and their
-- heartbeats; a process silent past the orphan timeout is dead and the
-- running jobs it holds go back to the queue.
CREATE TABLE job_workers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    kinds       text[] NOT NULL,
    last_seen   timestamptz NOT NULL DEFAULT now(),
    -- Its jobs were rescued after it died (the rescue looks at each dead
    -- worker once).
    rescued     boolean NOT NULL DEFAULT false
);

-- 3. Move the work in flight.
UPDATE jobs j SET run_at = coalesce(a.run_at, j.next_attempt_at, now())
FROM apalis.jobs a
WHERE j.status = 'queued' AND j.run_at IS NULL AND pg_temp.ulid_to_uuid(a.id) = j.id
  AND a.status IN ('Pending', 'Failed');
UPDATE jobs SET run_at = coalesce(next_attempt_at, now())
WHERE status = 'queued' AND run_at IS NULL;
-- Running jobs: their workers are the old version's; the attempt counts.
UPDATE jobs SET status = 'queued', run_at = now(), updated_at = now(),
    error = jsonb_build_object(
        'code', 'worker_lost',
        'message', 'the worker running this attempt stopped (upgrade); the job runs again',
        'retryable', true)
WHERE status = 'running';

DROP SCHEMA IF EXISTS apalis CASCADE;

-- 4. Indexes. Status appears in no index (key or predicate), so ending a job
--    (running -> succeeded/failed/cancelled) is a HOT update; starting one
--    (run_at -> NULL, lock_by set) is the one transition that writes index
--    entries.
-- The line: what a fetch reads, in order.
CREATE INDEX jobs_line_idx ON jobs (kind, priority DESC, run_at) WHERE run_at IS NOT NULL;
-- A tenant's place in a kind's line (fair queueing at enqueue).
CREATE INDEX jobs_tenant_line_idx ON jobs (kind, customer_id, run_at) WHERE run_at IS NOT NULL;
-- Running jobs of a dead worker (the orphan rescue).
CREATE INDEX jobs_lock_by_idx ON jobs (lock_by) WHERE lock_by IS NOT NULL;

-- 5. A queue table churns: every job is inserted, updated twice and deleted
--    by pruning. Vacuum it early and without cost-based pauses so dead index
--    entries of started jobs do not pile up in front of the line under a big
--    backlog, and keep room on each page for HOT updates.
ALTER TABLE jobs SET (
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_vacuum_insert_threshold = 10000,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
