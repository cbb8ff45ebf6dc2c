-- Enablement portal (LMS): courses, lessons, learning paths, progress,
-- completions, assignments and certificates. Every row is tenant-scoped by
-- customer (directly, or through its course).

-- Substring search (`?q=`) on course titles and descriptions.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE courses (
    id                 uuid PRIMARY KEY,
    customer_id        uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    status             text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft','published','archived')),
    title              text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description        text NOT NULL DEFAULT '' CHECK (char_length(description) <= 10000),
    product            text CHECK (char_length(product) BETWEEN 1 AND 100),
    tags               text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
    level              text NOT NULL CHECK (level IN ('beginner','intermediate','advanced')),
    estimated_minutes  integer CHECK (estimated_minutes BETWEEN 1 AND 10000),
    created_by         uuid REFERENCES users(id) ON DELETE SET NULL,
    published_at       timestamptz,
    archived_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'published' OR published_at IS NOT NULL),
    CHECK (status <> 'archived' OR archived_at IS NOT NULL)
);
-- Lists are newest first, keyset-paginated on (created_at, id), per customer and status.
CREATE INDEX courses_customer_status_created_idx ON courses (customer_id, status, created_at DESC, id DESC);
CREATE INDEX courses_created_idx ON courses (created_at DESC, id DESC);
CREATE INDEX courses_product_idx ON courses (customer_id, product);
CREATE INDEX courses_level_idx ON courses (customer_id, level);
CREATE INDEX courses_tags_idx ON courses USING gin (tags);
CREATE INDEX courses_search_idx ON courses USING gin ((title || ' ' || description) gin_trgm_ops);
CREATE INDEX courses_created_by_idx ON courses (created_by);

CREATE TABLE lessons (
    id          uuid PRIMARY KEY,
    course_id   uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    -- 1-based; contiguous within a course. Checked at commit so that
    -- reordering can move positions in several statements.
    position    integer NOT NULL CHECK (position >= 1),
    kind        text NOT NULL CHECK (kind IN ('video','text','quiz')),
    title       text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    body        text NOT NULL DEFAULT '' CHECK (char_length(body) <= 100000),
    media_url   text CHECK (char_length(media_url) <= 2048),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lessons_course_position_key UNIQUE (course_id, position) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE learning_paths (
    id           uuid PRIMARY KEY,
    customer_id  uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    title        text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description  text NOT NULL DEFAULT '' CHECK (char_length(description) <= 10000),
    created_by   uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX learning_paths_customer_created_idx ON learning_paths (customer_id, created_at DESC, id DESC);
CREATE INDEX learning_paths_created_idx ON learning_paths (created_at DESC, id DESC);
CREATE INDEX learning_paths_created_by_idx ON learning_paths (created_by);

-- The ordered courses of a path (same customer as the path, checked by the domain).
CREATE TABLE learning_path_courses (
    path_id    uuid NOT NULL REFERENCES learning_paths(id) ON DELETE CASCADE,
    course_id  uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    position   integer NOT NULL CHECK (position >= 1),
    PRIMARY KEY (path_id, position),
    UNIQUE (path_id, course_id)
);
CREATE INDEX learning_path_courses_course_idx ON learning_path_courses (course_id);

-- One row per (user, lesson) the user has touched; absent = not started.
CREATE TABLE lesson_progress (
    user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    lesson_id     uuid NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
    course_id     uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    customer_id   uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    status        text NOT NULL CHECK (status IN ('not_started','in_progress','completed')),
    percent       smallint NOT NULL CHECK (percent BETWEEN 0 AND 100),
    completed_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, lesson_id),
    CHECK (status <> 'completed' OR (percent = 100 AND completed_at IS NOT NULL)),
    CHECK (status <> 'not_started' OR percent = 0)
);
CREATE INDEX lesson_progress_user_course_idx ON lesson_progress (user_id, course_id);
CREATE INDEX lesson_progress_lesson_idx ON lesson_progress (lesson_id);
CREATE INDEX lesson_progress_course_idx ON lesson_progress (course_id);
CREATE INDEX lesson_progress_customer_idx ON lesson_progress (customer_id);

-- A course completed by a user: written once, in the transaction of the
-- progress update that completed the last lesson. The certificates job reads it.
CREATE TABLE course_completions (
    user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    course_id     uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    customer_id   uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    completed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, course_id)
);
CREATE INDEX course_completions_course_idx ON course_completions (course_id);
CREATE INDEX course_completions_customer_completed_idx ON course_completions (customer_id, completed_at);

