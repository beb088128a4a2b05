-- name: insert
INSERT INTO onefile_sync.jobs (kind, priority, learner_id, params, progress_total)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING
RETURNING *

-- name: active_sync
SELECT * FROM onefile_sync.jobs
WHERE kind = 'sync' AND status IN ('queued', 'running')

-- name: active_enrol
SELECT * FROM onefile_sync.jobs
WHERE kind = 'enrol' AND learner_id = $1 AND status IN ('queued', 'running')

-- name: get
SELECT * FROM onefile_sync.jobs WHERE id = $1

-- name: failures
SELECT learner_id, reason FROM onefile_sync.job_failures
WHERE job_id = $1 ORDER BY learner_id LIMIT $2

-- name: failure_count
SELECT count(*) FROM onefile_sync.job_failures WHERE job_id = $1

-- name: claim
-- Interactive work first, then oldest first; a running job whose lease ran out is fair game
-- (its worker died). SKIP LOCKED lets replicas and slots claim side by side.
WITH next AS (
    SELECT id FROM onefile_sync.jobs
    WHERE status = 'queued' OR (status = 'running' AND lease_expires_at < now())
    ORDER BY priority, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE onefile_sync.jobs AS j
SET status = 'running',
    lease_owner = $1,
    lease_expires_at = now() + make_interval(secs => $2),
    attempts = j.attempts + 1,
    started_at = coalesce(j.started_at, now())
FROM next
WHERE j.id = next.id
RETURNING j.*

-- name: heartbeat
UPDATE onefile_sync.jobs
SET lease_expires_at = now() + make_interval(secs => $3)
WHERE id = $1 AND lease_owner = $2 AND status = 'running'
RETURNING id

-- name: progress
UPDATE onefile_sync.jobs SET progress_done = $3, progress_total = $4
WHERE id = $1 AND lease_owner = $2 AND status = 'running'

-- name: add_failure
INSERT INTO onefile_sync.job_failures (job_id, learner_id, reason) VALUES ($1, $2, $3)
ON CONFLICT (job_id, learner_id) DO UPDATE SET reason = EXCLUDED.reason, failed_at = now()

-- name: clear_failure
DELETE FROM onefile_sync.job_failures WHERE job_id = $1 AND learner_id = $2

-- name: finish
UPDATE onefile_sync.jobs
SET status = $3, result = $4, error = $5, finished_at = now(),
    lease_owner = NULL, lease_expires_at = NULL
WHERE id = $1 AND lease_owner = $2 AND status = 'running'
RETURNING *

-- name: release
-- Shutdown: hand the job back to the queue at once instead of waiting for the lease to end.
UPDATE onefile_sync.jobs
SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL,
    attempts = greatest(attempts - 1, 0)
WHERE id = $1 AND lease_owner = $2 AND status = 'running'

-- name: counts
SELECT kind, status, count(*)::int AS n FROM onefile_sync.jobs
WHERE status IN ('queued', 'running') OR finished_at > now() - interval '1 day'
GROUP BY kind, status

-- name: last_finished_sync
SELECT * FROM onefile_sync.jobs
WHERE kind = 'sync' AND finished_at IS NOT NULL
ORDER BY finished_at DESC LIMIT 1

-- name: notify
SELECT pg_notify('onefile_sync_jobs', $1)

-- name: try_leader_lock
SELECT pg_try_advisory_lock($1)

-- name: ping
SELECT 1
