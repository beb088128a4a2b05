"""The `onefile-sync-dev` command line: the development tools, never part of the service.

The service's own command line (`onefile-sync`) runs and checks the service; this one runs what
sits beside it: the demo, the OneFile simulator, PICSWeb's tables with sample learners for a
local database, the benchmark, the chaos runs and the OpenAPI export.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.cli_support import Code, PlainHelp, fail, say

cli = typer.Typer(
    cls=PlainHelp,
    add_completion=False,
    no_args_is_help=True,
    help=__doc__,
    rich_markup_mode=None,  # click's plain help: no type labels, no boxes
    pretty_exceptions_enable=False,
)

# Commands whose options are defined once, in their own module's argparse parser: every
# argument (--help too) goes to that parser, so the two command lines cannot drift apart.
_PASS_THROUGH = {
    "add_help_option": False,
    "context_settings": {"allow_extra_args": True, "ignore_unknown_options": True},
}


@cli.command()
def demo(
    learners: Annotated[int, typer.Option(min=1, max=100_000)] = 200,
    rate: Annotated[int, typer.Option(help="Simulated quota: calls per period.")] = 1000,
    period: Annotated[float, typer.Option(help="Simulated quota period, seconds.")] = 10.0,
    latency: Annotated[float, typer.Option(help="Simulated OneFile latency, seconds.")] = 0.02,
) -> None:
    """Everything on embedded defaults: Postgres, PICSWeb data, OneFile simulator, service.

    With DATABASE_URL set, the demo's database is created on that server instead.
    """
    from devtools.demo.run import run_demo

    admin_url = os.environ.get("DATABASE_URL") or None
    code = asyncio.run(run_demo(learners, rate, period, latency, Console(), admin_url=admin_url))
    raise typer.Exit(code)


@cli.command(**_PASS_THROUGH)  # type: ignore[arg-type]
def simulate(ctx: typer.Context) -> None:
    """Run the OneFile simulator alone, for PICSWeb developers (`simulate --help`: options)."""
    from devtools.simulator.__main__ import main as sim_main

    prog = "onefile-sync-dev simulate"
    raise typer.Exit(sim_main(ctx.args, prog=prog, defaults={"latency": 0.05}))


@cli.command()
def picsweb(
    learners: Annotated[
        int, typer.Option(min=0, max=100_000, help="Sample learners to generate.")
    ] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 1,
) -> None:
    """Create PICSWeb's tables in DATABASE_URL and fill them with sample learners.

    In production PICSWeb owns these tables; this gives a local database the same ones
    (docs/picsweb-database.md). Tables that already hold rows are left as they are.
    """
    from devtools.demo.sample_picsweb import create_sample_picsweb

    url = os.environ.get("DATABASE_URL", "")
    if not url:
        raise fail("DATABASE_URL is not set", Code.CONFIG)
    import asyncpg

    try:
        written = asyncio.run(create_sample_picsweb(url, learners=learners, seed=seed))
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InvalidCatalogNameError) as exc:
        raise fail(f"cannot use DATABASE_URL ({type(exc).__name__})", Code.UNREACHABLE) from None
    except ValueError as exc:  # some of PICSWeb's tables hold rows already
        raise fail(str(exc), Code.NOT_DONE) from None
    if written is None:
        say("PICSWeb's tables exist and hold learners already: left as they are")
    else:
        say(f"PICSWeb's tables created with {written} sample learners")


@cli.command(**_PASS_THROUGH)  # type: ignore[arg-type]
def bench(ctx: typer.Context) -> None:
    """The performance figures (`bench --help`: options; about 8 minutes by default)."""
    from devtools.bench.run import main as bench_main

    raise typer.Exit(bench_main(ctx.args, prog="onefile-sync-dev bench"))


@cli.command(**_PASS_THROUGH)  # type: ignore[arg-type]
def chaos(ctx: typer.Context) -> None:
    """Full-size reliability runs (`chaos --help`: options; about 25 minutes by default)."""
    from devtools.chaos.__main__ import main as chaos_main

    raise typer.Exit(chaos_main(ctx.args, prog="onefile-sync-dev chaos"))


@cli.command()
def openapi(
    path: Annotated[Path, typer.Argument(help="Where to write the document.")] = Path(
        "openapi/openapi.json"
    ),
) -> None:
    """Write the service's OpenAPI document, generated from its routes and models."""
    from devtools.openapi_export import render

    path.write_text(render())
    say(f"wrote {path}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
