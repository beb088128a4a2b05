-- Enrolment (rules A1–A9): the only SQL the enrolment runs on PICSWeb's tables (its own
-- state is app/db/sql/service_store.sql's). Every write to a PICSWeb row bumps its updated_at
-- (no triggers).

-- name: learner
SELECT l.id, l.first_name, l.surname, l.email, l.telephone, l.mobile, l.dob, l.uln, l.nino,
       l.start_date, l.planned_end_date, l.main_officer_id, l.ethnicity, l.sex, l.disability,
       l.onefile_user_id
FROM picsweb.learners AS l
WHERE l.id = $1

-- name: placements
SELECT p.id, p.organisation_id, p.type, p.start_date
FROM picsweb.placements AS p
WHERE p.learner_id = $1
ORDER BY p.start_date DESC, p.id DESC

-- name: link_learner
UPDATE picsweb.learners SET onefile_user_id = $2, updated_at = now()
WHERE id = $1 AND onefile_user_id IS DISTINCT FROM $2

-- name: officer
SELECT id, first_name, surname, ident, email, onefile_user_id FROM picsweb.officers WHERE id = $1

-- name: link_officer
UPDATE picsweb.officers SET onefile_user_id = $2, updated_at = now()
WHERE id = $1 AND onefile_user_id IS NULL

-- name: officers_of_learner
-- Every officer an enrolment of the learner may upload (A4: the main officer, the assessors of
-- its qualifications, the officers of its reviews), read once for the whole enrolment.
SELECT o.id, o.first_name, o.surname, o.ident, o.email, o.onefile_user_id
FROM picsweb.officers AS o
WHERE o.id IN (SELECT l.main_officer_id FROM picsweb.learners AS l WHERE l.id = $1
               UNION
               SELECT q.assessor_officer_id FROM picsweb.learner_qualifications AS q
               WHERE q.learner_id = $1
               UNION
               SELECT r.officer_id FROM picsweb.reviews AS r WHERE r.learner_id = $1)
ORDER BY o.id

-- name: organisation
SELECT id, name, ident, onefile_placement_id FROM picsweb.organisations WHERE id = $1

-- name: link_organisation
UPDATE picsweb.organisations SET onefile_placement_id = $2, updated_at = now()
WHERE id = $1 AND onefile_placement_id IS NULL

-- name: entity_lock
-- Session-level advisory lock on one officer or organisation, in a key space of our own.
SELECT pg_advisory_lock(hashtextextended($1, 0))

-- name: entity_unlock
SELECT pg_advisory_unlock(hashtextextended($1, 0))

-- name: learner_qualifications
SELECT lq.id, lq.qualification_id, q.onefile_standard_id, lq.start_date, lq.planned_end_date,
       lq.registration_number, lq.registration_date, lq.achieved_date, lq.claimed_date,
       lq.certificate_applied_date, lq.certificate_received_date, lq.assessor_officer_id,
       lq.total_elements, lq.elements_done, lq.onefile_learning_aim_id,
       EXISTS (SELECT 1 FROM picsweb.learner_qualification_units AS u
               WHERE u.learner_qualification_id = lq.id) AS has_units
FROM picsweb.learner_qualifications AS lq
JOIN picsweb.qualifications AS q ON q.id = lq.qualification_id
WHERE lq.learner_id = $1
ORDER BY lq.id

-- name: link_learning_aim
UPDATE picsweb.learner_qualifications SET onefile_learning_aim_id = $2, updated_at = now()
WHERE id = $1 AND onefile_learning_aim_id IS NULL

-- name: reviews
SELECT id, type, planned_date, start_time, officer_id, attended, actual_date,
       trainee_signed_date, onefile_review_id
FROM picsweb.reviews
WHERE learner_id = $1
ORDER BY planned_date NULLS LAST, start_time NULLS FIRST, id

-- name: linked_review_ids
-- Which of these OneFile review ids a PICSWeb review already holds.
SELECT onefile_review_id FROM picsweb.reviews WHERE onefile_review_id = ANY($1::bigint[])

-- name: link_review
-- The row's new updated_at; nothing when the review was linked meanwhile.
UPDATE picsweb.reviews SET onefile_review_id = $2, updated_at = now()
WHERE id = $1 AND onefile_review_id IS NULL
RETURNING updated_at
