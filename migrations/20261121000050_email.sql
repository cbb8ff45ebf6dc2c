-- E-mail: an outbox with one row per message per recipient, sent by the
-- `email_send` job, and a per-tenant suppression list fed by hard bounces.
--
-- A row's life: pending -> sending (claimed under a lease, just before the
-- SMTP transaction) -> sent | failed; or pending -> suppressed (not sent on
-- purpose: suppressed address, no usable address, superseded by a newer
-- message of the same thread). `message_id` is generated when the row is
-- written, so every attempt (and any duplicate in the at-least-once window)
-- carries the same Message-ID.

CREATE TABLE email_outbox (
    id             uuid PRIMARY KEY,
    -- Insertion order (a later message of a thread supersedes earlier ones).
    seq            bigint GENERATED ALWAYS AS IDENTITY,
    customer_id    uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    -- The template the content was rendered from (`event_invite`, ...).
    template       text NOT NULL CHECK (template ~ '^[a-z][a-z0-9_]{0,62}$'),
    -- What the message is about (`event:<uuid>`): a pending message is
    -- skipped when a newer one of its thread exists for the same address.
    thread_key     text CHECK (char_length(thread_key) BETWEEN 1 AND 200),
    -- The platform user it is for, when it is for one.
    user_id        uuid REFERENCES users(id) ON DELETE SET NULL,
    -- Makes writing the same message twice a no-op (a fan-out run again).
    dedupe_key     text CHECK (char_length(dedupe_key) BETWEEN 1 AND 200),
    to_address     text NOT NULL CHECK (char_length(to_address) <= 254),
    to_name        text CHECK (char_length(to_name) <= 200),
    -- Rendered content: what was sent is exactly what is stored.
    subject        text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 400),
    body_text      text NOT NULL,
    body_html      text NOT NULL,
    -- An iCalendar object sent as text/calendar and as invite.ics.
    ics            text,
    ics_method     text CHECK (ics_method IN ('REQUEST', 'CANCEL', 'PUBLISH')),
    ics_sequence   integer CHECK (ics_sequence >= 0),
    message_id     text NOT NULL CHECK (message_id ~ '^<[^<>@[:space:]]+@[^<>@[:space:]]+>$'),
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'suppressed')),
    -- Claims so far (SMTP transactions started).
    attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- While `sending`: until when the claim holds.
    lease_until    timestamptz,
    -- The server's last reply (`250 ...`, `550 ...`) or the transport error.
    smtp_response  text CHECK (char_length(smtp_response) <= 2000),
    -- Why a suppressed row was not sent.
    skip_reason    text CHECK (skip_reason IN ('address_suppressed', 'no_address', 'invalid_address', 'superseded')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,
    CONSTRAINT email_outbox_seq_key UNIQUE (seq),
    CONSTRAINT email_outbox_message_id_key UNIQUE (message_id),
    CONSTRAINT email_outbox_dedupe_key UNIQUE (dedupe_key),
    CONSTRAINT email_outbox_ics CHECK ((ics IS NULL) = (ics_method IS NULL) AND (ics IS NULL) = (ics_sequence IS NULL)),
    CONSTRAINT email_outbox_lease CHECK ((status = 'sending') = (lease_until IS NOT NULL)),
    CONSTRAINT email_outbox_sent_at CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CONSTRAINT email_outbox_skip_reason CHECK ((status = 'suppressed') = (skip_reason IS NOT NULL))
);
CREATE INDEX email_outbox_customer_created_idx ON email_outbox (customer_id, created_at);
-- Superseding: newer rows of a thread for an address.
CREATE INDEX email_outbox_thread_address_idx ON email_outbox (thread_key, lower(to_address), seq)
    WHERE thread_key IS NOT NULL;
-- The latest message of a thread per user (an event's registrants' invite states).
CREATE INDEX email_outbox_thread_user_idx ON email_outbox (thread_key, user_id, seq DESC)
    WHERE thread_key IS NOT NULL;
CREATE INDEX email_outbox_user_idx ON email_outbox (user_id);
CREATE INDEX email_outbox_unfinished_idx ON email_outbox (status, created_at)
    WHERE status IN ('pending', 'sending');

-- Addresses not to send to, per tenant: hard bounces (SMTP 550/551/553)
-- add themselves; later sends to them end `suppressed`.
CREATE TABLE email_suppressions (
    customer_id  uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    -- Lower-cased.
    address      text NOT NULL CHECK (address = lower(address) AND char_length(address) BETWEEN 1 AND 254),
    reason       text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 2000),
    -- The message whose bounce added the address.
    outbox_id    uuid REFERENCES email_outbox(id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, address)
);
CREATE INDEX email_suppressions_outbox_idx ON email_suppressions (outbox_id);
