-- Notifications: an in-app inbox per person, per-person preferences (type ×
-- channel) over tenant and platform defaults, e-mail through the outbox and
-- a periodic digest.
--
-- A change records one `notification_sources` row in its own transaction
-- (what happened, to whom: an audience and/or explicit people) with a
-- `notify` job; the job fans it out to `notifications` (one inbox row per
-- recipient, written by one INSERT … SELECT) and to the e-mail outbox.

-- The tenant's portal: notifications link to `<portal_base_url><api path>`
-- when set (API paths are always given).
ALTER TABLE customers ADD COLUMN portal_base_url text
    CHECK (portal_base_url ~ '^https?://[^[:space:]]+$' AND char_length(portal_base_url) <= 500);

CREATE TABLE notification_sources (
    id             uuid PRIMARY KEY,
    -- The tenant (absent for platform-level notices, e.g. a tenantless job).
    customer_id    uuid REFERENCES customers(id) ON DELETE CASCADE,
    type           text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]{0,62}$'),
    title          text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 300),
    body           text NOT NULL CHECK (char_length(body) <= 5000),
    link_path      text CHECK (char_length(link_path) BETWEEN 1 AND 500),
    -- Repeats with the same key collapse into one unread inbox row per
    -- person; `group_title` (with `{count}`) names the collapsed row.
    group_key      text NOT NULL CHECK (char_length(group_key) BETWEEN 1 AND 300),
    group_title    text CHECK (char_length(group_title) BETWEEN 1 AND 300),
    -- Who: a set of people named by one id (see notifications::Audience)
    -- and/or explicit people; the actor never notifies themselves.
    audience       text CHECK (audience IN ('cop_members', 'cop_execs', 'event_attendees', 'customer_execs')),
    audience_id    uuid,
    user_ids       uuid[] NOT NULL DEFAULT '{}',
    actor_id       uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notification_sources_audience CHECK ((audience IS NULL) = (audience_id IS NULL))
);
CREATE INDEX notification_sources_customer_idx ON notification_sources (customer_id);
CREATE INDEX notification_sources_created_idx ON notification_sources (created_at);

-- Every change of an inbox row takes the next value: the order of the
-- inbox, the cursor of its list and the event id of the live stream.
CREATE SEQUENCE notifications_seq;

CREATE TABLE notifications (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq           bigint NOT NULL DEFAULT nextval('notifications_seq'),
    recipient_id  uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    customer_id   uuid REFERENCES customers(id) ON DELETE CASCADE,
    -- The latest source merged into the row (a fan-out run again is a no-op).
    source_id     uuid NOT NULL,
    type          text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]{0,62}$'),
    title         text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 300),
    body          text NOT NULL CHECK (char_length(body) <= 5000),
    link_path     text,
    link_url      text,
    group_key     text NOT NULL,
    -- How many notifications the row stands for (repeats collapse).
    count         integer NOT NULL DEFAULT 1 CHECK (count >= 1),
    -- An e-mail was queued at once (the digest leaves these out).
    emailed       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    seen_at       timestamptz,
    read_at       timestamptz,
    archived_at   timestamptz
);
-- The inbox, newest activity first; also the stream's replay.
CREATE UNIQUE INDEX notifications_recipient_seq_idx ON notifications (recipient_id, seq);
-- Repeats collapse into the open (unread, not archived) row of their group.
CREATE UNIQUE INDEX notifications_open_group_idx ON notifications (recipient_id, group_key)
    WHERE read_at IS NULL AND archived_at IS NULL;
-- The counts (unread, unseen) read only open rows.
CREATE INDEX notifications_unread_idx ON notifications (recipient_id, seen_at)
    WHERE read_at IS NULL AND archived_at IS NULL;
CREATE INDEX notifications_source_idx ON notifications (source_id);
CREATE INDEX notifications_customer_idx ON notifications (customer_id);

-- A person's choices, per type: NULL follows the tenant's default, then
-- the platform's.
CREATE TABLE notification_preferences (
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type        text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]{0,62}$'),
    in_app      boolean,
    email       boolean,
    digest      boolean,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, type)
);

-- A tenant's defaults, per type, over the platform's.
CREATE TABLE notification_tenant_defaults (
    customer_id  uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    type         text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]{0,62}$'),
    in_app       boolean,
    email        boolean,
    digest       boolean,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, type)
);

-- A person's digest: how often, in which zone (NULL: their first
-- customer's), and the last period sent.
CREATE TABLE notification_settings (
    user_id           uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    digest_frequency  text NOT NULL DEFAULT 'daily' CHECK (digest_frequency IN ('daily', 'weekly', 'off')),
    time_zone         text CHECK (char_length(time_zone) BETWEEN 1 AND 64),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- One digest per person and period: the row is the claim (written with the
-- e-mail, in one transaction), so two workers cannot both send it.
CREATE TABLE notification_digests (
    user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The local date the period starts (daily: the day; weekly: its Monday).
    period        date NOT NULL,
    frequency     text NOT NULL CHECK (frequency IN ('daily', 'weekly')),
    -- Notifications created before this went into the digest.
    covered_until timestamptz NOT NULL,
    items         integer NOT NULL CHECK (items >= 0),
    outbox_id     uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, period)
);

-- The key that signs one-click unsubscribe links (RFC 8058), shared by the
-- API (which checks them) and the workers (which write them into mail).
CREATE TABLE notification_keys (
    id      smallint PRIMARY KEY CHECK (id = 1),
    secret  bytea NOT NULL CHECK (octet_length(secret) >= 32)
);
INSERT INTO notification_keys (id, secret)
VALUES (1, uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));

-- One-click unsubscribe: the outbox row's `List-Unsubscribe` target.
ALTER TABLE email_outbox ADD COLUMN list_unsubscribe text CHECK (char_length(list_unsubscribe) <= 1000);

-- Assignment notices sent by the daily reminders job, once per assignment
-- and type (`assignment_due_soon`, `assignment_overdue`).
CREATE TABLE assignment_notices (
    assignment_id  uuid NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
    type           text NOT NULL CHECK (type IN ('assignment_due_soon', 'assignment_overdue')),
    -- The due date it was about (a new due date earns a new notice).
    due_at         timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (assignment_id, type, due_at)
);
