-- The CoP portal: communities of practice (CoPs), their members, events,
-- registrations and attendance, content assets and engagement, surveys with
-- questions, responses and answers, use cases, champions and KPI metrics.
--
-- Every table hangs off `cops`, which carries the tenant (`customer_id`).
-- People are platform users (`users`), so registrations, attendance, survey
-- responses, engagement and LMS progress all key on the same user ids.

-- Trigram index for the CoP name search (`?q=`).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE cops (
    id           uuid PRIMARY KEY,
    customer_id  uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    owner_id     uuid REFERENCES users(id) ON DELETE SET NULL,
    phase        text NOT NULL DEFAULT 'foundation'
                 CHECK (phase IN ('foundation','launch','growth','optimization')),
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active','paused')),
    mission      text CHECK (char_length(mission) <= 2000),
    charter      text CHECK (char_length(charter) <= 20000),
    archived_at  timestamptz,
    created_by   uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cops_customer_name_idx ON cops (customer_id, name, id);
CREATE INDEX cops_name_idx ON cops (name, id);
CREATE INDEX cops_owner_idx ON cops (owner_id);
CREATE INDEX cops_created_by_idx ON cops (created_by);
CREATE INDEX cops_phase_idx ON cops (phase);
CREATE INDEX cops_status_idx ON cops (status);
CREATE INDEX cops_active_idx ON cops (customer_id) WHERE archived_at IS NULL;
CREATE INDEX cops_name_trgm_idx ON cops USING gin (name gin_trgm_ops);

CREATE TABLE cop_members (
    cop_id      uuid NOT NULL REFERENCES cops(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        text NOT NULL DEFAULT 'member'
                CHECK (role IN ('exec_sponsor','lead','champion','member')),
    added_by    uuid REFERENCES users(id) ON DELETE SET NULL,
    joined_at   timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cop_id, user_id)
);
CREATE INDEX cop_members_cop_joined_idx ON cop_members (cop_id, joined_at, user_id);
CREATE INDEX cop_members_cop_role_idx ON cop_members (cop_id, role);
CREATE INDEX cop_members_user_idx ON cop_members (user_id);
CREATE INDEX cop_members_added_by_idx ON cop_members (added_by);

CREATE TABLE events (
    id            uuid PRIMARY KEY,
    cop_id        uuid NOT NULL REFERENCES cops(id) ON DELETE CASCADE,
    type          text NOT NULL
                  CHECK (type IN ('training','office_hours','deep_dive','roadmap','other')),
    title         text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description   text CHECK (char_length(description) <= 10000),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    -- IANA zone the event is planned in (times are stored in UTC).
    time_zone     text NOT NULL,
    location      text CHECK (char_length(location) <= 500),
    join_url      text CHECK (char_length(join_url) <= 2048),
    capacity      integer CHECK (capacity > 0),
    speakers      text[] NOT NULL DEFAULT '{}' CHECK (cardinality(speakers) <= 20),
    agenda        text CHECK (char_length(agenda) <= 20000),
    status        text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled','cancelled')),
    -- iCalendar SEQUENCE: bumped on every change of time, place or status.
    sequence      integer NOT NULL DEFAULT 0 CHECK (sequence >= 0),
    -- iCalendar UID: stable for the life of the event.
    uid           text GENERATED ALWAYS AS (id::text || '@launchpad') STORED,
    cancelled_at  timestamptz,
    created_by    uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_ends_after_start CHECK (ends_at > starts_at),
    CONSTRAINT events_place CHECK (location IS NOT NULL OR join_url IS NOT NULL),
    CONSTRAINT events_cancelled_at CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL)),
    -- Target of composite keys that pin a row to an event *of the same CoP*.
    CONSTRAINT events_id_cop_key UNIQUE (id, cop_id)
);
CREATE INDEX events_cop_starts_idx ON events (cop_id, starts_at, id);
CREATE INDEX events_cop_type_starts_idx ON events (cop_id, type, starts_at);
CREATE INDEX events_cop_status_starts_idx ON events (cop_id, status, starts_at);
CREATE INDEX events_starts_idx ON events (starts_at);
CREATE INDEX events_created_by_idx ON events (created_by);

CREATE TABLE event_registrations (
    event_id       uuid NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    registered_by  uuid REFERENCES users(id) ON DELETE SET NULL,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, user_id)
);
CREATE INDEX event_registrations_event_at_idx ON event_registrations (event_id, registered_at, user_id);
CREATE INDEX event_registrations_user_idx ON event_registrations (user_id);
CREATE INDEX event_registrations_registered_by_idx ON event_registrations (registered_by);

