-- What a message says is stored once per fan-out, not once per recipient.
--
-- A reschedule of an event with 10,000 registrants wrote 10,000 outbox rows
-- of ~4.6 kB each (subject, text, HTML and the calendar object, compressed
-- and TOASTed row by row) although they differed only in the recipient's
-- name and the ATTENDEE line. Now `email_contents` holds the content
-- rendered once, with the recipient's name as a slot (U+FDD0, a Unicode
-- noncharacter no value may carry) and the calendar object without an
-- ATTENDEE; each outbox row points at it and keeps its recipient. The
-- message sent is a pure function of the two (`email::outbox::claim` fills
-- in the name and adds the ATTENDEE exactly as rendering it per recipient
-- would; a unit test holds the two equal).
--
-- Fewer indexes per row (9 -> 4), because a fan-out writes thousands:
-- - the outbox's own tenant foreign key goes: a tenant's deletion reaches
--   its outbox rows through their content (customers -> email_contents ->
--   email_outbox, both ON DELETE CASCADE), so the outbox is indexed by
--   content instead of by (customer, created_at), which nothing read;
-- - one index (user_id, thread_key, seq) serves the latest message of a
--   thread per user, superseding (a newer message of the thread to the same
--   person) and the users foreign key, replacing three;
-- - `seq` and `message_id` lose their unique indexes: an identity column is
--   unique by construction, and a Message-ID is made of the row's id;
-- - the partial index of unfinished rows goes: nothing read it.

CREATE TABLE email_contents (
    id             uuid PRIMARY KEY,
    customer_id    uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    subject        text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 400),
    body_text      text NOT NULL,
    body_html      text NOT NULL,
    -- An iCalendar object without ATTENDEE (added per recipient), sent as
    -- text/calendar and as invite.ics.
    ics            text,
    ics_method     text CHECK (ics_method IN ('REQUEST', 'CANCEL', 'PUBLISH')),
    ics_sequence   integer CHECK (ics_sequence >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT email_contents_ics CHECK ((ics IS NULL) = (ics_method IS NULL) AND (ics IS NULL) = (ics_sequence IS NULL))
);
CREATE INDEX email_contents_customer_idx ON email_contents (customer_id);

-- Rows written before: each its own content, already personal (the name is
-- in the bodies; the ATTENDEE line, folded or not, is taken out of the
-- calendar object so that it is not added twice).
INSERT INTO email_contents (id, customer_id, subject, body_text, body_html, ics, ics_method, ics_sequence, created_at)
SELECT id, customer_id, subject, body_text, body_html,
       regexp_replace(ics, E'\r\nATTENDEE[^\r]*(\r\n[ \t][^\r]*)*', '', 'g'),
       ics_method, ics_sequence, created_at
FROM email_outbox;

ALTER TABLE email_outbox ADD COLUMN content_id uuid;
UPDATE email_outbox SET content_id = id;
ALTER TABLE email_outbox
    ALTER COLUMN content_id SET NOT NULL,
    ADD CONSTRAINT email_outbox_content_id_fkey FOREIGN KEY (content_id) REFERENCES email_contents(id) ON DELETE CASCADE,
    DROP CONSTRAINT email_outbox_ics,
    DROP CONSTRAINT email_outbox_customer_id_fkey,
    DROP COLUMN subject,
    DROP COLUMN body_text,
    DROP COLUMN body_html,
    DROP COLUMN ics,
    DROP COLUMN ics_method,
    DROP COLUMN ics_sequence;
DROP INDEX email_outbox_customer_created_idx;
CREATE INDEX email_outbox_content_idx ON email_outbox (content_id);
DROP INDEX email_outbox_user_idx;
DROP INDEX email_outbox_thread_address_idx;
DROP INDEX email_outbox_thread_user_idx;
DROP INDEX email_outbox_unfinished_idx;
ALTER TABLE email_outbox
    DROP CONSTRAINT email_outbox_seq_key,
    DROP CONSTRAINT email_outbox_message_id_key;
CREATE INDEX email_outbox_user_thread_idx ON email_outbox (user_id, thread_key, seq DESC);
