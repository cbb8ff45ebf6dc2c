-- Content-update notices: a change to a published course's lessons tells
-- its learners (anyone with progress in it or an assignment of it, directly
-- or through a learning path). The fan-out finds them by course (through
-- lesson_progress_course_idx, assignments_course_idx and assignments_path_idx).
ALTER TABLE notification_sources DROP CONSTRAINT notification_sources_audience_check;
ALTER TABLE notification_sources ADD CONSTRAINT notification_sources_audience_check
    CHECK (audience IN ('cop_members', 'cop_execs', 'event_attendees', 'customer_execs', 'course_learners'));
