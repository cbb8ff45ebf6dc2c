-- KPI rollups (see domain/src/kpi): indexes the rollup's statements read
-- through, and the coalescing key of queued jobs.

-- Coalescing holds for *queued* jobs only, as `jobs::enqueue` (ON CONFLICT
-- … WHERE status IN ('queued')) and the README say: a running job must not
-- hold its unique key, or enqueueing the next rollup of a CoP while one runs
-- would find neither a free key nor a queued job to coalesce with.
DROP INDEX jobs_unique_key_idx;
CREATE UNIQUE INDEX jobs_unique_key_idx ON jobs (kind, unique_key)
    WHERE unique_key IS NOT NULL AND status = 'queued';

-- Engagement per CoP and time with the columns MAP, MAU and the content
-- counts read, so those scans are index-only (the table is append-only, so
-- its pages stay all-visible). Replaces the plain (cop_id, at) index.
DROP INDEX asset_engagement_cop_at_idx;
CREATE INDEX asset_engagement_cop_at_idx ON asset_engagement (cop_id, at) INCLUDE (action, user_id);

-- MAU counts registrations by when they were made.
CREATE INDEX event_registrations_registered_at_idx ON event_registrations (registered_at) INCLUDE (event_id, user_id);

-- Survey responses by survey and time, with the respondent (MAP, MAU, NPS).
DROP INDEX survey_responses_survey_at_idx;
CREATE INDEX survey_responses_survey_at_idx ON survey_responses (survey_id, responded_at) INCLUDE (user_id);

-- LMS progress by customer and time (MAP, MAU).
CREATE INDEX lesson_progress_customer_updated_idx ON lesson_progress (customer_id, updated_at);
