"""Log lines: JSON, allow-listed fields only, job and learner ids from the context."""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

from app.logs import (
    ALLOWED_FIELDS,
    WITHHELD,
    WITHHELD_FIELDS,
    JsonFormatter,
    job_id_var,
    learner_id_var,
)


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


def test_withheld_fields_say_so_without_their_value() -> None:
    record = logging.LogRecord("app", logging.WARNING, __file__, 1, "enrolment stopped", None, None)
    record.error = "OneFile said 400: Email jo@example.test already exists"
    record.entity, record.entity_id, record.onefile_user_id = "officer", 12, 10077
    out = _format(record)
    assert out["error"] == WITHHELD
    assert "jo@example.test" not in json.dumps(out)
    assert (out["entity"], out["entity_id"], out["onefile_user_id"]) == ("officer", 12, 10077)


LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}


def _log_calls(path: Path) -> list[ast.Call]:
    """Calls that look like `<logger>.<level>(…)` in one module."""
    return [
        node
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in LOG_METHODS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in {"log", "logger", "_log"}
    ]


def test_every_log_call_of_the_service_passes_only_known_fields() -> None:
    """A field off the list would vanish from the line: the event would not say what it is
    about. A non-literal `extra` could hold anything, so it is refused too."""
    root = Path(__file__).resolve().parents[1] / "app"
    known = ALLOWED_FIELDS | WITHHELD_FIELDS
    problems: list[str] = []
    calls = 0
    for path in sorted(root.rglob("*.py")):
        for call in _log_calls(path):
            calls += 1
            for kw in call.keywords:
                if kw.arg != "extra":
                    continue
                where = f"{path.relative_to(root.parent)}:{call.lineno}"
                if not isinstance(kw.value, ast.Dict) or None in kw.value.keys:
                    problems.append(f"{where}: extra is not a literal dict")
                    continue
                for key in kw.value.keys:
                    name = ast.literal_eval(key) if key is not None else None
                    if name not in known:
                        problems.append(f"{where}: {name!r} is not on the allow-list")
    assert calls > 20  # the scan found the service's log calls
    assert problems == []
