"""Log lines: JSON, allow-listed fields only, job and learner ids from the context."""

from __future__ import annotations

import json
import logging

from app.logs import JsonFormatter, job_id_var, learner_id_var


def _format(record: logging.LogRecord) -> dict[str, object]:
    return dict(json.loads(JsonFormatter().format(record)))


def test_unknown_fields_are_dropped_and_context_ids_added() -> None:
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "onefile call", None, None)
    record.route = "POST User"
    record.status = 200
    record.email = "jo@example.test"  # not on the allow-list: must never reach a line
    record.first_name = "Jo"
    token_job = job_id_var.set(12)
    token_learner = learner_id_var.set(34)
    try:
        out = _format(record)
    finally:
        job_id_var.reset(token_job)
        learner_id_var.reset(token_learner)
    assert out["event"] == "onefile call"
    assert out["route"] == "POST User"
    assert out["job_id"] == 12
    assert out["learner_id"] == 34
    assert "email" not in out
    assert "Jo" not in json.dumps(out)


def test_exception_messages_are_not_logged() -> None:
    try:
        raise ValueError("duplicate key value (email)=(jo@example.test)")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "app", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    out = _format(record)
    assert out["error_type"] == "ValueError"
    assert "jo@example.test" not in json.dumps(out)