-- A course or a path assigned to a user. The status is derived (view below).
CREATE TABLE assignments (
    id           uuid PRIMARY KEY,
    customer_id  uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    course_id    uuid REFERENCES courses(id) ON DELETE CASCADE,
    -- NO ACTION (checked at the end of the statement): a path with assignments
    -- cannot be deleted on its own, but goes with its customer.
    path_id      uuid REFERENCES learning_paths(id),
    due_at       timestamptz NOT NULL,
    assigned_by  uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(course_id, path_id) = 1)
);
CREATE UNIQUE INDEX assignments_user_course_key ON assignments (user_id, course_id) WHERE course_id IS NOT NULL;
CREATE UNIQUE INDEX assignments_user_path_key ON assignments (user_id, path_id) WHERE path_id IS NOT NULL;
CREATE INDEX assignments_customer_created_idx ON assignments (customer_id, created_at DESC, id DESC);
CREATE INDEX assignments_created_idx ON assignments (created_at DESC, id DESC);
CREATE INDEX assignments_user_created_idx ON assignments (user_id, created_at DESC, id DESC);
CREATE INDEX assignments_course_idx ON assignments (course_id) WHERE course_id IS NOT NULL;
CREATE INDEX assignments_path_idx ON assignments (path_id) WHERE path_id IS NOT NULL;
CREATE INDEX assignments_assigned_by_idx ON assignments (assigned_by);

-- Assignments with their derived state, evaluated at query time:
--   completed    the course (every course of the path) has a completion
--   overdue      otherwise, when due_at has passed
--   in_progress  otherwise, when the user has progress on the course (a course of the path)
--   assigned     otherwise
CREATE VIEW assignment_states AS
SELECT a.id, a.customer_id, a.user_id, a.course_id, a.path_id, a.due_at, a.assigned_by,
       a.created_at, a.updated_at, d.completed_at,
       CASE
           WHEN d.completed_at IS NOT NULL THEN 'completed'
           WHEN a.due_at < now() THEN 'overdue'
           WHEN d.started THEN 'in_progress'
           ELSE 'assigned'
       END AS status
FROM assignments a
CROSS JOIN LATERAL (
    SELECT
        CASE
            WHEN a.course_id IS NOT NULL THEN (
                SELECT cc.completed_at FROM course_completions cc
                WHERE cc.user_id = a.user_id AND cc.course_id = a.course_id)
            ELSE (
                SELECT CASE WHEN count(*) > 0 AND count(cc.course_id) = count(*) THEN max(cc.completed_at) END
                FROM learning_path_courses pc
                LEFT JOIN course_completions cc ON cc.course_id = pc.course_id AND cc.user_id = a.user_id
                WHERE pc.path_id = a.path_id)
        END AS completed_at,
        EXISTS (
            SELECT 1 FROM lesson_progress lp
            WHERE lp.user_id = a.user_id AND lp.status <> 'not_started'
              AND (lp.course_id = a.course_id
                   OR lp.course_id IN (SELECT pc.course_id FROM learning_path_courses pc WHERE pc.path_id = a.path_id))
        ) AS started
) d;

-- Certificates of completion, issued by the certificates job. Name and
-- title are snapshots, so a certificate stays verifiable as it was issued.
CREATE TABLE certificates (
    id                 uuid PRIMARY KEY,
    user_id            uuid REFERENCES users(id) ON DELETE SET NULL,
    course_id          uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    customer_id        uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    -- 160 random bits, Crockford base32 (32 characters).
    verification_code  text NOT NULL UNIQUE CHECK (verification_code ~ '^[0-9A-HJKMNP-TV-Z]{32}$'),
    recipient_name     text NOT NULL,
    course_title       text NOT NULL,
    issued_at          timestamptz NOT NULL DEFAULT now(),
    revoked_at         timestamptz,
    UNIQUE (user_id, course_id)
);
CREATE INDEX certificates_course_idx ON certificates (course_id);
CREATE INDEX certificates_customer_issued_idx ON certificates (customer_id, issued_at);
