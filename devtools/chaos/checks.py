"""The chaos verdict: what the databases hold (OneFile ids mapped through MISIDs), duplicates
and losses, the jobs' outcome, the service's metrics, and the comparison with a reference run.

Every job succeeded; OneFile holds exactly one user per learner and per officer, one placement
per organisation, one learning aim per learner qualification with a standard, one review per
eligible PICSWeb review; and PICSWeb's tables (and OneFile's records) equal those of an
uninterrupted run of the same world."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from app.exchange import enrol_plan
from app.picsweb.rows import Review
from devtools.demo.picsweb_schema import TABLES
from devtools.simulator import SimulatorState


@dataclass
class Result:
    label: str
    seconds: float = 0.0
    kills: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    syncs: list[dict[str, Any]] = field(default_factory=list)
    enrol_retried: int = 0
    changes: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    onefile_calls: dict[str, int] = field(default_factory=dict)  # simulator's view, by status
    faults_injected: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # service's view (last process)
    health: list[tuple[float, int]] = field(default_factory=list)  # (t, status) during outage
    extra: dict[str, Any] = field(default_factory=dict)
    picsweb: dict[str, Counter[Any]] = field(default_factory=dict, repr=False)
    onefile: dict[str, Counter[Any]] = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, Any]:
        return {
            k: v for k, v in self.__dict__.items() if k not in ("picsweb", "onefile", "jobs")
        } | {
            "job_statuses": dict(Counter(j["status"] for j in self.jobs)),
            "jobs_not_succeeded": [j for j in self.jobs if j["status"] != "succeeded"],
        }


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date | dt.datetime | dt.time) else v


class _Ids:
    """OneFile ids → stable keys (MISIDs and natural fields)."""

    def __init__(self, sim: SimulatorState) -> None:
        self.users = {u["ID"]: (u["Role"], u["MISID"]) for u in sim.users()}
        self.placements = {p["ID"]: p["MISID"] or p["Name"] for p in sim.placements()}
        self.aims = {
            a["ID"]: (self.user(a["UserID"]), a["StandardID"]) for a in sim.learning_aims()
        }
        self.reviews = {
            r["ID"]: (self.user(r["LearnerID"]), _iso(r["ScheduledFor"])) for r in sim.reviews()
        }

    def user(self, uid: Any) -> Any:
        return None if uid is None else ("user", *self.users.get(uid, ("?", uid)))


async def picsweb_snapshot(
    conn: asyncpg.Connection, sim: SimulatorState
) -> dict[str, Counter[Any]]:
    """Every PICSWeb table as a multiset of rows: `updated_at` left out, OneFile ids mapped,
    review ids left out (reviews created from OneFile get ids in arrival order)."""
    ids = _Ids(sim)
    mapping: dict[str, Callable[[Any], Any]] = {
        "onefile_user_id": ids.user,
        "onefile_placement_id": lambda v: None if v is None else ids.placements.get(v, ("?", v)),
        "onefile_learning_aim_id": lambda v: None if v is None else ids.aims.get(v, ("?", v)),
        "onefile_review_id": lambda v: None if v is None else ids.reviews.get(v, ("?", v)),
    }
    out: dict[str, Counter[Any]] = {}
    for table in TABLES:
        rows = await conn.fetch(f"SELECT * FROM picsweb.{table}")  # noqa: S608 - fixed names
        bag: Counter[Any] = Counter()
        for row in rows:
            item = []
            for k, v in row.items():
                if k == "updated_at" or (table == "reviews" and k == "id"):
                    continue
                item.append((k, repr(mapping[k](v) if k in mapping else _iso(v))))
            bag[tuple(item)] += 1
        out[table] = bag
    return out


def onefile_snapshot(sim: SimulatorState) -> dict[str, Counter[Any]]:
    """OneFile's users, placements, learning aims and reviews, ids mapped (visits left out:
    a lost answer to POST Visit may leave an orphan, the accepted gap)."""
    ids = _Ids(sim)

    def bag(records: list[dict[str, Any]], maps: dict[str, Callable[[Any], Any]]) -> Counter[Any]:
        c: Counter[Any] = Counter()
        for rec in records:
            c[
                tuple(
                    (k, repr(maps[k](v) if k in maps else _iso(v)))
                    for k, v in sorted(rec.items())
                    if k not in ("ID", "LastModified")
                )
            ] += 1
        return c

    return {
        "users": bag(
            sim.users(),
            {"DefaultAssessorID": ids.user, "PlacementID": lambda v: ids.placements.get(v, v)},
        ),
        "placements": bag(sim.placements(), {}),
        "learning_aims": bag(sim.learning_aims(), {"UserID": ids.user, "LeadAssessorID": ids.user}),
        "reviews": bag(sim.reviews(), {"LearnerID": ids.user, "AssessorID": ids.user}),
    }


def compare(label: str, got: dict[str, Counter[Any]], want: dict[str, Counter[Any]]) -> list[str]:
    problems = []
    for table in sorted(set(got) | set(want)):
        extra = got.get(table, Counter()) - want.get(table, Counter())
        missing = want.get(table, Counter()) - got.get(table, Counter())
        if extra or missing:
            ex = [dict(r) for r in list(extra)[:2]]
            mi = [dict(r) for r in list(missing)[:2]]
            problems.append(
                f"{label}.{table}: {sum(extra.values())} rows not in the reference, "
                f"{sum(missing.values())} reference rows missing; e.g. extra {ex} missing {mi}"
            )
    return problems


async def duplicates_and_losses(conn: asyncpg.Connection, sim: SimulatorState) -> list[str]:
    """Exactly one OneFile record per PICSWeb thing; every link points at the right one."""
    problems: list[str] = []
    users = sim.users()
    learners = Counter(u["MISID"] for u in users if u["Role"] == 1)
    officers = Counter(u["MISID"] for u in users if u["Role"] == 5)
    places = Counter(p["MISID"] for p in sim.placements())
    for what, c in (("learner user", learners), ("officer user", officers), ("placement", places)):
        # (no MISID: an officer or organisation without ident; checked through its link below)
        dups = {k: n for k, n in c.items() if n > 1 and k is not None}
        if dups:
            problems.append(f"duplicate OneFile {what}s by MISID: {dups}")
    by_id = {u["ID"]: u for u in users}
    for r in await conn.fetch(
        "SELECT id, onefile_user_id FROM picsweb.learners WHERE onefile_user_id IS NOT NULL"
    ):
        u = by_id.get(r["onefile_user_id"])
        if u is None or u["Role"] != 1 or u["MISID"] != str(r["id"]):
            problems.append(f"learner {r['id']} linked to a wrong OneFile user")
    unenrolled = await conn.fetchval(
        "SELECT count(*) FROM picsweb.learners WHERE onefile_user_id IS NULL"
    )
    if unenrolled:
        problems.append(f"{unenrolled} learners not enrolled")
    linked_officers = {
        r["onefile_user_id"]: r["ident"]
        for r in await conn.fetch(
            "SELECT ident, onefile_user_id FROM picsweb.officers WHERE onefile_user_id IS NOT NULL"
        )
    }
    for u in users:
        if u["Role"] == 5 and linked_officers.get(u["ID"]) != u["MISID"]:
            problems.append(f"OneFile officer {u['MISID']} not linked to its PICSWeb officer")
    linked_orgs = {
        r["onefile_placement_id"]: r["ident"]
        for r in await conn.fetch(
            "SELECT ident, onefile_placement_id FROM picsweb.organisations "
            "WHERE onefile_placement_id IS NOT NULL"
        )
    }
    for p in sim.placements():
        if linked_orgs.get(p["ID"]) != p["MISID"]:
            problems.append(f"OneFile placement {p['MISID']} not linked to its organisation")
    # Learning aims: as many per (learner, standard) as PICSWeb has qualifications, each linked.
    want_aims = Counter(
        (str(r["learner_id"]), r["onefile_standard_id"])
        for r in await conn.fetch(
            "SELECT lq.learner_id, q.onefile_standard_id FROM picsweb.learner_qualifications lq "
            "JOIN picsweb.qualifications q ON q.id = lq.qualification_id "
            "WHERE q.onefile_standard_id IS NOT NULL"
        )
    )
    aims = sim.learning_aims()
    got_aims = Counter((by_id[a["UserID"]]["MISID"], a["StandardID"]) for a in aims)
    if got_aims != want_aims:
        problems.append(
            f"learning aims: {sum((got_aims - want_aims).values())} extra, "
            f"{sum((want_aims - got_aims).values())} missing"
        )
    linked_aims = {
        r[0]
        for r in await conn.fetch(
            "SELECT onefile_learning_aim_id FROM picsweb.learner_qualifications "
            "WHERE onefile_learning_aim_id IS NOT NULL"
        )
    }
    if unlinked := [a["ID"] for a in aims if a["ID"] not in linked_aims]:
        problems.append(f"{len(unlinked)} OneFile learning aims not linked in PICSWeb")
    # Reviews: every OneFile review linked to one PICSWeb review; no eligible one left behind.
    linked_reviews = {
        r[0]
        for r in await conn.fetch(
            "SELECT onefile_review_id FROM picsweb.reviews WHERE onefile_review_id IS NOT NULL"
        )
    }
    if orphans := [r["ID"] for r in sim.reviews() if r["ID"] not in linked_reviews]:
        problems.append(f"{len(orphans)} OneFile reviews with no PICSWeb review (duplicates)")
    if dangling := linked_reviews - {r["ID"] for r in sim.reviews()}:
        problems.append(f"{len(dangling)} PICSWeb reviews linked to no OneFile review")
    # A8, the service's own reading of it, at this moment.
    unlinked = [
        Review.from_row(r)
        for r in await conn.fetch(
            "SELECT id, type, planned_date, start_time, officer_id, attended, actual_date, "
            "trainee_signed_date, onefile_review_id "
            "FROM picsweb.reviews WHERE onefile_review_id IS NULL"
        )
    ]
    left = len(enrol_plan.reviews_to_upload(unlinked, dt.datetime.now(dt.UTC))[0])
    if left:
        problems.append(f"{left} eligible PICSWeb reviews not uploaded")
    return problems


async def job_problems(conn: asyncpg.Connection) -> tuple[list[str], list[dict[str, Any]]]:
    rows = [
        dict(r)
        for r in await conn.fetch(
            "SELECT id, kind, status, attempts, error FROM onefile_sync.jobs ORDER BY id"
        )
    ]
    bad = [
        f"job {r['id']} ({r['kind']}) {r['status']}: {r['error']}"
        for r in rows
        if r["status"] != "succeeded"
    ]
    return bad, rows


METRIC = re.compile(r"^(onefile_\w+?)(\{.*\})? (\S+)$", re.MULTILINE)


def parse_metrics(text: str) -> dict[str, float]:
    """The onefile_* counters, keyed `name{labels}` (histograms left out)."""
    out: dict[str, float] = {}
    for name, labels, value in METRIC.findall(text):
        if name.endswith(("_bucket", "_sum", "_count", "_created")):
            continue
        out[name + (labels or "")] = float(value)
    return out


def metric_sum(metrics: dict[str, float], name: str, **labels: str) -> float:
    total = 0.0
    for key, v in metrics.items():
        if key.split("{")[0] != name:
            continue
        if all(f'{k}="{val}"' in key for k, val in labels.items()):
            total += v
    return total


def check_against(result: Result, reference: Result) -> list[str]:
    return compare("picsweb", result.picsweb, reference.picsweb) + compare(
        "onefile", result.onefile, reference.onefile
    )


def last_ok(result: Result) -> bool:
    return bool(result.syncs) and result.syncs[-1]["status"] == "succeeded"


def job_brief(job: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": job["id"],
        "status": job["status"],
        "attempts": job.get("attempts"),
        "progress": job["progress"],
        "failures": job.get("failure_count", len(job.get("failures", []))),
    }


def faults_of(calls: list[Any]) -> dict[str, int]:
    c = Counter(x.status for x in calls)
    return {
        "5xx": c[500] + c[502] + c[503],
        "timeouts": c[504],  # answered 504 after the hang; the client had given up
        "429": c[429],
        "refused": c[401] + c[403],  # expired sessions (401 or 403, as the OneFile answers)
    }


def dump_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str))
