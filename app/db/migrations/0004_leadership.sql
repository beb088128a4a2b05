-- Leadership as a lease with a fencing token, and fenced job claims (issue 13).
-- app/jobs/leader.py explains the protocol; PICSWeb's tables are never touched here.

-- One row: who leads, under which epoch (incremented at every takeover: the fencing token of
-- leadership), until when on the database's clock, and which session holds the leader lock.
CREATE TABLE onefile_sync.leadership (
    id          smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    epoch       bigint NOT NULL,
    owner       text NOT NULL,         -- host:pid, for people
    app_name    text,                  -- application_name of every connection of the leader
                                       -- process: what a successor terminates
    backend_pid integer,               -- the session that holds the leader lock
    taken_at    timestamptz NOT NULL,
    renewed_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- Every claim of a job gets its own token; every write in the job's name names it. `attempts`
-- cannot serve: a release gives an attempt back, so two claims may share a number.
CREATE SEQUENCE onefile_sync.job_claims;
ALTER TABLE onefile_sync.jobs
    ADD COLUMN claim       bigint,     -- the current claim's token; NULL when not claimed
    ADD COLUMN claim_epoch bigint;     -- the leadership epoch it was claimed under
-- Unique, which also makes `claim` a key column: a write in the job's name locks the row
-- FOR KEY SHARE, which every change of the claim (a takeover, a new claim, finish, release)
-- must wait for, while heartbeats and progress (no key change) go past it. With FOR SHARE,
-- 16 learners' transactions in a row starved the job's own heartbeat under load.
CREATE UNIQUE INDEX jobs_claim ON onefile_sync.jobs (claim);
