"""JSON-lines logging. Records carry ids, counts, routes, statuses and durations only.

Callers pass structured fields through `extra=`; this formatter keeps only a known set of
keys, so a stray field holding personal data cannot leak into the logs by accident. Every key
the service passes is on the list or withheld by name (tests/test_logs.py scans the calls), so
no field is dropped unnoticed: a line says which learner, job, officer or record it is about.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from typing import Any

# Set by the worker for each job's task and by the exchange for each learner, so that every
# line logged on their behalf (a OneFile call, a retry) carries them without passing them down.
job_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("job_id", default=None)
learner_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "learner_id", default=None
)
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

ALLOWED_FIELDS = frozenset(
    {
        "job_id",
        "kind",
        "status",
        "learner_id",
        "route",
        "duration_ms",
        "duration_s",
        "attempt",
        "count",
        "error_type",
        "error_code",
        "pause_s",
        "method",
        "path",
        "request_id",
        "done",
        "total",
        "failed",
        "calls",
        "applied",
        "replica",
        "port",
        "created",
        "linked",
        "skipped",
        "officer_id",
        "organisation_id",
        "review_id",
        "onefile_id",
        "outcome",
        "reason",
        "setting",
        # leadership hand-overs (app/jobs/leader.py)
        "epoch",
        "previous",
        "jobs_taken_back",
        "handover_wait_s",
        # what a line is about (app/exchange): record types and ids, never their values
        "entity",  # "officer", "organisation", … — a kind of record
        "entity_id",
        "onefile_user_id",
        "aim_id",
    }
)
# Fields the code passes whose value may quote PICSWeb or OneFile data (an exception's message
# echoes what it refused): the line says that one was given, never what it said. The job's
# failures (GET /jobs/{id}) carry the reason to the caller who may see it.
WITHHELD_FIELDS = frozenset({"error"})
WITHHELD = "withheld: may quote personal data"
_STD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        job_id, learner_id = job_id_var.get(), learner_id_var.get()
        request_id = request_id_var.get()
        if request_id is not None:
            out["request_id"] = request_id
        if job_id is not None:
            out["job_id"] = job_id
        if learner_id is not None:
            out["learner_id"] = learner_id
        for key, value in record.__dict__.items():
            if key in _STD:
                continue
            if key in ALLOWED_FIELDS:
                out[key] = value
            elif key in WITHHELD_FIELDS:
                out[key] = WITHHELD
        if record.exc_info and record.exc_info[0] is not None:
            # The exception's type and where it happened; never its message, which may
            # carry values (asyncpg and httpx both quote inputs in theirs).
            exc_type, _, tb = record.exc_info
            out["error_type"] = exc_type.__name__
            frames = []
            while tb is not None:
                frames.append(f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}")
                tb = tb.tb_next
            out["where"] = frames[-3:]
        return json.dumps(out, default=str)


class _OneErrorPerStartupFailure(logging.Filter):
    """uvicorn follows a failed start-up with "Application startup failed. Exiting." at error
    level; app/startup.py has already logged the reason as an error, so uvicorn's line is kept
    as info and each failure makes exactly one error line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.error" and record.msg == "Application startup failed. Exiting.":
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the app's loggers and uvicorn's, on a terminal too.

    JSON always, not text when stderr is a terminal: a container started with a TTY
    (`docker run -t`, `kubectl run -it`) would otherwise send text to the log collector.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_OneErrorPerStartupFailure())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # Access lines carry full paths and are replaced by our own request log.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
