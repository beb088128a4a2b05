-- Thin OneFile search rows (docs/onefile-api.md, "Paged searches"): a centre-wide
-- Review/Search may answer only ID and ScheduledFor.

-- A cached review row that lacks the details B5–B8 read: the learner's exchange reads it
-- with GET Review/{id}. Rows of a full-row OneFile stay `detailed`.
ALTER TABLE onefile_sync.centre_reviews ADD COLUMN detailed boolean NOT NULL DEFAULT true;

-- Whose review is it? A thin centre-wide row does not say. Reviews linked in PICSWeb say it
-- through picsweb.reviews.onefile_review_id; any other was read once with a GET, and its
-- learner is kept here (a review never changes learner), so that reviews of learners PICSWeb
-- does not know cost one GET ever, not one per sync.
CREATE TABLE onefile_sync.review_owners (
    review_id       bigint PRIMARY KEY,
    learner_user_id bigint NOT NULL
);
