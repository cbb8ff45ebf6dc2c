-- Account e-mails: invitations, password resets and address verification.
--
-- One table of single-use tokens for the three purposes. A token is 32
-- random bytes handed out once (in an e-mail); only its SHA-256 is stored,
-- so a copy of the table does not let anyone use a link. A token is live
-- until it is used (`used_at`), replaced by a newer one of the same purpose
-- for the same user (`revoked_at`), or `expires_at` passes.
CREATE TABLE account_tokens (
    id          uuid PRIMARY KEY,
    purpose     text NOT NULL CHECK (purpose IN ('invitation', 'password_reset', 'email_verification')),
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL CHECK (octet_length(token_hash) = 32),
    -- The address a verification token confirms (the user's e-mail changes
    -- to it when the token is used).
    new_email   text CHECK (char_length(new_email) BETWEEN 3 AND 254),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    -- Who asked for it: an admin's invitation, the user's own change (NULL
    -- for a password reset, which nobody is signed in for).
    created_by  uuid,
    CONSTRAINT account_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT account_tokens_new_email CHECK ((purpose = 'email_verification') = (new_email IS NOT NULL)),
    CONSTRAINT account_tokens_once CHECK (used_at IS NULL OR revoked_at IS NULL)
);
-- A user's live tokens of a purpose (revoked when a new one is issued; the
-- pending address change shown on the user).
CREATE INDEX account_tokens_user_live_idx ON account_tokens (user_id, purpose, created_at DESC)
    WHERE used_at IS NULL AND revoked_at IS NULL;
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id);

-- An invited user has no password until they accept the invitation.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;

-- The platform's own mail (account e-mails to staff, who belong to no
-- customer) has no tenant: its content and outbox rows carry no customer,
-- and its hard bounces go to the platform's suppression list (the rows
-- without a customer).
ALTER TABLE email_contents ALTER COLUMN customer_id DROP NOT NULL;
ALTER TABLE email_outbox ALTER COLUMN customer_id DROP NOT NULL;
ALTER TABLE email_suppressions DROP CONSTRAINT email_suppressions_pkey;
ALTER TABLE email_suppressions ALTER COLUMN customer_id DROP NOT NULL;
CREATE UNIQUE INDEX email_suppressions_customer_address_key
    ON email_suppressions (customer_id, address) NULLS NOT DISTINCT;
CREATE INDEX email_suppressions_address_idx ON email_suppressions (address);
