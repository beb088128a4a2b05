-- The daily exchange's own state (rules B1–B10). PICSWeb's tables are never altered here.

-- One row per learner the exchange has seen.
CREATE TABLE onefile_sync.exchange_state (
    learner_id                  bigint PRIMARY KEY,
    last_exchanged_at           timestamptz,  -- last successful exchange (not a dry run)
    last_job_id                 bigint,       -- the last job that finished this learner
    -- Highest updated_at of the learner's PICSWeb rows (learner, qualifications, units,
    -- reviews) right after our own writes: only rows beyond it are "changed in PICSWeb".
    rows_seen_at             timestamptz,
    -- OneFile's LastModified of the learner when it was last exchanged successfully; a
    -- LastModified search that returns the same value again (the safety margin) is no change.
    onefile_modified_at         timestamptz,
    failed_at                   timestamptz,  -- set while the last exchange failed (B9)
    failure_reason              text,
    -- The sync job that still has to exchange this learner: a rerun after a crash resumes
    -- with these rows only. A stale id of another job means nothing.
    pending_job_id              bigint,
    pending_onefile_modified_at timestamptz
);
CREATE INDEX exchange_state_pending ON onefile_sync.exchange_state (pending_job_id, learner_id)
    WHERE pending_job_id IS NOT NULL;

-- One row per sync job: its mode, when it started (the next LastModified watermark) and how
-- its change detection ended, so a rerun does not detect again.
CREATE TABLE onefile_sync.sync_runs (
    job_id      bigint PRIMARY KEY,
    mode        text NOT NULL CHECK (mode IN ('full', 'incremental')),
    dry_run     boolean NOT NULL,
    started_at  timestamptz NOT NULL,
    detected_at timestamptz,
    total       integer,
    finished_at timestamptz,
    outcome     text
);
CREATE INDEX sync_runs_finished ON onefile_sync.sync_runs (started_at DESC)
    WHERE finished_at IS NOT NULL AND NOT dry_run;

-- The centre's OneFile reviews read in bulk by a sync job, kept here rather than in memory
-- (100,000 learners' reviews do not fit the service's memory budget). Unlogged: a cache.
CREATE UNLOGGED TABLE onefile_sync.centre_reviews (
    job_id            bigint NOT NULL,
    learner_user_id   bigint NOT NULL,
    review_id         bigint NOT NULL,
    scheduled_for     timestamptz,
    end_time          timestamptz,
    assessor_id       bigint,
    status            integer,
    started_on        timestamptz,
    learner_signed_on timestamptz
);
-- Not unique: a paged read may repeat a row; the merge ignores repeats.
CREATE INDEX centre_reviews_learner ON onefile_sync.centre_reviews (job_id, learner_user_id);
