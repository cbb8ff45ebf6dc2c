-- Foundation: tenants (customers), users, roles and grants, refresh tokens, audit log.

CREATE TABLE customers (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    time_zone   text NOT NULL DEFAULT 'UTC',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    email          text NOT NULL,
    name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    password_hash  text NOT NULL,
    roles          text[] NOT NULL DEFAULT '{}'
                   CHECK (roles <@ ARRAY['admin','internal','customer_exec','customer_member']::text[]),
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Which customers a (non-internal) user belongs to.
CREATE TABLE user_customers (
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    customer_id  uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, customer_id)
);
CREATE INDEX user_customers_customer_idx ON user_customers (customer_id);

-- Refresh tokens: stored hashed, single use, grouped in families for reuse detection.
CREATE TABLE refresh_tokens (
    id           uuid PRIMARY KEY,
    family_id    uuid NOT NULL,
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_id     uuid,
    actor_email  text,
    action       text NOT NULL,
    target_type  text NOT NULL,
    target_id    text,
    customer_id  uuid,
    before       jsonb,
    after        jsonb,
    request_id   text,
    ip           text
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id);
