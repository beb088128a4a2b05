"""The `onefile-sync` command line: run, trigger and check the service."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.cli_support import EXIT_CODES, Code, PlainHelp, fail, say

cli = typer.Typer(
    cls=PlainHelp,
    add_completion=False,
    no_args_is_help=True,
    help=__doc__,
    epilog=EXIT_CODES,
    rich_markup_mode=None,  # click's plain help: no type labels, no boxes
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

UrlOpt = Annotated[str, typer.Option(envvar="ONEFILE_SYNC_URL", help="The service's base URL.")]
TokenOpt = Annotated[str, typer.Option(envvar="SERVICE_API_TOKEN", help="The service's token.")]


@cli.command()
def serve(
    host: str = "0.0.0.0",  # noqa: S104 - a service listens on all interfaces in its container
    port: int = 8000,
) -> None:
    """Run the service (the same as `uvicorn app.main:app`); a refused start-up exits 3."""
    import uvicorn

    uvicorn.run("app.main:app", host=host, port=port, timeout_graceful_shutdown=25)


@cli.command(epilog=EXIT_CODES)
def sync(
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = "",
    full: Annotated[
        bool | None,
        typer.Option(
            "--full/--incremental",
            help="Every enrolled learner, or only those changed; neither: the schedule decides "
            "(FULL_SYNC_EVERY_DAYS).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Report what would change; write nothing.")] = False,
) -> None:
    """Queue an exchange for every enrolled learner and follow it to the end."""
    body: dict[str, bool] = {"dry_run": dry_run}
    if full is not None:
        body["full"] = full
    raise typer.Exit(asyncio.run(_run_and_follow(url, token, "/sync", body, "sync")))


@cli.command(epilog=EXIT_CODES)
def enrol(
    learner_id: Annotated[int, typer.Argument(min=1, help="The PICSWeb learner's id.")],
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = "",
) -> None:
    """Enrol one learner in OneFile and follow the job."""
    path = f"/learners/{learner_id}/enrol"
    raise typer.Exit(asyncio.run(_run_and_follow(url, token, path, None, "enrol")))


@cli.command(epilog=EXIT_CODES)
def history(
    learner_id: Annotated[int, typer.Argument(min=1, help="The PICSWeb learner's id.")],
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = "",
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 100,
) -> None:
    """Print what enrolment and the exchange wrote for one learner, newest first (B11)."""
    raise typer.Exit(asyncio.run(_history(url, token, learner_id, limit)))


@cli.command(epilog=EXIT_CODES)
def migrate() -> None:
    """Apply the service's own migrations to DATABASE_URL (start-up does this too)."""
    from app.cli_support import database_url
    from app.db.open import migrate_database
    from app.db.target import DatabaseProblem

    url, target = database_url()
    try:
        applied = asyncio.run(migrate_database(url))
    except DatabaseProblem as exc:
        raise fail(str(exc), Code.UNREACHABLE if exc.unreachable else Code.NOT_DONE) from None
    say(f"{target}: " + (f"applied {', '.join(applied)}" if applied else "up to date"))


@cli.command(epilog=EXIT_CODES)
def check() -> None:
    """Check configuration, database and OneFile credentials, changing nothing."""
    raise typer.Exit(asyncio.run(_check()))


@cli.command()
def probe(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    write: Annotated[
        bool, typer.Option("--write", help="Also create throw-away records (--sandbox-centre).")
    ] = False,
    sandbox_centre: Annotated[
        int | None, typer.Option(help="OneFile centre id that --write may create records in.")
    ] = None,
    standard_id: Annotated[
        int | None, typer.Option(help="Standard --write assigns (default: one seen).")
    ] = None,
) -> None:
    """Settle OneFile's unknowns (docs/onefile-api.md): reads only, unless --write."""
    raise typer.Exit(asyncio.run(_probe(as_json, write, sandbox_centre, standard_id)))


def main() -> None:
    cli()


# ---- helpers -------------------------------------------------------------------------------


