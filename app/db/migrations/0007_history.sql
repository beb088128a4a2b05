-- Every value enrolment or the exchange writes, on either side, field by field (rule B11):
-- the learner's history answers "why does PICSWeb show this date?". Values are recorded as
-- written, personal data included: they live here only, never in logs; kept for
-- HISTORY_RETENTION_DAYS, pruned by the service.
CREATE TABLE onefile_sync.history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    learner_id bigint NOT NULL,        -- the PICSWeb learner whose enrolment or exchange wrote
    at         timestamptz NOT NULL DEFAULT now(),
    job_id     bigint,
    rule       text NOT NULL,          -- as in docs/exchange-rules.md: A6, B2, …
    side       text NOT NULL,          -- 'picsweb' or 'onefile' (app/store/history.py Side)
    entity     text NOT NULL,          -- PICSWeb's table, or the OneFile entity
    entity_id  bigint NOT NULL,        -- its id on that side
    field      text NOT NULL,          -- 'created' for a record created in OneFile
    old        jsonb,
    new        jsonb
);
-- GET /learners/{id}/history: a learner's newest first.
CREATE INDEX history_learner ON onefile_sync.history (learner_id, at DESC, id DESC);
-- The retention's bounded delete: oldest first.
CREATE INDEX history_at ON onefile_sync.history (at);
