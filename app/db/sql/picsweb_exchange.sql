-- The daily exchange's reads and writes of PICSWeb's tables (rules B1–B10), and nothing of
-- the service's own schema (app/db/sql/service_store.sql): batched reads, one transaction per
-- learner for its writes. Learners are "linked" when PICSWeb holds their OneFile user id.

-- name: linked_learners
-- Every learner linked to OneFile (a full sweep; the store leaves out those half-way).
SELECT id FROM picsweb.learners WHERE onefile_user_id IS NOT NULL ORDER BY id

-- name: learners_of_users
-- The learners linked to these OneFile users.
SELECT id, onefile_user_id FROM picsweb.learners WHERE onefile_user_id = ANY($1::bigint[])

-- name: changed_learners
-- Linked learners changed in PICSWeb: with no mark among $1/$2 (never exchanged, or failed),
-- or with a row updated past its mark (the high-water mark stored after our own writes).
-- One statement; per learner it probes the learner_id indexes of each table.
SELECT l.id
FROM picsweb.learners AS l
LEFT JOIN unnest($1::bigint[], $2::timestamptz[]) AS m (learner_id, seen_at)
       ON m.learner_id = l.id
WHERE l.onefile_user_id IS NOT NULL
  AND (m.seen_at IS NULL
       OR l.updated_at > m.seen_at
       OR EXISTS (SELECT 1 FROM picsweb.learner_qualifications AS q
                  WHERE q.learner_id = l.id AND q.updated_at > m.seen_at)
       OR EXISTS (SELECT 1 FROM picsweb.learner_qualification_units AS u
                  JOIN picsweb.learner_qualifications AS q ON q.id = u.learner_qualification_id
                  WHERE q.learner_id = l.id AND u.updated_at > m.seen_at)
       OR EXISTS (SELECT 1 FROM picsweb.reviews AS r
                  WHERE r.learner_id = l.id AND r.updated_at > m.seen_at))

-- name: learners
SELECT id, first_name, surname, email, telephone, mobile, dob, uln, nino, start_date,
       planned_end_date, main_officer_id, ethnicity, sex, disability, onefile_user_id
FROM picsweb.learners
WHERE id = ANY($1::bigint[])
ORDER BY id

-- name: linked_review_owners
-- Thin centre-wide rows: the OneFile learner of each of these OneFile reviews, by PICSWeb's link.
SELECT r.onefile_review_id AS review_id, l.onefile_user_id AS learner_user_id
FROM picsweb.reviews AS r
JOIN picsweb.learners AS l ON l.id = r.learner_id
WHERE r.onefile_review_id = ANY($1::bigint[]) AND l.onefile_user_id IS NOT NULL

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
SELECT q.learner_id, q.id, q.qualification_id, c.onefile_standard_id, q.start_date,
       q.planned_end_date, q.registration_number, q.registration_date, q.achieved_date,
       q.claimed_date, q.certificate_applied_date, q.certificate_received_date,
       q.assessor_officer_id, q.total_elements, q.elements_done, q.onefile_learning_aim_id,
       EXISTS (SELECT 1 FROM picsweb.learner_qualification_units AS u
               WHERE u.learner_qualification_id = q.id) AS has_units
FROM picsweb.learner_qualifications AS q
JOIN picsweb.qualifications AS c ON c.id = q.qualification_id
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

-- name: reviews_held
-- Which of these OneFile review ids a PICSWeb review already holds.
SELECT onefile_review_id FROM picsweb.reviews WHERE onefile_review_id = ANY($1::bigint[])

-- name: link_review
-- A due review uploaded (B4): its OneFile id, stored the moment OneFile answers. Nothing when
-- it was linked meanwhile; otherwise the row's new updated_at, which the learner's high-water
-- mark must not take for somebody else's change.
UPDATE picsweb.reviews SET onefile_review_id = $2, updated_at = now()
WHERE id = $1 AND onefile_review_id IS NULL
RETURNING updated_at
