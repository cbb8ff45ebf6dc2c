-- Newsletters (#22): a CoP's newsletter, drafted (by the AI pipeline or from
-- a template), reviewed and approved by a person, test-sent, and sent to the
-- CoP's members through the e-mail outbox with one-click unsubscribe.

-- Whether the last editor of a newsletter may approve it themselves.
ALTER TABLE customers ADD COLUMN newsletter_self_approval boolean NOT NULL DEFAULT false;

-- Subjects are header text of at most 998 characters (RFC 5322's line
-- limit): a newsletter's subject is refused beyond that, never cut.
ALTER TABLE email_contents DROP CONSTRAINT email_contents_subject_check;
ALTER TABLE email_contents ADD CONSTRAINT email_contents_subject_check
    CHECK (char_length(subject) BETWEEN 1 AND 998);
-- `List-Id` (RFC 2919) of the messages of a list (a CoP's newsletter).
ALTER TABLE email_contents ADD COLUMN list_id text
    CHECK (list_id ~ '^[A-Za-z0-9 ._-]{0,200}<[A-Za-z0-9._-]+>$');
-- A paused fan-out: its pending messages are not sent while set (their
-- `email_send` jobs end without sending; resuming enqueues them again).
ALTER TABLE email_contents ADD COLUMN held boolean NOT NULL DEFAULT false;

CREATE TABLE newsletters (
    id                uuid PRIMARY KEY,
    customer_id       uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    cop_id            uuid NOT NULL REFERENCES cops(id) ON DELETE CASCADE,
    status            text NOT NULL DEFAULT 'drafting'
                      CHECK (status IN ('drafting', 'draft', 'approved', 'scheduled', 'sending', 'paused',
                                        'sent', 'cancelled', 'failed')),
    subject           text NOT NULL DEFAULT '' CHECK (char_length(subject) <= 998),
    preheader         text NOT NULL DEFAULT '' CHECK (char_length(preheader) <= 300),
    intro             text NOT NULL DEFAULT '' CHECK (char_length(intro) <= 20000),
    -- [{heading, body (Markdown), links: [{title, url}]}]
    sections          jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(sections) = 'array'),
    -- Who receives it: CoP roles (NULL: every member), and only members who
    -- attended an event of the period.
    audience_roles    text[],
    audience_attended boolean NOT NULL DEFAULT false,
    period_from       date,
    period_to         date,
    tone              text CHECK (char_length(tone) <= 200),
    instructions      text CHECK (char_length(instructions) <= 2000),
    -- How the draft was made: the AI provider's name, or `template`.
    drafted_by        text,
    -- Why drafting or sending failed.
    failure           text,
    created_by        uuid REFERENCES users(id) ON DELETE SET NULL,
    last_edited_by    uuid REFERENCES users(id) ON DELETE SET NULL,
    approved_by       uuid REFERENCES users(id) ON DELETE SET NULL,
    approved_at       timestamptz,
    -- SHA-256 of the content approved (subject, preheader, intro, sections, audience).
    approved_hash     text,
    send_at           timestamptz,
    -- The queued `newsletter_send` job (cancelled on cancel or reschedule).
    send_job_id       uuid,
    -- The content the fan-out wrote (the outbox rows point at it).
    content_id        uuid REFERENCES email_contents(id) ON DELETE SET NULL,
    recipients        integer,
    -- Members left out because they turned newsletters off or unsubscribed.
    opted_out         integer,
    sending_started_at timestamptz,
    sent_at           timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT newsletters_period CHECK (period_from IS NULL OR period_to IS NULL OR period_from <= period_to)
);
CREATE INDEX newsletters_cop_idx ON newsletters (cop_id, created_at DESC, id DESC);
CREATE INDEX newsletters_customer_idx ON newsletters (customer_id);
CREATE INDEX newsletters_content_idx ON newsletters (content_id) WHERE content_id IS NOT NULL;

-- Members who unsubscribed from a CoP's newsletter (the one-click link).
CREATE TABLE newsletter_unsubscribes (
    cop_id         uuid NOT NULL REFERENCES cops(id) ON DELETE CASCADE,
    user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The newsletter whose link was used.
    newsletter_id  uuid REFERENCES newsletters(id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cop_id, user_id)
);
CREATE INDEX newsletter_unsubscribes_user_idx ON newsletter_unsubscribes (user_id);
CREATE INDEX newsletter_unsubscribes_newsletter_idx ON newsletter_unsubscribes (newsletter_id);
