-- The service's own state, in schema onefile_sync only (never picsweb: app/picsweb/ owns
-- PICSWeb's tables, and learners are named here by the ids PICSWeb gave them): enrolments,
-- sync runs, each learner's exchange state, the centre's reviews cached for one job.
-- "Enrolled" is PICSWeb's link (learners.onefile_user_id) and no enrolment stopped half-way
-- here; the callers pass the linked learners, these statements leave out those half-way.

-- ---- enrolments (A2) --------------------------------------------------------------------

-- name: enrolment_statuses
-- NULL (no row): never started here; 'in_progress'; 'finished'.
SELECT learner_id, status FROM onefile_sync.enrolments WHERE learner_id = ANY($1::bigint[])

-- name: start_enrolment
-- Marks the enrolment in progress; returns the status it had before (NULL: never started).
WITH before AS (
    SELECT status FROM onefile_sync.enrolments WHERE learner_id = $1
), upsert AS (
    INSERT INTO onefile_sync.enrolments (learner_id, status, job_id)
    VALUES ($1, 'in_progress', $2)
    ON CONFLICT (learner_id) DO UPDATE
    SET status = 'in_progress', job_id = EXCLUDED.job_id, finished_at = NULL
    RETURNING learner_id
)
SELECT (SELECT status FROM before) AS previous FROM upsert

-- name: finish_enrolment
UPDATE onefile_sync.enrolments
SET status = 'finished', onefile_user_id = $2, finished_at = now(), report = $3
WHERE learner_id = $1

-- ---- sync runs ---------------------------------------------------------------------------

-- name: last_syncs
-- The start of the last sync that finished (the LastModified watermark) and of the last full one.
SELECT max(started_at) AS last_started_at,
       max(started_at) FILTER (WHERE mode = 'full') AS last_full_started_at
FROM onefile_sync.sync_runs
WHERE finished_at IS NOT NULL AND NOT dry_run AND outcome IN ('succeeded', 'partial')

-- name: sync_run
SELECT job_id, mode, dry_run, started_at, detected_at, total
FROM onefile_sync.sync_runs
WHERE job_id = $1

