-- Coaching: reporting lines and coaching roles per customer, one-to-one
-- coaching sessions between a team leader and an agent.
--
-- What people write about people (session notes, scores) is stored
-- encrypted by the application (AES-256-GCM): `*_enc` holds nonce ||
-- ciphertext || tag, `key_id` names the key it was sealed with.

CREATE TABLE coaching_people (
    customer_id     uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role            text NOT NULL
                    CHECK (role IN ('coaching_admin', 'manager', 'team_leader', 'agent')),
    managed_by      uuid REFERENCES users(id) ON DELETE SET NULL,
    team_leader_id  uuid REFERENCES users(id) ON DELETE SET NULL,
    employee_id     text CHECK (char_length(employee_id) BETWEEN 1 AND 64),
    department      text CHECK (char_length(department) BETWEEN 1 AND 200),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, user_id),
    CHECK (managed_by IS DISTINCT FROM user_id),
    CHECK (team_leader_id IS DISTINCT FROM user_id)
);
CREATE INDEX coaching_people_team_leader_idx ON coaching_people (customer_id, team_leader_id);
CREATE INDEX coaching_people_managed_by_idx ON coaching_people (customer_id, managed_by);
CREATE INDEX coaching_people_user_idx ON coaching_people (user_id);
CREATE UNIQUE INDEX coaching_people_employee_idx ON coaching_people (customer_id, employee_id)
    WHERE employee_id IS NOT NULL;

CREATE TABLE coaching_sessions (
    id                 uuid PRIMARY KEY,
    customer_id        uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    agent_id           uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    team_leader_id     uuid REFERENCES users(id) ON DELETE SET NULL,
    starts_at          timestamptz NOT NULL,
    ends_at            timestamptz NOT NULL,
    duration_minutes   integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
    time_zone          text NOT NULL,
    location           text,
    join_url           text,
    preparation_notes  text,
    focus_areas        text[] NOT NULL DEFAULT '{}',
    status             text NOT NULL DEFAULT 'scheduled'
                       CHECK (status IN ('scheduled', 'in_progress', 'completed', 'cancelled', 'no_show')),
    -- iCalendar: UID stable for the session's life, SEQUENCE bumped on every
    -- change of time, place or status.
    uid                text NOT NULL UNIQUE,
    sequence           integer NOT NULL DEFAULT 0,
    notes_enc          bytea,
    scores_enc         bytea,
    key_id             text,
    recording_file_id  uuid REFERENCES files(id) ON DELETE SET NULL,
    completed_at       timestamptz,
    cancelled_at       timestamptz,
    created_by         uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK ((notes_enc IS NULL AND scores_enc IS NULL) OR key_id IS NOT NULL)
);
CREATE INDEX coaching_sessions_agent_idx ON coaching_sessions (agent_id, starts_at, id);
CREATE INDEX coaching_sessions_team_leader_idx ON coaching_sessions (team_leader_id, starts_at, id);
CREATE INDEX coaching_sessions_customer_idx ON coaching_sessions (customer_id, starts_at, id);
