-- Monthly token budgets hold across worker processes: a request of a tenant
-- with a budget reserves its estimated tokens here before it is sent (one
-- atomic upsert that admits it only while used + reserved is under the
-- limit) and settles to its real usage afterwards, so parallel requests
-- overshoot a budget by at most one request's estimate.

-- Tokens per tenant and UTC month: settled (used) and reserved by requests
-- in flight. `used_tokens` also counts tenants without a budget (added when
-- an attempt's usage is recorded), so that a budget set mid-month starts
-- from the month's real usage.
CREATE TABLE ai_token_months (
    customer_id      uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    -- The first day of the UTC month.
    month            date NOT NULL,
    used_tokens      bigint NOT NULL DEFAULT 0 CHECK (used_tokens >= 0),
    reserved_tokens  bigint NOT NULL DEFAULT 0 CHECK (reserved_tokens >= 0),
    PRIMARY KEY (customer_id, month)
);

-- One row per request in flight (tenants with a budget only). A worker
-- killed mid-request leaves its row behind: rows past `expires_at` are
-- released when a reservation of the tenant is refused.
CREATE TABLE ai_token_reservations (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    month        date NOT NULL,
    tokens       bigint NOT NULL CHECK (tokens >= 0),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX ai_token_reservations_customer_expiry_idx ON ai_token_reservations (customer_id, expires_at);

INSERT INTO ai_token_months (customer_id, month, used_tokens)
SELECT customer_id, date_trunc('month', at AT TIME ZONE 'UTC')::date, sum(prompt_tokens + completion_tokens)
FROM ai_usage GROUP BY 1, 2;
