-- The daily exchange's SQL (rules B1–B10): batched reads of PICSWeb, one transaction per
-- learner for its writes, and the exchange's own state in schema onefile_sync.
-- "Enrolled": linked to OneFile and not stopped half-way (see picsweb_lookup.sql).

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

-- name: mark_all_enrolled
-- Full sweep: every enrolled learner is pending for this job.
INSERT INTO onefile_sync.exchange_state (learner_id, pending_job_id, pending_onefile_modified_at)
SELECT l.id, $1, NULL
FROM picsweb.learners AS l
LEFT JOIN onefile_sync.enrolments AS e ON e.learner_id = l.id
WHERE l.onefile_user_id IS NOT NULL AND e.status IS DISTINCT FROM 'in_progress'
ON CONFLICT (learner_id) DO UPDATE
SET pending_job_id = EXCLUDED.pending_job_id, pending_onefile_modified_at = NULL

-- name: mark_onefile_changed
-- One page of `User/Search` by LastModified: the learners whose LastModified is not the one
-- we saw at their last successful exchange. $2 user ids, $3 their LastModified.
INSERT INTO onefile_sync.exchange_state (learner_id, pending_job_id, pending_onefile_modified_at)
SELECT l.id, $1, seen.modified
FROM unnest($2::bigint[], $3::timestamptz[]) AS seen (user_id, modified)
JOIN picsweb.learners AS l ON l.onefile_user_id = seen.user_id
LEFT JOIN onefile_sync.enrolments AS e ON e.learner_id = l.id
LEFT JOIN onefile_sync.exchange_state AS s ON s.learner_id = l.id
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
-- exchanged successfully takes it at once.
UPDATE onefile_sync.exchange_state AS s
SET pending_onefile_modified_at = CASE WHEN s.pending_job_id = $1
                                       THEN seen.modified ELSE s.pending_onefile_modified_at END,
    onefile_modified_at = CASE WHEN s.pending_job_id = $1 THEN s.onefile_modified_at
                               ELSE seen.modified END
FROM unnest($2::bigint[], $3::timestamptz[]) AS seen (user_id, modified)
JOIN picsweb.learners AS l ON l.onefile_user_id = seen.user_id
WHERE s.learner_id = l.id
  AND (s.pending_job_id = $1 OR (s.last_job_id = $1 AND s.failed_at IS NULL))

-- name: stored_onefile_modified
-- Thin `User/Search` rows: for each of these users that is an enrolled learner (no row: not
-- ours), the LastModified stored and when it was last exchanged (NULL: not known).
SELECT l.onefile_user_id, s.onefile_modified_at, s.last_exchanged_at
FROM picsweb.learners AS l
LEFT JOIN onefile_sync.enrolments AS e ON e.learner_id = l.id
LEFT JOIN onefile_sync.exchange_state AS s ON s.learner_id = l.id
WHERE l.onefile_user_id = ANY($1::bigint[]) AND e.status IS DISTINCT FROM 'in_progress'

-- name: mark_picsweb_changed
-- Learners changed in PICSWeb since our last write, never exchanged, or failed last time.
-- One statement; per learner it probes the learner_id indexes of each table.
INSERT INTO onefile_sync.exchange_state (learner_id, pending_job_id)
SELECT l.id, $1
FROM picsweb.learners AS l
LEFT JOIN onefile_sync.enrolments AS e ON e.learner_id = l.id
LEFT JOIN onefile_sync.exchange_state AS s ON s.learner_id = l.id
WHERE l.onefile_user_id IS NOT NULL AND e.status IS DISTINCT FROM 'in_progress'
  AND s.pending_job_id IS DISTINCT FROM $1
  AND (s.learner_id IS NULL
       OR s.rows_seen_at IS NULL
       OR s.failed_at IS NOT NULL
       OR l.updated_at > s.rows_seen_at
       OR EXISTS (SELECT 1 FROM picsweb.learner_qualifications AS q
                  WHERE q.learner_id = l.id AND q.updated_at > s.rows_seen_at)
       OR EXISTS (SELECT 1 FROM picsweb.learner_qualification_units AS u
                  JOIN picsweb.learner_qualifications AS q ON q.id = u.learner_qualification_id
                  WHERE q.learner_id = l.id AND u.updated_at > s.rows_seen_at)
       OR EXISTS (SELECT 1 FROM picsweb.reviews AS r
                  WHERE r.learner_id = l.id AND r.updated_at > s.rows_seen_at))
ON CONFLICT (learner_id) DO UPDATE
SET pending_job_id = EXCLUDED.pending_job_id, pending_onefile_modified_at = NULL

-- name: count_pending
SELECT count(*) FROM onefile_sync.exchange_state WHERE pending_job_id = $1

-- name: pending_batch
-- Keyset pagination over this job's pending learners.
SELECT l.id, l.onefile_user_id, l.main_officer_id,
       s.failed_at IS NOT NULL AND s.last_job_id = $1 AS had_failed,
       s.pending_onefile_modified_at AS onefile_modified_at
FROM onefile_sync.exchange_state AS s
JOIN picsweb.learners AS l ON l.id = s.learner_id
WHERE s.pending_job_id = $1 AND s.learner_id > $2
ORDER BY s.learner_id
LIMIT $3

-- name: learners_by_id
SELECT l.id, l.onefile_user_id, l.main_officer_id,
       s.failed_at IS NOT NULL AND s.last_job_id = $2 AS had_failed,
       NULL::timestamptz AS onefile_modified_at
FROM picsweb.learners AS l
LEFT JOIN onefile_sync.exchange_state AS s ON s.learner_id = l.id
WHERE l.id = ANY($1::bigint[])
ORDER BY l.id