-- name: start_sync_run
INSERT INTO onefile_sync.sync_runs (job_id, mode, dry_run, started_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (job_id) DO UPDATE SET mode = EXCLUDED.mode

-- name: sync_detected
UPDATE onefile_sync.sync_runs SET detected_at = now(), total = $2 WHERE job_id = $1

-- name: finish_sync_run
UPDATE onefile_sync.sync_runs SET finished_at = now(), outcome = $2 WHERE job_id = $1

-- ---- change detection: who is pending for a job -------------------------------------------

-- name: mark_all_enrolled
-- Full sweep: every linked learner ($2, from PICSWeb) not half-way is pending for this job.
INSERT INTO onefile_sync.exchange_state (learner_id, pending_job_id, pending_onefile_modified_at)
SELECT l.id, $1, NULL
FROM unnest($2::bigint[]) AS l (id)
LEFT JOIN onefile_sync.enrolments AS e ON e.learner_id = l.id
WHERE e.status IS DISTINCT FROM 'in_progress'
ON CONFLICT (learner_id) DO UPDATE
SET pending_job_id = EXCLUDED.pending_job_id, pending_onefile_modified_at = NULL

-- name: mark_onefile_changed
-- One page of `User/Search` by LastModified, as linked learners ($2) and their LastModified
-- ($3): those whose LastModified is not the one seen at their last successful exchange.
INSERT INTO onefile_sync.exchange_state (learner_id, pending_job_id, pending_onefile_modified_at)
SELECT seen.learner_id, $1, seen.modified
FROM unnest($2::bigint[], $3::timestamptz[]) AS seen (learner_id, modified)
LEFT JOIN onefile_sync.enrolments AS e ON e.learner_id = seen.learner_id
LEFT JOIN onefile_sync.exchange_state AS s ON s.learner_id = seen.learner_id
WHERE e.status IS DISTINCT FROM 'in_progress'
  AND (s.failed_at IS NOT NULL
       OR seen.modified IS NULL
       OR s.onefile_modified_at IS DISTINCT FROM seen.modified)
ON CONFLICT (learner_id) DO UPDATE
SET pending_job_id = EXCLUDED.pending_job_id,
    pending_onefile_modified_at = EXCLUDED.pending_onefile_modified_at

-- name: note_onefile_modified
-- Full sweep: remember each learner's LastModified, so that the next incremental search
-- (which overlaps by a safety margin) does not take it for a change. The sweep runs beside the
-- exchange: a learner still pending keeps it for `learner_exchanged`; one this job already
-- exchanged successfully takes it at once. $2 linked learners, $3 their LastModified.
UPDATE onefile_sync.exchange_state AS s
SET pending_onefile_modified_at = CASE WHEN s.pending_job_id = $1
                                       THEN seen.modified ELSE s.pending_onefile_modified_at END,
    onefile_modified_at = CASE WHEN s.pending_job_id = $1 THEN s.onefile_modified_at
                               ELSE seen.modified END
FROM unnest($2::bigint[], $3::timestamptz[]) AS seen (learner_id, modified)
WHERE s.learner_id = seen.learner_id
  AND (s.pending_job_id = $1 OR (s.last_job_id = $1 AND s.failed_at IS NULL))

-- name: stored_onefile_modified
-- Thin `User/Search` rows: for each of these linked learners not half-way, the LastModified
-- stored and when it was last exchanged (NULL: not known).
SELECT l.id AS learner_id, s.onefile_modified_at, s.last_exchanged_at
FROM unnest($1::bigint[]) AS l (id)
LEFT JOIN onefile_sync.enrolments AS e ON e.learner_id = l.id
LEFT JOIN onefile_sync.exchange_state AS s ON s.learner_id = l.id
WHERE e.status IS DISTINCT FROM 'in_progress'

-- name: rows_seen_marks
-- The learners whose PICSWeb rows have a high-water mark to compare with (exchanged, not
-- failed since): any other linked learner is "changed in PICSWeb" (never exchanged, or failed).
SELECT learner_id, rows_seen_at
FROM onefile_sync.exchange_state
WHERE rows_seen_at IS NOT NULL AND failed_at IS NULL

-- name: mark_picsweb_changed
-- Learners changed in PICSWeb ($2, from PICSWeb's rows against the marks above), unless
-- half-way or already pending for this job (which keeps what OneFile's detection noted).
INSERT INTO onefile_sync.exchange_state (learner_id, pending_job_id)
SELECT l.id, $1
FROM unnest($2::bigint[]) AS l (id)
LEFT JOIN onefile_sync.enrolments AS e ON e.learner_id = l.id
LEFT JOIN onefile_sync.exchange_state AS s ON s.learner_id = l.id
WHERE e.status IS DISTINCT FROM 'in_progress' AND s.pending_job_id IS DISTINCT FROM $1
ON CONFLICT (learner_id) DO UPDATE
SET pending_job_id = EXCLUDED.pending_job_id, pending_onefile_modified_at = NULL

-- name: count_pending
SELECT count(*) FROM onefile_sync.exchange_state WHERE pending_job_id = $1

-- name: pending_batch
-- Keyset pagination over this job's pending learners.
SELECT s.learner_id,
       s.failed_at IS NOT NULL AND s.last_job_id = $1 AS had_failed,
       s.pending_onefile_modified_at AS onefile_modified_at
FROM onefile_sync.exchange_state AS s
WHERE s.pending_job_id = $1 AND s.learner_id > $2
ORDER BY s.learner_id
LIMIT $3

-- name: failed_in_job
-- Which of these learners failed earlier in this same job (a rerun).
SELECT learner_id
FROM onefile_sync.exchange_state
WHERE learner_id = ANY($1::bigint[]) AND failed_at IS NOT NULL AND last_job_id = $2

-- ---- the centre's reviews, cached for one job ----------------------------------------------

-- name: clear_centre_reviews
DELETE FROM onefile_sync.centre_reviews WHERE job_id = $1

-- name: review_owners
-- The OneFile learner of each of these OneFile reviews, as an earlier GET said.
SELECT review_id, learner_user_id
FROM onefile_sync.review_owners
WHERE review_id = ANY($1::bigint[])

-- name: remember_review_owners
INSERT INTO onefile_sync.review_owners (review_id, learner_user_id)
SELECT * FROM unnest($1::bigint[], $2::bigint[])
ON CONFLICT (review_id) DO NOTHING

-- name: centre_reviews_of
SELECT learner_user_id, review_id, scheduled_for, end_time, assessor_id, status, started_on,
       learner_signed_on, detailed
FROM onefile_sync.centre_reviews
WHERE job_id = $1 AND learner_user_id = ANY($2::bigint[])
ORDER BY learner_user_id, review_id

-- ---- a learner's exchange ends --------------------------------------------------------------

-- name: learner_exchanged
-- A successful exchange; $3 the PICSWeb high-water mark (NULL: keep, a concurrent edit was seen).
INSERT INTO onefile_sync.exchange_state AS s
    (learner_id, last_exchanged_at, last_job_id, rows_seen_at, onefile_modified_at)
VALUES ($1, now(), $2, $3, NULL)
ON CONFLICT (learner_id) DO UPDATE
SET last_exchanged_at = now(),
    last_job_id = $2,
    rows_seen_at = COALESCE($3, s.rows_seen_at),
    onefile_modified_at = CASE WHEN s.pending_job_id = $2
                               THEN s.pending_onefile_modified_at ELSE s.onefile_modified_at END,
    failed_at = NULL,
    failure_reason = NULL,
    pending_job_id = CASE WHEN s.pending_job_id = $2 THEN NULL ELSE s.pending_job_id END,
    pending_onefile_modified_at = CASE WHEN s.pending_job_id = $2
                                       THEN NULL ELSE s.pending_onefile_modified_at END

-- name: learner_failed
INSERT INTO onefile_sync.exchange_state AS s (learner_id, last_job_id, failed_at, failure_reason)
VALUES ($1, $2, now(), $3)
ON CONFLICT (learner_id) DO UPDATE
SET last_job_id = $2,
    failed_at = now(),
    failure_reason = $3,
    pending_job_id = CASE WHEN s.pending_job_id = $2 THEN NULL ELSE s.pending_job_id END

-- name: learner_dry_run_done
UPDATE onefile_sync.exchange_state
SET pending_job_id = NULL
WHERE learner_id = $1 AND pending_job_id = $2

-- ---- history (B11) --------------------------------------------------------------------------

-- name: record_history
-- One row per field written; $1..$9 arrays of equal length, values as JSON text. Always on
-- the connection of the write it records (PICSWeb side: in the same transaction).
INSERT INTO onefile_sync.history (learner_id, job_id, rule, side, entity, entity_id, field,
                                  old, new)
SELECT h.learner_id, h.job_id, h.rule, h.side, h.entity, h.entity_id, h.field,
       h.old::jsonb, h.new::jsonb
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[],
            $7::text[], $8::text[], $9::text[])
     AS h (learner_id, job_id, rule, side, entity, entity_id, field, old, new)

-- name: learner_history
-- Newest first; ties (one write's fields) in the order they were recorded, reversed.
SELECT at, job_id, rule, side, entity, entity_id, field, old, new
FROM onefile_sync.history
WHERE learner_id = $1
ORDER BY at DESC, id DESC
LIMIT $2

-- name: prune_history
-- At most $2 rows older than $1 days, oldest first: a bounded delete, repeated by the caller.
DELETE FROM onefile_sync.history
WHERE id IN (SELECT id FROM onefile_sync.history
             WHERE at < now() - make_interval(days => $1)
             ORDER BY at
             LIMIT $2)
