-- Leadership: a lease row with a fencing epoch, plus a session advisory lock held by the
-- leader's own connection (app/jobs/leader.py has the protocol and why).

-- name: try_leader_lock
SELECT pg_try_advisory_lock($1)

-- name: previous_leader
-- Inside the takeover transaction: the row as the previous leader left it, locked.
SELECT epoch, owner, app_name,
       expires_at > now() AS current,
       extract(epoch FROM expires_at - now())::float8 AS remaining_s
FROM onefile_sync.leadership WHERE id = 1
FOR UPDATE

-- name: terminate_process
-- Every connection of a previous leader process (application_name is unique per process):
-- its open transactions roll back, its locks (advisory ones included) are freed at once.
SELECT count(pg_terminate_backend(pid))::int FROM pg_stat_activity
WHERE application_name = $1 AND pid <> pg_backend_pid()

-- name: take_leadership
-- Only ever run by the session that holds the leader lock.
INSERT INTO onefile_sync.leadership AS l
    (id, epoch, owner, app_name, backend_pid, taken_at, renewed_at, expires_at)
VALUES (1, 1, $1, $2, pg_backend_pid(), now(), now(), now() + make_interval(secs => $3))
ON CONFLICT (id) DO UPDATE
SET epoch = l.epoch + 1, owner = $1, app_name = $2, backend_pid = pg_backend_pid(),
    taken_at = now(), renewed_at = now(), expires_at = now() + make_interval(secs => $3)
RETURNING epoch

-- name: take_back_jobs
-- Work claimed under an earlier epoch goes back to the queue at once: its runner has stopped
-- (or stops before its next call and can write nothing: its claim token is gone).
UPDATE onefile_sync.jobs
SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, claim = NULL
WHERE status = 'running' AND claim_epoch IS DISTINCT FROM $1
RETURNING id

-- name: renew_leadership
UPDATE onefile_sync.leadership
SET renewed_at = now(), expires_at = now() + make_interval(secs => $2)
WHERE id = 1 AND epoch = $1 AND backend_pid = pg_backend_pid()
RETURNING epoch

-- name: depose
-- A leader whose lease ran out while its session still holds the lock (frozen, partitioned):
-- end its epoch, then terminate every connection of its process, the lock's one included.
-- A renewal that commits first makes the lease current again and this finds nothing (no row).
WITH old AS (
    UPDATE onefile_sync.leadership
    SET epoch = epoch + 1, expires_at = now()
    WHERE id = 1 AND expires_at < now()
    RETURNING app_name
)
SELECT (
    SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a
    WHERE a.application_name = old.app_name AND a.pid <> pg_backend_pid()
)::int
FROM old

-- name: resign
-- A clean shutdown: the lease ends now and nothing of this process needs terminating.
UPDATE onefile_sync.leadership
SET expires_at = now(), app_name = NULL, backend_pid = NULL
WHERE id = 1 AND epoch = $1 AND backend_pid = pg_backend_pid()
