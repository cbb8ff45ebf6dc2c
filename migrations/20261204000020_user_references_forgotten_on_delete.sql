-- Who a job or a message is for, without a foreign-key check per row.
--
-- A fan-out writes thousands of `jobs` and `email_outbox` rows in one
-- statement each, and Postgres checks a foreign key row by row: for
-- `requested_by` and `user_id` that is a lookup and a row lock of the user
-- per inserted row (~8 us each; 10,000 rows: ~80 ms per key). These two
-- columns only record a person, written by our code from users it just
-- read; what the foreign keys gave beyond that — forgetting the person
-- when the user is deleted (ON DELETE SET NULL) — a trigger on `users`
-- now does, for every way a user is deleted.

ALTER TABLE jobs DROP CONSTRAINT jobs_requested_by_fkey;
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_user_id_fkey;

CREATE FUNCTION users_forget_references() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE jobs SET requested_by = NULL WHERE requested_by = OLD.id;
    UPDATE email_outbox SET user_id = NULL WHERE user_id = OLD.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_forget_references AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_forget_references();
