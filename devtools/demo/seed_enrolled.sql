-- Demo, benchmark and chaos tooling only: marks generated PICSWeb learners as already enrolled.
-- Plain reads by id: which learners, employers and reviews count is decided by the caller and
-- by the service's own rules (app/exchange/enrol_plan.py), never here.

-- name: officers
SELECT id, first_name, surname, ident, email FROM picsweb.officers ORDER BY id

-- name: organisations
SELECT id, name, ident FROM picsweb.organisations ORDER BY id

-- name: learners
SELECT id, first_name, surname, email, main_officer_id, start_date
FROM picsweb.learners WHERE id = ANY($1::bigint[]) ORDER BY id

-- name: placements
SELECT id, learner_id, organisation_id, type, start_date
FROM picsweb.placements WHERE learner_id = ANY($1::bigint[]) ORDER BY id

-- name: learner_qualifications
SELECT lq.id, lq.learner_id, q.onefile_standard_id, lq.start_date, lq.planned_end_date,
       lq.registration_number, lq.registration_date, lq.achieved_date, lq.claimed_date,
       lq.certificate_applied_date, lq.certificate_received_date, lq.assessor_officer_id
FROM picsweb.learner_qualifications lq
JOIN picsweb.qualifications q ON q.id = lq.qualification_id
WHERE q.onefile_standard_id IS NOT NULL AND lq.learner_id = ANY($1::bigint[])
ORDER BY lq.id

-- name: reviews
SELECT id, learner_id, type, planned_date, start_time, officer_id, attended, actual_date,
       trainee_signed_date, onefile_review_id
FROM picsweb.reviews WHERE learner_id = ANY($1::bigint[]) ORDER BY id

-- name: link_officers
UPDATE picsweb.officers o SET onefile_user_id = v.oid, updated_at = now()
FROM unnest($1::bigint[], $2::bigint[]) AS v(id, oid) WHERE o.id = v.id

-- name: link_organisations
UPDATE picsweb.organisations o SET onefile_placement_id = v.oid, updated_at = now()
FROM unnest($1::bigint[], $2::bigint[]) AS v(id, oid) WHERE o.id = v.id

-- name: link_learners
UPDATE picsweb.learners l SET onefile_user_id = v.oid, updated_at = now()
FROM unnest($1::bigint[], $2::bigint[]) AS v(id, oid) WHERE l.id = v.id

-- name: mark_enrolled
INSERT INTO onefile_sync.enrolments (learner_id, status, onefile_user_id, finished_at)
SELECT id, 'finished', oid, now() FROM unnest($1::bigint[], $2::bigint[]) AS v(id, oid)
ON CONFLICT (learner_id) DO UPDATE SET status = 'finished', onefile_user_id = EXCLUDED.onefile_user_id

-- name: link_learning_aims
UPDATE picsweb.learner_qualifications lq SET onefile_learning_aim_id = v.oid, updated_at = now()
FROM unnest($1::bigint[], $2::bigint[]) AS v(id, oid) WHERE lq.id = v.id

-- name: link_reviews
UPDATE picsweb.reviews r SET onefile_review_id = v.oid, updated_at = now()
FROM unnest($1::bigint[], $2::bigint[]) AS v(id, oid) WHERE r.id = v.id
