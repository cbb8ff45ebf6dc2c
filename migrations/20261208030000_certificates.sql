-- Certificates (#21): issued by the `certificate_issue` job for a completed
-- course or a completed learning path, rendered to a PDF stored as a file,
-- revocable, and published as an Open Badges 3.0 credential whose status
-- lives in a Bitstring Status List.

ALTER TABLE certificates
    ALTER COLUMN course_id DROP NOT NULL,
    ADD COLUMN path_id uuid REFERENCES learning_paths(id) ON DELETE CASCADE,
    -- The issuer's name when the certificate was issued (snapshot).
    ADD COLUMN issuer_name text,
    -- The learner's e-mail when issued: the credential identifies the
    -- subject by its salted hash (never shown).
    ADD COLUMN recipient_email text,
    -- The rendered PDF (purpose `certificate`); NULL until rendered.
    ADD COLUMN file_id uuid REFERENCES files(id) ON DELETE SET NULL,
    ADD COLUMN revocation_reason text
        CHECK (revocation_reason IN ('issued_in_error', 'misconduct', 'superseded', 'withdrawn', 'other')),
    ADD COLUMN revocation_note text CHECK (char_length(revocation_note) <= 1000),
    ADD COLUMN revoked_by uuid REFERENCES users(id) ON DELETE SET NULL,
    -- This certificate's bit in the platform's status list.
    ADD COLUMN status_index bigint,
    ADD CONSTRAINT certificates_subject CHECK (num_nonnulls(course_id, path_id) = 1),
    ADD CONSTRAINT certificates_revocation CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL));

CREATE SEQUENCE certificate_status_index_seq AS bigint MINVALUE 0 START 0;
UPDATE certificates c SET issuer_name = cu.name, status_index = nextval('certificate_status_index_seq')
FROM customers cu WHERE cu.id = c.customer_id;
UPDATE certificates c SET recipient_email = u.email FROM users u WHERE u.id = c.user_id;
ALTER TABLE certificates
    ALTER COLUMN issuer_name SET NOT NULL,
    ALTER COLUMN status_index SET DEFAULT nextval('certificate_status_index_seq'),
    ALTER COLUMN status_index SET NOT NULL,
    ADD CONSTRAINT certificates_status_index_key UNIQUE (status_index);
ALTER SEQUENCE certificate_status_index_seq OWNED BY certificates.status_index;

-- One standing certificate per person and course or path; a revoked one
-- may be followed by a new one.
ALTER TABLE certificates DROP CONSTRAINT certificates_user_id_course_id_key;
CREATE UNIQUE INDEX certificates_user_course_standing ON certificates (user_id, course_id)
    WHERE revoked_at IS NULL AND course_id IS NOT NULL;
CREATE UNIQUE INDEX certificates_user_path_standing ON certificates (user_id, path_id)
    WHERE revoked_at IS NULL AND path_id IS NOT NULL;
-- Lists: a person's, a course's (newest first, keyset on (issued_at, id)).
DROP INDEX certificates_course_idx;
CREATE INDEX certificates_course_issued_idx ON certificates (course_id, issued_at DESC, id DESC);
CREATE INDEX certificates_path_idx ON certificates (path_id) WHERE path_id IS NOT NULL;
CREATE INDEX certificates_user_issued_idx ON certificates (user_id, issued_at DESC, id DESC);
CREATE INDEX certificates_file_idx ON certificates (file_id) WHERE file_id IS NOT NULL;
CREATE INDEX certificates_revoked_by_idx ON certificates (revoked_by) WHERE revoked_by IS NOT NULL;

-- A tenant's overrides of the certificate template's variables (absent:
-- the defaults). Colours are checked by the API; the template reads them.
CREATE TABLE certificate_settings (
    customer_id      uuid PRIMARY KEY REFERENCES customers(id) ON DELETE CASCADE,
    paper            text NOT NULL DEFAULT 'a4' CHECK (paper IN ('a4', 'us-letter')),
    logo_file_id     uuid REFERENCES files(id) ON DELETE SET NULL,
    signatory_name   text CHECK (char_length(signatory_name) <= 200),
    signatory_title  text CHECK (char_length(signatory_title) <= 200),
    primary_color    text CHECK (char_length(primary_color) <= 50),
    accent_color     text CHECK (char_length(accent_color) <= 50),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX certificate_settings_logo_idx ON certificate_settings (logo_file_id) WHERE logo_file_id IS NOT NULL;

-- A message may carry one stored file as an attachment (a certificate's PDF).
ALTER TABLE email_contents
    ADD COLUMN attachment_file_id uuid REFERENCES files(id) ON DELETE SET NULL,
    ADD COLUMN attachment_filename text CHECK (char_length(attachment_filename) BETWEEN 1 AND 255);
CREATE INDEX email_contents_attachment_idx ON email_contents (attachment_file_id) WHERE attachment_file_id IS NOT NULL;
