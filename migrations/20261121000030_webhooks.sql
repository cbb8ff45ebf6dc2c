-- Webhooks: tenant endpoints, messages (one per event), deliveries (message x
-- endpoint, or message x one-off callback URL) and one row per HTTP attempt.
--
-- Secrets are stored as issued (`whsec_` + base64) because signing needs
-- them; encrypting them at rest is not done yet (see README, Webhooks).

CREATE TABLE webhook_endpoints (
    id                          uuid PRIMARY KEY,
    customer_id                 uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    url                         text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
    description                 text CHECK (char_length(description) <= 500),
    -- Event types delivered to this endpoint; empty = every type.
    event_types                 text[] NOT NULL DEFAULT '{}',
    secret                      text NOT NULL,
    -- During a rotation the previous secret keeps signing until it expires.
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    disabled_at                 timestamptz,
    disabled_reason             text CHECK (disabled_reason IN ('manual', 'gone', 'failing')),
    -- Start of the current run of failed attempts (NULL after a success).
    failing_since               timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL)),
    CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
);
-- Listing per tenant (newest first) and matching a tenant's enabled endpoints.
CREATE INDEX webhook_endpoints_customer_idx ON webhook_endpoints (customer_id, created_at DESC, id DESC);
CREATE INDEX webhook_endpoints_created_idx ON webhook_endpoints (created_at DESC, id DESC);

-- The secret that signs one-off `callback_url` deliveries of a tenant's jobs
-- (customer_id NULL: the platform's, for jobs without a tenant).
CREATE TABLE webhook_callback_secrets (
    id                          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id                 uuid REFERENCES customers(id) ON DELETE CASCADE,
    secret                      text NOT NULL,
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_callback_secrets_customer_key UNIQUE NULLS NOT DISTINCT (customer_id),
    CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
);

-- One event; `id` (msg_<ULID>) is the `webhook-id` of every delivery of it.
CREATE TABLE webhook_messages (
    id           text PRIMARY KEY CHECK (id ~ '^msg_[0-9A-Z]{26}$'),
    customer_id  uuid REFERENCES customers(id) ON DELETE CASCADE,
    event_type   text NOT NULL,
    -- The body sent: {"type", "timestamp", "data"}.
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_messages_customer_idx ON webhook_messages (customer_id, created_at DESC);
CREATE INDEX webhook_messages_created_idx ON webhook_messages (created_at);

-- One message to one target: an endpoint or a job's one-off callback URL.
-- A replay or recovery adds a new delivery of the same message.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    message_id       text NOT NULL REFERENCES webhook_messages(id) ON DELETE CASCADE,
    endpoint_id      uuid REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    callback_url     text,
    customer_id      uuid REFERENCES customers(id) ON DELETE CASCADE,
    -- pending: an attempt is due; succeeded: a 2xx answer; failed: stopped
    -- for good (410 Gone, endpoint disabled, cancelled); gave_up: every
    -- attempt failed.
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'succeeded', 'failed', 'gave_up')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz,
    last_attempt_at  timestamptz,
    last_status_code smallint,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((endpoint_id IS NULL) <> (callback_url IS NULL))
);
-- An endpoint's delivery log (newest first, optionally by status) and recovery
-- of its failed deliveries since a time.
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_endpoint_status_idx ON webhook_deliveries (endpoint_id, status, created_at DESC);
CREATE INDEX webhook_deliveries_message_idx ON webhook_deliveries (message_id);
CREATE INDEX webhook_deliveries_customer_idx ON webhook_deliveries (customer_id);

-- One HTTP attempt of a delivery.
CREATE TABLE webhook_attempts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id   uuid NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt       integer NOT NULL CHECK (attempt >= 1),
    at            timestamptz NOT NULL DEFAULT now(),
    status_code   smallint,
    latency_ms    integer NOT NULL CHECK (latency_ms >= 0),
    -- The first 1 kB of the response body.
    response_body text CHECK (octet_length(response_body) <= 4096),
    error         text
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt);
