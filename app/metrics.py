"""Prometheus metrics, in a registry of the app's own (so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """Every metric the service exports; one instance per app, passed down explicitly."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.onefile_calls = Counter(
            "onefile_calls_total",
            "OneFile calls by templated route and HTTP status (0: no answer).",
            ["route", "status"],
            registry=r,
        )
        self.onefile_rate_limited = Counter(
            "onefile_rate_limited_total", "429 answers from OneFile.", registry=r
        )
        self.onefile_retries = Counter(
            "onefile_retries_total", "OneFile calls retried, by reason.", ["reason"], registry=r
        )
        self.onefile_latency = Histogram(
            "onefile_call_seconds",
            "OneFile call latency by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.quota_limit = Gauge(
            "onefile_quota_limit_calls_per_second",
            "Calls per second the OneFile quota allows (ONEFILE_RATE_LIMIT / ONEFILE_RATE_PERIOD).",
            registry=r,
        )
        self.quota_wait = Histogram(
            "onefile_quota_wait_seconds",
            "Time a call waited for the shared OneFile quota.",
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.jobs_finished = Counter(
            "onefile_sync_jobs_finished_total",
            "Jobs finished, by kind and final status.",
            ["kind", "status"],
            registry=r,
        )
        self.jobs_by_state = Gauge(
            "onefile_sync_jobs",
            "Jobs in the queue by kind and status (refreshed on scrape).",
            ["kind", "status"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "onefile_sync_queue_depth", "Jobs waiting to be claimed.", registry=r
        )
        self.learners_exchanged = Counter(
            "onefile_sync_learners_total",
            "Learners processed by jobs, by outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self.db_statements = Counter(
            "onefile_sync_db_statements_total", "SQL statements sent to Postgres.", registry=r
        )
        self.reviews_gone = Counter(
            "onefile_sync_reviews_gone_total",
            "Linked PICSWeb reviews an exchange found gone from OneFile, left as they are "
            "(B12); counted at every exchange that finds one.",
            registry=r,
        )
        self.is_leader = Gauge(
            "onefile_sync_leader", "1 while this process runs the OneFile workers.", registry=r
        )
        self.last_sync = Gauge(
            "onefile_sync_last_sync_timestamp_seconds",
            "When the newest sync (not a dry run) of each final status finished; read from "
            "the database on scrape, absent for a status no sync has ended with.",
            ["status"],
            registry=r,
        )
        self.sync_runs = Counter(
            "onefile_sync_runs_total",
            "Syncs started, by mode (full, incremental) and why that mode (exchange/schedule.py).",
            ["mode", "reason"],
            registry=r,
        )
        self.last_full_sync = Gauge(
            "onefile_sync_last_full_sync_timestamp_seconds",
            "When the newest full sync (every enrolled learner read) that ran to its end "
            "finished; read from the database on scrape, NaN until one has.",
            registry=r,
        )
        # A gauge without labels is always exported: NaN, not 0 (the epoch), so that "none yet"
        # or "the database did not answer" never reads as a sync 56 years old.
        self.last_full_sync.set(float("nan"))
        # Exported at 0 from the start, so that the first failure is an increase to alert on.
        for kind in ("enrol", "refresh", "sync"):
            for status in ("succeeded", "partial", "failed"):
                self.jobs_finished.labels(kind, status)

    def count_statement(self, _record: object) -> None:
        self.db_statements.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
