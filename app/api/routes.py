"""The HTTP endpoints. They validate, queue a job and answer at once; workers do the rest."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from app.api.auth import require_token
from app.api.errors import ApiError
from app.api.middleware import MAX_BODY
from app.api.schemas import (
    DEFAULT_HISTORY_LIMIT,
    ID_BOUND,
    MAX_HISTORY_LIMIT,
    ChangeOut,
    ErrorOut,
    FailureOut,
    HealthOut,
    HistoryOut,
    JobOut,
    Progress,
    RefreshRequest,
    SyncRequest,
)
from app.exchange.eligibility import LearnerState, enrolment_problems, learner_states
from app.jobs.freshness import last_full_sync_time, last_sync_times
from app.jobs.models import Job
from app.jobs.store import AlreadyActive
from app.services import Services

router = APIRouter()
authed = [Depends(require_token)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or wrong bearer token."},
    422: {"model": ErrorOut, "description": "Invalid input; the message names the field."},
}
# What GuardBodyMiddleware refuses before any endpoint runs (app/api/middleware.py).
_BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Malformed JSON, or a NUL character."},
    413: {"model": ErrorOut, "description": f"A body over {MAX_BODY} bytes."},
}


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


Svc = Annotated[Services, Depends(services)]


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        kind=job.kind,
        status=job.status,
        progress=Progress(done=job.progress_done, total=job.progress_total),
        failures=[FailureOut(learner_id=f.learner_id, reason=f.reason) for f in job.failures],
        failure_count=job.failure_count,
        learner_id=job.learner_id,
        params=job.params,
        result=job.result,
        error=job.error,
        attempts=job.attempts,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def accepted(job: Job) -> JSONResponse:
    return JSONResponse(
        job_out(job).model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/jobs/{job.id}"},
    )


@router.post(
    "/learners/{learner_id}/enrol",
    status_code=202,
    response_model=JobOut,
    dependencies=authed,
    responses={
        **_ERRORS,
        **_BODY_ERRORS,
        404: {"model": ErrorOut, "description": "Unknown learner."},
        409: {"model": ErrorOut, "description": "Enrolment already finished."},
    },
    summary="Enrol a PICSWeb learner in OneFile (rules A1–A9)",
)
async def enrol(svc: Svc, learner_id: Annotated[int, Path(gt=0, lt=ID_BOUND)]) -> JSONResponse:
    facts = await svc.lookup.enrolment_facts(learner_id)
    if facts is None:
        raise ApiError(404, "learner_not_found", f"learner {learner_id} does not exist")
    status = (await svc.service_store.enrolment_statuses([learner_id])).get(learner_id)
    if LearnerState(learner_id, facts.onefile_user_id, status).enrolled:
        raise ApiError(
            409,
            "already_enrolled",
            f"learner {learner_id} is already enrolled in OneFile",
            onefile_user_id=facts.onefile_user_id,
        )
    problems = enrolment_problems(facts)
    if problems:
        raise ApiError(
            422,
            "not_enrollable",
            f"learner {learner_id} cannot be enrolled: " + "; ".join(p.message for p in problems),
            problems=[p.as_dict() for p in problems],
        )
    try:
        job = await svc.store.create("enrol", learner_id=learner_id)
    except AlreadyActive as exc:
        job = exc.job  # the same enrolment is already queued or running: join it
    return accepted(job)


@router.post(
    "/refresh",
    status_code=202,
    response_model=JobOut,
    dependencies=authed,
    responses={
        **_ERRORS,
        **_BODY_ERRORS,
        404: {"model": ErrorOut, "description": "Some learners do not exist."},
    },
    summary="Run the daily exchange now for chosen learners (Refresh with OneFile)",
)
async def refresh(svc: Svc, body: RefreshRequest) -> JSONResponse:
    ids = sorted(set(body.learner_ids))
    states = await learner_states(svc.lookup, svc.service_store, ids)
    unknown = [i for i in ids if i not in states]
    if unknown:
        raise ApiError(
            404, "learner_not_found", f"unknown learners: {_ids(unknown)}", learner_ids=unknown
        )
    not_enrolled = [i for i in ids if not states[i].enrolled]
    if not_enrolled:
        raise ApiError(
            422,
            "not_enrolled",
            f"learners not enrolled in OneFile: {_ids(not_enrolled)}",
            learner_ids=not_enrolled,
        )
    job = await svc.store.create(
        "refresh", params={"learner_ids": ids, "dry_run": body.dry_run}, total=len(ids)
    )
    return accepted(job)


@router.post(
    "/sync",
    status_code=202,
    response_model=JobOut,
    dependencies=authed,
    responses={
        **_ERRORS,
        **_BODY_ERRORS,
        409: {"model": ErrorOut, "description": "A sync is already queued or running."},
    },
    summary="Run the daily exchange for every enrolled learner",
)
async def sync(svc: Svc, body: Annotated[SyncRequest | None, Body()] = None) -> JSONResponse:
    req = body or SyncRequest()
    try:
        job = await svc.store.create("sync", params={"full": req.full, "dry_run": req.dry_run})
    except AlreadyActive as exc:
        raise ApiError(
            409,
            "sync_already_active",
            f"sync job {exc.job.id} is already {exc.job.status}",
            job_id=exc.job.id,
        ) from None
    return accepted(job)


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    dependencies=authed,
    responses={**_ERRORS, 404: {"model": ErrorOut, "description": "Unknown job."}},
    summary="A job's status, progress and failures",
)
async def get_job(svc: Svc, job_id: Annotated[int, Path(gt=0, lt=ID_BOUND)]) -> JobOut:
    job = await svc.store.get(job_id)
    if job is None:
        raise ApiError(404, "job_not_found", f"job {job_id} does not exist")
    return job_out(job)


@router.get(
    "/learners/{learner_id}/history",
    response_model=HistoryOut,
    dependencies=authed,
    responses={**_ERRORS, 404: {"model": ErrorOut, "description": "Unknown learner."}},
    summary="Every value enrolment and the exchange wrote for a learner, newest first (B11)",
)
async def learner_history(
    svc: Svc,
    learner_id: Annotated[int, Path(gt=0, lt=ID_BOUND)],
    limit: Annotated[
        int, Query(ge=1, le=MAX_HISTORY_LIMIT, description="How many changes, newest first.")
    ] = DEFAULT_HISTORY_LIMIT,
) -> HistoryOut:
    if not await svc.lookup.learner_links([learner_id]):
        raise ApiError(404, "learner_not_found", f"learner {learner_id} does not exist")
    rows = await svc.history.of_learner(learner_id, limit)
    return HistoryOut(
        learner_id=learner_id,
        changes=[ChangeOut.model_validate(r, from_attributes=True) for r in rows],
    )


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "The database does not answer."}},
    summary="Liveness and readiness: 200 while the database answers",
)
async def health(svc: Svc) -> JSONResponse:
    quota = svc.quota.state()
    body: dict[str, Any] = {
        "leader": svc.leader.is_leader if svc.leader else False,
        "quota": {
            "limit": quota.limit,
            "period_s": quota.period,
            "calls_in_window": quota.calls_in_window,
            "waiting": quota.waiting,
            "paused_s": round(quota.paused_for, 3),
        },
    }
    try:
        async with asyncio.timeout(2):
            last = await svc.store.last_finished_sync()
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "down", **body}, status_code=503)
    if last is not None:
        result = last.result or {}
        counts = result.get("learners")
        learners: dict[str, Any] = counts if isinstance(counts, dict) else {}
        body["last_sync"] = {
            "job_id": last.id,
            "status": last.status,
            "mode": result.get("mode"),
            "finished_at": last.finished_at.isoformat() if last.finished_at else None,
            "learners": last.progress_total,
            "failed_learners": learners.get("failed"),
        }
    return JSONResponse({"status": "ok", "database": "ok", **body})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(svc: Svc) -> Response:
    try:
        async with asyncio.timeout(2):
            counts = await svc.store.counts()
            last_syncs = await last_sync_times(svc.pool)
            last_full = await last_full_sync_time(svc.pool)
    except Exception:
        counts, last_syncs, last_full = None, None, None
    if counts is not None:
        svc.metrics.jobs_by_state.clear()
        queued = 0
        for kind, status, n in counts:
            svc.metrics.jobs_by_state.labels(kind, status).set(n)
            if status == "queued":
                queued += n
        svc.metrics.queue_depth.set(queued)
    if last_syncs is not None:
        svc.metrics.last_sync.clear()
        for status, finished in last_syncs.items():
            svc.metrics.last_sync.labels(status).set(finished)
        svc.metrics.last_full_sync.set(float("nan") if last_full is None else last_full)
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4")


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:20])
    return shown + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")