-- name: picsweb_seen
-- Highest updated_at over each learner's rows (GREATEST skips nulls).
SELECT l.id,
       GREATEST(
           l.updated_at,
           (SELECT max(q.updated_at) FROM picsweb.learner_qualifications AS q
            WHERE q.learner_id = l.id),
           (SELECT max(u.updated_at) FROM picsweb.learner_qualification_units AS u
            JOIN picsweb.learner_qualifications AS q ON q.id = u.learner_qualification_id
            WHERE q.learner_id = l.id),
           (SELECT max(r.updated_at) FROM picsweb.reviews AS r WHERE r.learner_id = l.id)
       ) AS seen_at
FROM picsweb.learners AS l
WHERE l.id = ANY($1::bigint[])

-- name: qualifications_of
SELECT q.id, q.learner_id, q.onefile_learning_aim_id,
       q.registration_number, q.registration_date,
       q.certificate_applied_date, q.certificate_received_date,
       q.total_elements, q.elements_done,
       EXISTS (SELECT 1 FROM picsweb.learner_qualification_units AS u
               WHERE u.learner_qualification_id = q.id) AS has_units
FROM picsweb.learner_qualifications AS q
WHERE q.learner_id = ANY($1::bigint[])
ORDER BY q.id

-- name: reviews_of
SELECT r.id, r.learner_id, r.type, r.planned_date, r.start_time, r.officer_id, r.attended,
       r.actual_date, r.trainee_signed_date, r.onefile_review_id
FROM picsweb.reviews AS r
WHERE r.learner_id = ANY($1::bigint[])
ORDER BY r.id

-- name: officer_links
-- OneFile user id → officer (the lowest id when two share a link).
SELECT DISTINCT ON (o.onefile_user_id) o.onefile_user_id, o.id
FROM picsweb.officers AS o
WHERE o.onefile_user_id IS NOT NULL
ORDER BY o.onefile_user_id, o.id

-- name: officer_links_of
SELECT DISTINCT ON (o.onefile_user_id) o.onefile_user_id, o.id
FROM picsweb.officers AS o
WHERE o.onefile_user_id = ANY($1::bigint[])
ORDER BY o.onefile_user_id, o.id

-- name: linked_reviews_estimate
-- How many OneFile reviews the centre holds, as far as PICSWeb knows.
SELECT count(*) FROM picsweb.reviews WHERE onefile_review_id IS NOT NULL

-- name: clear_centre_reviews
DELETE FROM onefile_sync.centre_reviews WHERE job_id = $1

-- name: review_owners
-- Thin centre-wide rows: the OneFile learner of each review, from PICSWeb's link or from
-- what an earlier GET said ($1 OneFile review ids).
SELECT r.onefile_review_id AS review_id, l.onefile_user_id AS learner_user_id
FROM picsweb.reviews AS r
JOIN picsweb.learners AS l ON l.id = r.learner_id
WHERE r.onefile_review_id = ANY($1::bigint[]) AND l.onefile_user_id IS NOT NULL
UNION
SELECT o.review_id, o.learner_user_id
FROM onefile_sync.review_owners AS o
WHERE o.review_id = ANY($1::bigint[])

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

-- name: update_qualification
-- Each field: $n set? then $n+1 value. Only a row whose values change is written (B10).
UPDATE picsweb.learner_qualifications AS q
SET total_elements = CASE WHEN $2 THEN $3::integer ELSE q.total_elements END,
    elements_done = CASE WHEN $4 THEN $5::integer ELSE q.elements_done END,
    registration_number = CASE WHEN $6 THEN $7::text ELSE q.registration_number END,
    registration_date = CASE WHEN $8 THEN $9::date ELSE q.registration_date END,
    certificate_applied_date = CASE WHEN $10 THEN $11::date ELSE q.certificate_applied_date END,
    certificate_received_date =
        CASE WHEN $12 THEN $13::date ELSE q.certificate_received_date END,
    updated_at = now()
WHERE q.id = $1 AND q.learner_id = $14
  AND (($2 AND q.total_elements IS DISTINCT FROM $3::integer)
       OR ($4 AND q.elements_done IS DISTINCT FROM $5::integer)
       OR ($6 AND q.registration_number IS DISTINCT FROM $7::text)
       OR ($8 AND q.registration_date IS DISTINCT FROM $9::date)
       OR ($10 AND q.certificate_applied_date IS DISTINCT FROM $11::date)
       OR ($12 AND q.certificate_received_date IS DISTINCT FROM $13::date))

-- name: update_review
-- B6–B8 on a matched review; planned date and time are never touched (B5).
UPDATE picsweb.reviews AS r
SET attended = CASE WHEN $2 THEN $3::text ELSE r.attended END,
    actual_date = CASE WHEN $4 THEN $5::date ELSE r.actual_date END,
    officer_id = CASE WHEN $6 THEN $7::bigint ELSE r.officer_id END,
    trainee_signed_date = CASE WHEN $8 THEN $9::date ELSE r.trainee_signed_date END,
    updated_at = now()
WHERE r.id = $1 AND r.learner_id = $10
  AND (($2 AND r.attended IS DISTINCT FROM $3::text)
       OR ($4 AND r.actual_date IS DISTINCT FROM $5::date)
       OR ($6 AND r.officer_id IS DISTINCT FROM $7::bigint)
       OR ($8 AND r.trainee_signed_date IS DISTINCT FROM $9::date))

-- name: insert_review
INSERT INTO picsweb.reviews (learner_id, type, planned_date, start_time, officer_id, attended,
                             actual_date, trainee_signed_date, onefile_review_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (onefile_review_id) DO NOTHING
RETURNING id

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