async def _run_and_follow(url: str, token: str, path: str, body: Any, label: str) -> int:
    from app.follow import ApiCallError, follow_job, job_table, start_job

    if not token:
        raise fail("SERVICE_API_TOKEN is not set (or pass --token)", Code.CONFIG)
    try:
        api = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise fail("--url (ONEFILE_SYNC_URL) is not a valid http:// URL", Code.CONFIG) from None
    async with api:
        try:
            job = await start_job(api, "POST", path, json=body)
        except ApiCallError as exc:
            raise fail(f"the service refused: {exc}", Code.NOT_DONE) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            raise fail("--url (ONEFILE_SYNC_URL) is not a valid http:// URL", Code.CONFIG) from None
        except httpx.TransportError as exc:
            raise fail(
                f"cannot reach the service at {_origin(url)} ({type(exc).__name__})",
                Code.UNREACHABLE,
            ) from None
        with Progress(
            TextColumn(f"{label} job {job['id']}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            bar = progress.add_task(label, total=None)
            try:
                job = await follow_job(
                    api,
                    job["id"],
                    lambda j: progress.update(
                        bar, completed=j["progress"]["done"], total=j["progress"]["total"]
                    ),
                )
            except httpx.HTTPError as exc:
                progress.stop()
                raise fail(
                    f"lost the service while following job {job['id']} ({type(exc).__name__}); "
                    f"the job goes on: GET /jobs/{job['id']}",
                    Code.UNREACHABLE,
                ) from None
    Console().print(job_table(job, label))
    for failure in job.get("failures", [])[:20]:
        say(f"learner {failure['learner_id']}: {failure['reason']}")
    return Code.OK if job["status"] == "succeeded" else Code.NOT_DONE


async def _history(url: str, token: str, learner_id: int, limit: int) -> int:
    from app.follow import history_table

    if not token:
        raise fail("SERVICE_API_TOKEN is not set (or pass --token)", Code.CONFIG)
    try:
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as api:
            r = await api.get(f"/learners/{learner_id}/history", params={"limit": limit})
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise fail("--url (ONEFILE_SYNC_URL) is not a valid http:// URL", Code.CONFIG) from None
    except httpx.TransportError as exc:
        raise fail(
            f"cannot reach the service at {_origin(url)} ({type(exc).__name__})",
            Code.UNREACHABLE,
        ) from None
    if r.status_code != 200:
        json_body = r.headers.get("content-type", "").startswith("application/json")
        message = r.json().get("message", "") if json_body else r.text[:200]
        raise fail(f"the service refused: {r.status_code}: {message}", Code.NOT_DONE)
    Console(width=200).print(history_table(r.json()))
    return Code.OK


def _origin(url: str) -> str:
    """The service's URL without any user or password in it."""
    parts = httpx.URL(url)
    return str(parts.copy_with(username=None, password=None))


async def _probe(
    as_json: bool, write: bool, sandbox_centre: int | None, standard_id: int | None
) -> int:
    import json

    from app.onefile.errors import OneFileError
    from app.onefile.probe import render, run_probe
    from app.settings import ConfigurationError, load_onefile_settings

    if write != (sandbox_centre is not None):
        console.print("[red]--write and --sandbox-centre ID go together[/red]")
        return 2
    try:
        cfg = load_onefile_settings()
    except ConfigurationError as exc:
        console.print(f"[red]configuration: {exc}[/red]")
        return 2
    try:
        found = await run_probe(cfg, sandbox_centre=sandbox_centre, standard_id=standard_id)
    except OneFileError as exc:
        console.print(f"[red]OneFile: {exc}[/red]")
        return 1
    if as_json:
        print(json.dumps(found.as_json(), indent=2))
    else:
        Console().print(render(found), highlight=False, markup=False)
    return 0


async def _check() -> int:
    from app.db.open import check_database
    from app.db.target import DatabaseProblem, parse_target
    from app.onefile.client import OneFileClient
    from app.onefile.errors import OneFileError, OneFileTransientError
    from app.onefile.quota import Quota
    from app.settings import ConfigurationError, load_settings

    try:
        cfg = load_settings()
    except ConfigurationError as exc:
        raise fail(str(exc), Code.CONFIG) from None
    say("configuration: ok")
    codes = [Code.OK]
    target = parse_target(cfg.dsn)
    try:
        await check_database(cfg.dsn)
        say(f"database: ok ({target}, PICSWeb tables present)")
    except DatabaseProblem as exc:
        codes.append(Code.UNREACHABLE if exc.unreachable else Code.NOT_DONE)
        say(f"database: {exc}", error=True)
    client = OneFileClient(
        base_url=str(cfg.onefile_base_url),
        api_token=cfg.onefile_api_token.get_secret_value(),
        quota=Quota(cfg.onefile_rate_limit, cfg.onefile_rate_period),
        centre=cfg.onefile_centre,
        timeout=cfg.onefile_timeout,
    )
    try:
        await client.authenticate()  # one call of the quota
        say("OneFile: ok (the API token opens a session)")
    except OneFileError as exc:
        codes.append(Code.UNREACHABLE if isinstance(exc, OneFileTransientError) else Code.NOT_DONE)
        say(f"ONEFILE_BASE_URL, ONEFILE_API_TOKEN: {exc}", error=True)
    finally:
        await client.aclose()
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())  # type: ignore[func-returns-value]
