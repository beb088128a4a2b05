-- name: last_sync_by_status
-- When the newest sync of each final status finished (seconds since the epoch). Dry runs
-- write nothing, so they say nothing about how fresh the data is.
SELECT status, extract(epoch FROM max(finished_at))::float8 AS finished
FROM onefile_sync.jobs
WHERE kind = 'sync' AND finished_at IS NOT NULL
  AND NOT coalesce((params ->> 'dry_run')::boolean, false)
GROUP BY status

-- name: last_full_sync
-- When the newest full sync that ran to its end (succeeded or partial) finished: incremental
-- runs come every few minutes, so only this says whether every learner was read lately.
SELECT extract(epoch FROM max(finished_at))::float8 AS finished
FROM onefile_sync.jobs
WHERE kind = 'sync' AND status IN ('succeeded', 'partial')
  AND result ->> 'mode' = 'full'
  AND NOT coalesce((params ->> 'dry_run')::boolean, false)
