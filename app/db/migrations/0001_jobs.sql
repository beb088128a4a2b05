-- The service's own schema: the job queue. PICSWeb's tables are never touched here.
CREATE TABLE onefile_sync.jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('enrol', 'refresh', 'sync')),
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'partial', 'failed')),
    priority         smallint NOT NULL,          -- 0 interactive (enrol, refresh), 1 batch (sync)
    learner_id       bigint,                     -- the learner of an enrol job
    params           jsonb NOT NULL DEFAULT '{}'::jsonb,
    progress_done    integer NOT NULL DEFAULT 0,
    progress_total   integer,
    result           jsonb,
    error            text,
    attempts         integer NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_expires_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);

-- Never two syncs at once, across replicas: the database refuses the second.
CREATE UNIQUE INDEX jobs_one_active_sync ON onefile_sync.jobs ((true))
    WHERE kind = 'sync' AND status IN ('queued', 'running');
-- One enrolment of a learner at a time; a second request joins the first.
CREATE UNIQUE INDEX jobs_one_active_enrol ON onefile_sync.jobs (learner_id)
    WHERE kind = 'enrol' AND status IN ('queued', 'running');
CREATE INDEX jobs_claimable ON onefile_sync.jobs (priority, id)
    WHERE status IN ('queued', 'running');
CREATE INDEX jobs_finished_kind ON onefile_sync.jobs (kind, finished_at DESC)
    WHERE finished_at IS NOT NULL;

-- Per-learner failures of a job; a table, not a JSON array, so 100,000 learners stay cheap.
CREATE TABLE onefile_sync.job_failures (
    job_id     bigint NOT NULL REFERENCES onefile_sync.jobs (id) ON DELETE CASCADE,
    learner_id bigint NOT NULL,
    reason     text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, learner_id)
);

-- Enrolment state per learner. A learner whose `picsweb.learners.onefile_user_id` is set is
-- enrolled unless a row here says its enrolment is still in progress (it stopped half-way and
-- is resumed by the next request). Learners enrolled before this service existed have no row.
CREATE TABLE onefile_sync.enrolments (
    learner_id      bigint PRIMARY KEY,
    status          text NOT NULL CHECK (status IN ('in_progress', 'finished')),
    onefile_user_id bigint,
    job_id          bigint,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    report          jsonb
);
