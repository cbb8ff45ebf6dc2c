-- The product's view of a job. The apalis task in apalis.jobs carries the same ULID.

CREATE TABLE jobs (
    id                 text PRIMARY KEY,
    customer_id        uuid REFERENCES customers(id) ON DELETE CASCADE,
    kind               text NOT NULL,
    subject            text,
    payload            jsonb NOT NULL,
    status             text NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued','running','succeeded','failed','cancelled')),
    progress           smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    progress_message   text,
    attempts           integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts       integer NOT NULL CHECK (max_attempts >= 1),
    priority           integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz,
    cancel_requested   boolean NOT NULL DEFAULT false,
    result             jsonb,
    error              jsonb,
    requested_by       uuid REFERENCES users(id) ON DELETE SET NULL,
    callback_url       text,
    unique_key         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    finished_at        timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_customer_created_idx ON jobs (customer_id, created_at DESC, id DESC);
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_kind_status_idx ON jobs (kind, status);
CREATE INDEX jobs_subject_idx ON jobs (subject) WHERE subject IS NOT NULL;
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;
-- Coalescing and once-per-tick uniqueness: one live job per (kind, unique_key).
CREATE UNIQUE INDEX jobs_unique_key_idx ON jobs (kind, unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('queued','running');
-- Cron ticks: each (kind, tick) is claimed once across all worker processes.
CREATE TABLE cron_ticks (
    kind        text NOT NULL,
    tick        timestamptz NOT NULL,
    job_id      text,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, tick)
);

-- Idempotency keys for job-creating POSTs, scoped per tenant and kept 24 h.
CREATE TABLE idempotency_keys (
    scope          text NOT NULL,
    key            text NOT NULL,
    request_hash   bytea NOT NULL,
    status         text NOT NULL DEFAULT 'in_flight' CHECK (status IN ('in_flight','done')),
    response_status smallint,
    response_body  jsonb,
    response_location text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
