-- AI jobs (survey summaries, CoP advice): token accounting per job attempt,
-- optional monthly token budgets per tenant, a result cache keyed by the
-- input's hash, and the latest result per survey / CoP.

-- One row per attempt of an AI job that called the provider or hit the cache.
-- Not tied to `jobs` by a foreign key: job records are pruned after their
-- retention period, usage must still add up per month.
CREATE TABLE ai_usage (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id             text NOT NULL,
    attempt            integer NOT NULL CHECK (attempt >= 1),
    customer_id        uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    kind               text NOT NULL,
    provider           text NOT NULL,
    model              text NOT NULL,
    requests           integer NOT NULL DEFAULT 0 CHECK (requests >= 0),
    prompt_tokens      bigint NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens  bigint NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    -- Part of prompt_tokens that the provider served from its prompt cache.
    cached_tokens      bigint NOT NULL DEFAULT 0 CHECK (cached_tokens >= 0),
    cache_hit          boolean NOT NULL DEFAULT false,
    at                 timestamptz NOT NULL DEFAULT now(),
    -- A re-delivered attempt records once.
    CONSTRAINT ai_usage_attempt_key UNIQUE (job_id, attempt)
);
CREATE INDEX ai_usage_customer_at_idx ON ai_usage (customer_id, at);

-- Optional monthly token budget (prompt + completion tokens) per tenant.
CREATE TABLE ai_budgets (
    customer_id          uuid PRIMARY KEY REFERENCES customers(id) ON DELETE CASCADE,
    monthly_token_limit  bigint NOT NULL CHECK (monthly_token_limit >= 0),
    updated_by           uuid REFERENCES users(id) ON DELETE SET NULL,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_budgets_updated_by_idx ON ai_budgets (updated_by);

-- Results by input: key = sha256(tenant, kind, model, prompt version, input
-- hash). Per tenant, so that a hit never tells one tenant about another's data.
CREATE TABLE ai_cache (
    key             text PRIMARY KEY,
    customer_id     uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    kind            text NOT NULL,
    model           text NOT NULL,
    prompt_version  text NOT NULL,
    result          jsonb NOT NULL,
    hits            integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_hit_at     timestamptz
);
CREATE INDEX ai_cache_customer_idx ON ai_cache (customer_id);
CREATE INDEX ai_cache_created_idx ON ai_cache (created_at);

-- The latest successful summary of each survey (shown with its results).
CREATE TABLE survey_ai_summaries (
    survey_id   uuid PRIMARY KEY REFERENCES surveys(id) ON DELETE CASCADE,
    job_id      text NOT NULL,
    result      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The latest successful advice for each CoP.
CREATE TABLE cop_ai_advice (
    cop_id      uuid PRIMARY KEY REFERENCES cops(id) ON DELETE CASCADE,
    job_id      text NOT NULL,
    result      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