-- One row per (event, user); a re-import overwrites the times.
CREATE TABLE event_attendance (
    event_id     uuid NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    joined_at    timestamptz NOT NULL,
    left_at      timestamptz,
    imported_by  uuid REFERENCES users(id) ON DELETE SET NULL,
    imported_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, user_id),
    CONSTRAINT event_attendance_left_after_joined CHECK (left_at IS NULL OR left_at >= joined_at)
);
CREATE INDEX event_attendance_event_joined_idx ON event_attendance (event_id, joined_at, user_id);
CREATE INDEX event_attendance_user_idx ON event_attendance (user_id);
CREATE INDEX event_attendance_imported_by_idx ON event_attendance (imported_by);

CREATE TABLE content_assets (
    id           uuid PRIMARY KEY,
    cop_id       uuid NOT NULL REFERENCES cops(id) ON DELETE CASCADE,
    kind         text NOT NULL
                 CHECK (kind IN ('course','video','doc','presentation','notebook','dashboard')),
    title        text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description  text CHECK (char_length(description) <= 10000),
    url          text NOT NULL CHECK (char_length(url) <= 2048),
    persona      text CHECK (char_length(persona) BETWEEN 1 AND 100),
    level        text CHECK (level IN ('beginner','intermediate','advanced')),
    topic        text CHECK (char_length(topic) BETWEEN 1 AND 100),
    tags         text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
    created_by   uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- Soft delete: engagement history stays for the KPIs.
    deleted_at   timestamptz,
    CONSTRAINT content_assets_id_cop_key UNIQUE (id, cop_id)
);
CREATE INDEX content_assets_cop_created_idx ON content_assets (cop_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX content_assets_cop_kind_idx ON content_assets (cop_id, kind);
CREATE INDEX content_assets_cop_persona_idx ON content_assets (cop_id, persona);
CREATE INDEX content_assets_cop_level_idx ON content_assets (cop_id, level);
CREATE INDEX content_assets_cop_topic_idx ON content_assets (cop_id, topic);
CREATE INDEX content_assets_tags_idx ON content_assets USING gin (tags);
CREATE INDEX content_assets_created_by_idx ON content_assets (created_by);

-- Append-only: one row per view, download or like.
CREATE TABLE asset_engagement (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    asset_id  uuid NOT NULL,
    cop_id    uuid NOT NULL REFERENCES cops(id) ON DELETE CASCADE,
    user_id   uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    action    text NOT NULL CHECK (action IN ('view','download','like')),
    at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (asset_id, cop_id) REFERENCES content_assets (id, cop_id) ON DELETE CASCADE
);
CREATE INDEX asset_engagement_asset_idx ON asset_engagement (asset_id, action);
CREATE INDEX asset_engagement_cop_at_idx ON asset_engagement (cop_id, at);
CREATE INDEX asset_engagement_user_idx ON asset_engagement (user_id);

CREATE FUNCTION asset_engagement_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'asset_engagement is append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER asset_engagement_no_update BEFORE UPDATE ON asset_engagement
    FOR EACH ROW EXECUTE FUNCTION asset_engagement_append_only();

CREATE TABLE surveys (
    id           uuid PRIMARY KEY,
    cop_id       uuid NOT NULL REFERENCES cops(id) ON DELETE CASCADE,
    -- Set exactly for session_feedback surveys, and then an event of the same CoP.
    event_id     uuid,
    kind         text NOT NULL CHECK (kind IN ('session_feedback','cop_health','exec_pulse')),
    title        text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description  text CHECK (char_length(description) <= 5000),
    status       text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft','open','closed')),
    opened_at    timestamptz,
    closed_at    timestamptz,
    created_by   uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (event_id, cop_id) REFERENCES events (id, cop_id) ON DELETE CASCADE,
    CONSTRAINT surveys_event_iff_session CHECK ((kind = 'session_feedback') = (event_id IS NOT NULL)),
    CONSTRAINT surveys_opened_at CHECK (status = 'draft' OR opened_at IS NOT NULL),
    CONSTRAINT surveys_closed_at CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE INDEX surveys_cop_created_idx ON surveys (cop_id, created_at DESC, id DESC);
CREATE INDEX surveys_cop_status_idx ON surveys (cop_id, status);
CREATE INDEX surveys_cop_kind_idx ON surveys (cop_id, kind);
CREATE INDEX surveys_cop_closed_idx ON surveys (cop_id, closed_at DESC) WHERE status = 'closed';
CREATE INDEX surveys_event_idx ON surveys (event_id, cop_id);
CREATE INDEX surveys_created_by_idx ON surveys (created_by);

CREATE TABLE survey_questions (
    id         uuid PRIMARY KEY,
    survey_id  uuid NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    position   smallint NOT NULL CHECK (position >= 0),
    kind       text NOT NULL CHECK (kind IN ('rating','nps','single_choice','multi_choice','text')),
    prompt     text NOT NULL CHECK (char_length(prompt) BETWEEN 1 AND 500),
    options    text[] NOT NULL DEFAULT '{}',
    required   boolean NOT NULL DEFAULT false,
    CONSTRAINT survey_questions_position_key UNIQUE (survey_id, position),
    CONSTRAINT survey_questions_survey_id_key UNIQUE (survey_id, id),
    CONSTRAINT survey_questions_options CHECK (
        CASE WHEN kind IN ('single_choice','multi_choice') THEN cardinality(options) BETWEEN 2 AND 50
             ELSE cardinality(options) = 0 END)
);

CREATE TABLE survey_responses (
    id            uuid PRIMARY KEY,
    survey_id     uuid NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    responded_at  timestamptz NOT NULL DEFAULT now(),
    -- One response per member per survey.
    CONSTRAINT survey_responses_one_per_user UNIQUE (survey_id, user_id),
    CONSTRAINT survey_responses_survey_id_key UNIQUE (survey_id, id)
);
CREATE INDEX survey_responses_user_idx ON survey_responses (user_id);
CREATE INDEX survey_responses_survey_at_idx ON survey_responses (survey_id, responded_at);

-- One row per answered question. Exactly one value column is set: a score
-- (rating 1-5, nps 0-10), the chosen options, or free text. The composite
-- keys pin response and question to the same survey.
CREATE TABLE survey_answers (
    response_id    uuid NOT NULL,
    survey_id      uuid NOT NULL,
    question_id    uuid NOT NULL,
    numeric_value  smallint CHECK (numeric_value BETWEEN 0 AND 10),
    choice_values  text[] CHECK (cardinality(choice_values) >= 1),
    text_value     text CHECK (char_length(text_value) BETWEEN 1 AND 5000),
    PRIMARY KEY (response_id, question_id),
    FOREIGN KEY (survey_id, response_id) REFERENCES survey_responses (survey_id, id) ON DELETE CASCADE,
    FOREIGN KEY (survey_id, question_id) REFERENCES survey_questions (survey_id, id) ON DELETE CASCADE,
    CONSTRAINT survey_answers_one_value CHECK (num_nonnulls(numeric_value, choice_values, text_value) = 1)
);
CREATE INDEX survey_answers_survey_question_idx ON survey_answers (survey_id, question_id);
CREATE INDEX survey_answers_survey_response_idx ON survey_answers (survey_id, response_id);

CREATE TABLE use_cases (
    id              uuid PRIMARY KEY,
    cop_id          uuid NOT NULL REFERENCES cops(id) ON DELETE CASCADE,
    title           text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    summary         text NOT NULL CHECK (char_length(summary) BETWEEN 1 AND 5000),
    business_value  text CHECK (char_length(business_value) <= 5000),
    status          text NOT NULL DEFAULT 'submitted' CHECK (status IN ('submitted','approved','rejected')),
    submitted_by    uuid REFERENCES users(id) ON DELETE SET NULL,
    decided_by      uuid REFERENCES users(id) ON DELETE SET NULL,
    decided_at      timestamptz,
    approved_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT use_cases_approved_at CHECK ((status = 'approved') = (approved_at IS NOT NULL)),
    CONSTRAINT use_cases_decided_at CHECK ((status = 'submitted') = (decided_at IS NULL))
);
CREATE INDEX use_cases_cop_created_idx ON use_cases (cop_id, created_at DESC, id DESC);
CREATE INDEX use_cases_cop_status_idx ON use_cases (cop_id, status);
CREATE INDEX use_cases_cop_approved_idx ON use_cases (cop_id, approved_at) WHERE approved_at IS NOT NULL;
CREATE INDEX use_cases_submitted_by_idx ON use_cases (submitted_by);
CREATE INDEX use_cases_decided_by_idx ON use_cases (decided_by);

CREATE TABLE champions (
    id             uuid PRIMARY KEY,
    cop_id         uuid NOT NULL REFERENCES cops(id) ON DELETE CASCADE,
    user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title          text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    period_start   date NOT NULL,
    period_end     date NOT NULL,
    recognised_by  uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT champions_period CHECK (period_end >= period_start),
    CONSTRAINT champions_once_per_period UNIQUE (cop_id, user_id, period_start)
);
CREATE INDEX champions_cop_period_idx ON champions (cop_id, period_start DESC, id DESC);
CREATE INDEX champions_user_idx ON champions (user_id);
CREATE INDEX champions_recognised_by_idx ON champions (recognised_by);

-- Daily KPI values per CoP: computed by the KPI rollup job (`rollup`) or
-- pushed from outside through `POST /cops/{id}/kpis/ingest` (`ingest`).
CREATE TABLE kpi_metrics (
    cop_id       uuid NOT NULL REFERENCES cops(id) ON DELETE CASCADE,
    metric       text NOT NULL CHECK (metric ~ '^[a-z][a-z0-9_]{0,62}$'),
    date         date NOT NULL,
    value        double precision,
    source       text NOT NULL CHECK (source IN ('rollup','ingest')),
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cop_id, metric, date)
);
