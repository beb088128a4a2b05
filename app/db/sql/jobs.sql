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
-- (its runner stopped by its own clock before the lease ended). SKIP LOCKED lets slots claim
-- side by side. Only the current leader claims: its epoch, its lease not expired — and the
-- leadership row is share-locked, so a takeover waits for this claim to commit and then takes
-- the job back, or makes this claim find no leader. Each claim gets a token of its own.
WITH leader AS (
    SELECT 1 FROM onefile_sync.leadership
    WHERE id = 1 AND epoch = $3 AND expires_at > now()
    FOR SHARE
), next AS (
    SELECT id FROM onefile_sync.jobs
    WHERE (status = 'queued' OR (status = 'running' AND lease_expires_at < now()))
      AND EXISTS (SELECT 1 FROM leader)
    ORDER BY priority, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE onefile_sync.jobs AS j
SET status = 'running',
    lease_owner = $1,
    lease_expires_at = now() + make_interval(secs => $2),
    attempts = j.attempts + 1,
    claim = nextval('onefile_sync.job_claims'),
    claim_epoch = $3,
    started_at = coalesce(j.started_at, now())
FROM next
WHERE j.id = next.id
RETURNING j.*

-- name: heartbeat
UPDATE onefile_sync.jobs
SET lease_expires_at = now() + make_interval(secs => $3)
WHERE id = $1 AND claim = $2 AND status = 'running'
RETURNING id

-- name: progress
UPDATE onefile_sync.jobs SET progress_done = $3, progress_total = $4
WHERE id = $1 AND claim = $2 AND status = 'running'
RETURNING id

-- name: add_failure
-- Fenced like every write in a job's name: the claim is key-share-locked for the statement.
WITH j AS (
    SELECT id FROM onefile_sync.jobs
    WHERE id = $1 AND claim = $4 AND status = 'running' AND lease_expires_at > now()
    FOR KEY SHARE
)
INSERT INTO onefile_sync.job_failures (job_id, learner_id, reason)
SELECT j.id, $2, $3 FROM j
ON CONFLICT (job_id, learner_id) DO UPDATE SET reason = EXCLUDED.reason, failed_at = now()
RETURNING job_id

-- name: clear_failure
WITH j AS (
    SELECT id FROM onefile_sync.jobs
    WHERE id = $1 AND claim = $3 AND status = 'running' AND lease_expires_at > now()
    FOR KEY SHARE
), gone AS (
    DELETE FROM onefile_sync.job_failures f USING j
    WHERE f.job_id = j.id AND f.learner_id = $2
)
SELECT count(*) FROM j

-- name: finish
UPDATE onefile_sync.jobs
SET status = $3, result = $4, error = $5, finished_at = now(),
    lease_owner = NULL, lease_expires_at = NULL, claim = NULL
WHERE id = $1 AND claim = $2 AND status = 'running'
RETURNING *

-- name: release
-- Shutdown: hand the job back to the queue at once instead of waiting for the lease to end.
-- The attempt is given back: a deliberate shutdown is not the job's fault.
UPDATE onefile_sync.jobs
SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, claim = NULL,
    attempts = greatest(attempts - 1, 0)
WHERE id = $1 AND claim = $2 AND status = 'running'

-- name: fence
-- A write in a job's name runs in a transaction that starts here: the claim must still be
-- this runner's and its lease current; the row stays key-share-locked until the write
-- commits, so a change of the claim (a key column: takeover, claim, finish, release) comes
-- strictly before or strictly after it. Heartbeats and progress change no key: not blocked.
SELECT id FROM onefile_sync.jobs
WHERE id = $1 AND claim = $2 AND status = 'running' AND lease_expires_at > now()
FOR KEY SHARE

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

