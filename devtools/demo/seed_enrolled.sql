-- Demo and benchmark tooling only: marks generated PICSWeb data as already enrolled.

-- name: officers
SELECT id, first_name, surname, ident, email FROM picsweb.officers ORDER BY id

-- name: organisations
SELECT id, name, ident FROM picsweb.organisations ORDER BY id

-- name: enrollable_learners
-- Learners rule A1 accepts, with the employer of rule A3 (most recent type P, else any).
SELECT l.id, l.first_name, l.surname, l.email, l.main_officer_id, l.start_date,
       (SELECT p.organisation_id FROM picsweb.placements p
        WHERE p.learner_id = l.id
        ORDER BY (p.type = 'P') DESC, p.start_date DESC, p.id DESC LIMIT 1) AS organisation_id
FROM picsweb.learners l
WHERE l.email IS NOT NULL AND l.main_officer_id IS NOT NULL
  AND EXISTS (SELECT 1 FROM picsweb.placements p WHERE p.learner_id = l.id)
ORDER BY l.id

-- name: learner_qualifications
SELECT lq.id, lq.learner_id, q.onefile_standard_id, lq.start_date, lq.planned_end_date,
       lq.registration_number, lq.registration_date, lq.achieved_date, lq.claimed_date,
       lq.certificate_applied_date, lq.certificate_received_date, lq.assessor_officer_id
FROM picsweb.learner_qualifications lq
JOIN picsweb.qualifications q ON q.id = lq.qualification_id
WHERE q.onefile_standard_id IS NOT NULL AND lq.learner_id = ANY($1::bigint[])
ORDER BY lq.id

-- name: due_reviews
SELECT r.id, r.learner_id, r.planned_date, r.start_time, r.officer_id
FROM picsweb.reviews r
WHERE r.type = 'N' AND r.attended = 'U' AND r.planned_date > $2
  AND r.onefile_review_id IS NULL AND r.learner_id = ANY($1::bigint[])
ORDER BY r.id

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
