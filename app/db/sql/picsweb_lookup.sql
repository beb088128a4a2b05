-- Read-only questions the API asks PICSWeb before it queues work (PICSWeb's tables only).

-- name: learner_links
-- For each asked id that exists: its OneFile user id (NULL: not linked).
SELECT l.id, l.onefile_user_id
FROM picsweb.learners AS l
WHERE l.id = ANY($1::bigint[])

-- name: enrolment_facts
-- What rule A1 and the data checks need, without reading more personal data than that.
SELECT l.id,
       l.email,
       l.uln,
       l.main_officer_id,
       l.onefile_user_id,
       EXISTS (SELECT 1 FROM picsweb.placements p WHERE p.learner_id = l.id) AS has_placement,
       (SELECT o.id FROM picsweb.officers o WHERE o.id = l.main_officer_id) AS main_officer_found
FROM picsweb.learners AS l
WHERE l.id = $1

-- name: enrolment_officers
-- The officers an enrolment of the learner may upload (A4: the main officer, the assessors of
-- its qualifications, the officers of its reviews): linked to OneFile? and the email (A1).
SELECT o.id, o.onefile_user_id IS NOT NULL AS linked, o.email
FROM picsweb.officers AS o
WHERE o.id IN (SELECT l.main_officer_id FROM picsweb.learners AS l WHERE l.id = $1
               UNION
               SELECT q.assessor_officer_id FROM picsweb.learner_qualifications AS q
               WHERE q.learner_id = $1
               UNION
               SELECT r.officer_id FROM picsweb.reviews AS r WHERE r.learner_id = $1)
