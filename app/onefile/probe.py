"""`onefile-sync probe`: settle what the public evidence leaves open, on the customer's OneFile.

docs/onefile-api.md, "Settling the unknowns". By default the probe only reads — Authentication,
a few searches and a GET of one record of each kind, through the same `Quota` as the service —
and reports: how the session body comes; for User, LearningAim, Review and Placement, which
fields a paged row holds against a GET of the same record; the largest page size honoured; which
field names the service relies on no record had; and the settings to use.

Page size: page 1 of the centre's learners (and reviews) at the largest size (1000). A full page
proves 1000 honoured. A shorter page of n rows is either the last or a silent cap: page 2 at
size n tells (rows there: a cap of n). With fewer rows than any cap, the probe can only say
"at least n"; the service then finds a cap itself, for one extra call (app/onefile/paging.py).

`--write` (only with an explicit sandbox centre) also creates a throw-away assessor, placement
and learner, assigns a standard, updates the aim, then sends one aim field alone to see whether
OneFile replaced the record (the other field cleared) or merged it, and compares the learner's
LastModified before and after (does an aim change move it? The incremental exchange relies on
it). What it created is listed by id, to be deactivated by hand: OneFile's API deletes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from app.onefile import wire
from app.onefile.client import AIM, PLACEMENT, REVIEW, USER, Centre, OneFileClient
from app.onefile.drafts import AssessorDraft, LearnerDraft
from app.onefile.errors import OneFileError
from app.onefile.paging import FLOOR, MAX_PAGE_SIZE, Rows
from app.onefile.quota import Quota
from app.onefile.transport import counting_calls

if TYPE_CHECKING:
    from app.settings import OneFileSettings

ENTITIES = (USER, AIM, REVIEW, PLACEMENT)
LEARNERS_TRIED_FOR_AIMS = 5  # learners whose aims are searched until one has any


@dataclass
class Findings:
    """What the probe found; `as_json()` is the `--json` output."""

    session_body: str = ""
    page_size_honoured: int = 0
    page_size_confirmed: bool = False  # a full page (or a cap) seen: not merely "at least"
    page_cap: int | None = None
    thin_rows: dict[str, bool | None] = field(default_factory=dict)  # None: no record seen
    row_fields: dict[str, list[str]] = field(default_factory=dict)
    get_fields: dict[str, list[str]] = field(default_factory=dict)
    missing_fields: dict[str, list[str]] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    write: dict[str, Any] | None = None
    calls: int = 0

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "session_body": self.session_body,
            "page_size_honoured": self.page_size_honoured,
            "page_size_confirmed": self.page_size_confirmed,
            "page_cap": self.page_cap,
            "thin_rows": self.thin_rows,
            "missing_fields": self.missing_fields,
            "settings": self.settings,
            "row_fields": self.row_fields,
            "get_fields": self.get_fields,
            "notes": self.notes,
            "calls": self.calls,
        }
        if self.write is not None:
            out["write"] = self.write
        return out


def _has(record: dict[str, Any], name: str) -> bool:
    return any(k.lower() == name.lower() for k in record)


def relied_on(client: OneFileClient) -> dict[str, tuple[str, ...]]:
    """The OneFile field names the service reads, per entity (the aim's from the settings)."""
    aim = tuple(n for k, n in client.aim_fields.mapping().items() if k != "status")
    return {**wire.RELIED_ON, AIM: aim}


class Probe:
    """One probe run against one OneFile, through `client` (and its quota)."""

    def __init__(self, client: OneFileClient) -> None:
        self.c = client
        self.f = Findings()
        self._rows: dict[str, dict[str, Any]] = {}
        self._records: dict[str, dict[str, Any]] = {}

    async def run(self) -> Findings:
        await self.c.authenticate()
        self.f.session_body = self.c.session_body
        learners = await self._page_size(
            USER, wire.user_filter(self.c.centre.organisation_id, role=wire.ROLE_LEARNER)
        )
        await self._page_size(REVIEW, wire.review_filter(self.c.centre.organisation_id))
        await self._aim_row(learners)
        await self._placement_row()
        for entity in ENTITIES:
            await self._compare(entity)
        self._missing()
        self._settings()
        return self.f

    # ---- page size -------------------------------------------------------------------------

    async def _page_size(self, entity: str, flt: dict[str, Any]) -> Rows:
        rows = await self.c.search_page(entity, flt, 1, MAX_PAGE_SIZE)
        if rows:
            self._rows.setdefault(entity, rows[0])
        n = len(rows)
        if n >= MAX_PAGE_SIZE:
            self._honoured(MAX_PAGE_SIZE, confirmed=True)
        elif n:
            more = await self.c.search_page(entity, flt, 2, n)
            if more:  # a silent cap: n rows whatever is asked
                self.f.page_cap = n if self.f.page_cap is None else min(self.f.page_cap, n)
                self._honoured(n, confirmed=True)
                self.f.notes.append(f"{entity}/Search answers at most {n} rows a page")
            else:
                self._honoured(n, confirmed=False)
        return rows

    def _honoured(self, size: int, *, confirmed: bool) -> None:
        f = self.f
        if f.page_cap is not None:
            f.page_size_honoured, f.page_size_confirmed = f.page_cap, True
        elif confirmed and size >= f.page_size_honoured:
            f.page_size_honoured, f.page_size_confirmed = size, True
        elif not f.page_size_confirmed:
            f.page_size_honoured = max(f.page_size_honoured, size)

    # ---- one row and one GET of each entity -----------------------------------------------

    async def _aim_row(self, learners: Rows) -> None:
        for row in learners[:LEARNERS_TRIED_FOR_AIMS]:
            user_id = row.get("ID")
            if not isinstance(user_id, int):
                continue
            aims = await self.c.search_page(AIM, wire.aim_filter(user_id), 1, FLOOR)
            if aims:
                self._rows[AIM] = aims[0]
                return

    async def _placement_row(self) -> None:
        flt = wire.placement_filter(self.c.centre.organisation_id)
        rows = await self.c.search_page(PLACEMENT, flt, 1, FLOOR)
        if rows:
            self._rows[PLACEMENT] = rows[0]

    async def _compare(self, entity: str) -> None:
        row = self._rows.get(entity)
        record_id = None if row is None else row.get("ID", row.get("Id"))
        if row is None or not isinstance(record_id, int):
            self.f.thin_rows[entity] = None
            self.f.notes.append(f"no {entity} record in the centre: its rows were not checked")
            return
        try:
            record = await self.c.get_record(entity, record_id)
        except OneFileError as exc:
            self.f.thin_rows[entity] = None
            self.f.notes.append(f"GET {entity}/{{id}} failed: {exc}")
            return
        self._records[entity] = record
        self.f.row_fields[entity] = sorted(row)
        self.f.get_fields[entity] = sorted(record)
        self.f.thin_rows[entity] = any(not _has(row, k) for k in record)

    def _missing(self) -> None:
        for entity, names in relied_on(self.c).items():
            record = self._records.get(entity)
            if record is None:
                continue
            absent = [n for n in names if not _has(record, n)]
            if absent:
                self.f.missing_fields[entity] = absent

    def _settings(self) -> None:
        f = self.f
        size = f.page_size_honoured if f.page_size_confirmed else MAX_PAGE_SIZE
        f.settings["ONEFILE_PAGE_SIZE"] = str(max(FLOOR, min(size, MAX_PAGE_SIZE)))
        f.settings.update(self.c.aim_fields.assumed)
        missing = set(f.missing_fields.get(AIM, ()))
        record = self._records.get(AIM, {})
        for setting, name in self.c.aim_fields.assumed.items():
            if name in missing:
                guesses = _candidates(setting, record)
                f.notes.append(
                    f"{setting}: no aim had {name!r}"
                    + (f"; fields that look like it: {', '.join(guesses)}" if guesses else "")
                )

    # ---- --write -----------------------------------------------------------------------------

    async def write(self, c: OneFileClient, standard_id: int | None) -> None:
        """Throw-away records in `c`'s (sandbox) centre; replace-or-merge and LastModified."""
        stamp = f"{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}{secrets.token_hex(2)}"
        email = f"onefile-sync-probe-{stamp}@example.com"  # RFC 2606: never delivered
        out: dict[str, Any] = {"created": {}}
        self.f.write = out
        assessor = await c.create_assessor(
            AssessorDraft("Probe", "Assessor", email, f"PROBE-A-{stamp}")
        )
        out["created"]["assessor"] = assessor
        placement = await c.create_placement(f"onefile-sync probe {stamp}", f"PROBE-P-{stamp}")
        out["created"]["placement"] = placement
        learner = await c.create_learner(
            LearnerDraft(
                misid=f"PROBE-L-{stamp}",
                first_name="Probe",
                last_name="Learner",
                email=email.replace("probe-", "probe-learner-"),
                default_assessor_id=assessor,
                placement_id=placement,
            )
        )
        out["created"]["learner"] = learner
        standard = standard_id
        if standard is None and AIM in self._rows:
            standard = wire.read_aim(c.aim_fields, self._rows[AIM]).standard_id
        if standard is None:
            self.f.notes.append("--write: no standard to assign (give --standard-id)")
            return
        aim_id = await c.assign_standard(standard, learner)
        out["created"]["learning_aim"] = aim_id
        before = (await c.user(learner)).last_modified
        aim = await c.learning_aim(aim_id)
        await c.update_learning_aim(
            aim, {"start_date": dt.date.today(), "registration_number": f"PROBE-{stamp}"}
        )
        after = (await c.user(learner)).last_modified
        out["last_modified_moves_on_aim_update"] = (
            None if before is None or after is None else after > before
        )
        # One field alone: does OneFile clear the others (replace) or keep them (merge)?
        await c.update_aim_fields_only(aim_id, {"registration_number": f"PROBE2-{stamp}"})
        again = await c.learning_aim(aim_id)
        out["update_replaces"] = again.start_date is None
        self.f.notes.append(
            "--write created records in the sandbox centre (ids under write.created): "
            "deactivate them in OneFile"
        )


def _candidates(setting: str, record: dict[str, Any]) -> list[str]:
    words = {
        "ONEFILE_FIELD_TOTAL_ELEMENTS": ("total", "element", "unit", "criteria"),
        "ONEFILE_FIELD_ELEMENTS_DONE": ("done", "complete", "achieved", "element"),
        "ONEFILE_FIELD_CLAIMED_DATE": ("claim",),
        "ONEFILE_FIELD_CERTIFICATE_RECEIVED_DATE": ("certificate", "received"),
    }[setting]
    return sorted(k for k in record if any(w in k.lower() for w in words))


async def probe(
    client: OneFileClient,
    *,
    sandbox: OneFileClient | None = None,
    standard_id: int | None = None,
) -> Findings:
    """Run the probe through `client`; with a `sandbox` client (its centre the sandbox), the
    writes too. Counts its calls (Authentications included)."""
    p = Probe(client)
    with counting_calls() as tally:
        await p.run()
        if sandbox is not None:
            await sandbox.authenticate()
            await p.write(sandbox, standard_id)
    p.f.calls = tally.calls + 1 + (sandbox is not None)
    return p.f


async def run_probe(
    settings: OneFileSettings,
    *,
    sandbox_centre: int | None = None,
    standard_id: int | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Findings:
    """The probe as `onefile-sync probe` runs it: under the configured quota, read-only unless
    a sandbox centre is given."""
    quota = Quota(
        settings.onefile_rate_limit,
        settings.onefile_rate_period,
        margin=settings.onefile_rate_margin,
    )

    def client(centre: Centre) -> OneFileClient:
        return OneFileClient(
            base_url=str(settings.onefile_base_url),
            api_token=settings.onefile_api_token.get_secret_value(),
            quota=quota,
            centre=centre,
            page_size=settings.onefile_page_size,
            aim_fields=settings.aim_field_names,
            timeout=settings.onefile_timeout,
            transport=transport,
        )

    reader = client(settings.onefile_centre)
    sandbox = None
    if sandbox_centre is not None:
        sandbox = client(
            dataclasses.replace(settings.onefile_centre, organisation_id=sandbox_centre)
        )
    try:
        return await probe(reader, sandbox=sandbox, standard_id=standard_id)
    finally:
        await reader.aclose()
        if sandbox is not None:
            await sandbox.aclose()


def render(f: Findings) -> str:
    """The findings as text for an operator."""
    lines = [
        f"session body: {f.session_body}"
        + (" (bare text)" if f.session_body == "text" else " (a JSON string)"),
        "page size honoured: "
        + (
            f"{f.page_size_honoured}" + (" (a silent cap)" if f.page_cap else "")
            if f.page_size_confirmed
            else f"at least {f.page_size_honoured} (fewer records than any cap)"
        ),
    ]
    for entity in ENTITIES:
        thin = f.thin_rows.get(entity)
        state = "not checked" if thin is None else ("thin" if thin else "full")
        row = ", ".join(f.row_fields.get(entity, []))
        lines.append(f"{entity} rows: {state}" + (f" ({row})" if thin else ""))
    if f.missing_fields:
        for entity, names in f.missing_fields.items():
            lines.append(f"missing in {entity} records: {', '.join(names)}")
    else:
        lines.append("missing fields: none")
    if f.write is not None:
        lines.append(f"update replaces the record: {f.write.get('update_replaces')}")
        lines.append(
            "learner's LastModified moves on an aim update: "
            f"{f.write.get('last_modified_moves_on_aim_update')}"
        )
        lines.append(f"created: {f.write.get('created')}")
    lines += [f"note: {n}" for n in f.notes]
    lines.append(f"OneFile calls: {f.calls}")
    lines.append("settings to use:")
    lines += [f"  {k}={v}" for k, v in f.settings.items()]
    return "\n".join(lines)
