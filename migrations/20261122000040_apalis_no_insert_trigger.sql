-- Workers are woken by `jobs::enqueue` itself: one NOTIFY per kind in the
-- enqueueing transaction, or after its commit on hot paths (see
-- domain/src/jobs/wakeup.rs). apalis' insert trigger, which that code
-- switched off per transaction with a setting (one more statement per
-- enqueue), has nothing left to do: every task is inserted by
-- `jobs::enqueue` or by the retry endpoint, which notifies too.
DROP TRIGGER IF EXISTS notify_workers ON apalis.jobs;
