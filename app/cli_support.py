"""What every command of `onefile-sync` shares: exit codes, one-line messages, plain help.

Every error a command expects is one line on stderr, `error: <what> — <the setting or option
to fix>`, and one of the exit codes below; they are printed by `--help` and the README.
"""

from __future__ import annotations

import os
from enum import IntEnum
from typing import Any

import typer
from rich.console import Console
from typer._click.exceptions import UsageError  # typer vendors click; this is its class
from typer.core import TyperArgument, TyperGroup

from app.db.target import DbTarget, InvalidDatabaseUrl, parse_target


class Code(IntEnum):
    OK = 0
    NOT_DONE = 1
    CONFIG = 2  # click's own code for a usage error, too
    UNREACHABLE = 3


# "\b" keeps click from re-flowing the block.
EXIT_CODES = """\b
Exit codes:
  0  done: the job succeeded, every check passed, the schema is up to date
  1  not done: a job ended partial or failed, the service refused the
     request, a check found a problem, a migration failed
  2  configuration or usage: a setting or an option is missing or invalid
  3  cannot reach the service, the database or OneFile (the database
     does not exist, or refused the login, counts here too)"""

# soft_wrap: a long message stays one line, whatever the terminal's width.
_stderr = Console(stderr=True, soft_wrap=True, highlight=False)


def say(message: str, *, error: bool = False) -> None:
    """One line on stderr, printed as written (no markup: messages may hold brackets)."""
    _stderr.print(message, markup=False, style="red" if error else None)


def fail(message: str, code: Code) -> typer.Exit:
    """Print `error: <message>`; the caller raises what this returns."""
    say(f"error: {message}", error=True)
    return typer.Exit(code)


def database_url() -> tuple[str, DbTarget]:
    """DATABASE_URL from the environment and where it points, or exit 2 saying what is wrong."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        raise fail("DATABASE_URL is not set", Code.CONFIG)
    try:
        return url, parse_target(url)
    except InvalidDatabaseUrl as exc:
        raise fail(f"DATABASE_URL {exc}", Code.CONFIG) from None


def _no_type_label(ctx: Any) -> None:
    return None


class PlainHelp(TyperGroup):
    """One-line usage errors; help that names an option's value (`--url URL`), not its type.

    Typer labels values with their Python type (`<str>`, `<int range>`, and `<bool>` beside
    flags in its rich help); plain help (`rich_markup_mode=None`) shows none beside flags, and a
    metavar on each option replaces the label. Arguments ignore their metavar there, so their
    label is switched off. Done here once for every command, present and future.
    """

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        for param in command.params if command is not None else []:
            if param.metavar is None and param.name:
                param.metavar = param.name.upper()
            if isinstance(param, TyperArgument):
                setattr(param, "display_type_rich", _no_type_label)  # noqa: B010 - see above
        return command

    def invoke(self, ctx: Any) -> Any:
        """A usage error of a command is one line too (click prints usage, hint and error)."""
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            path = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            raise fail(f"{exc.format_message()} (see {path} --help)", Code.CONFIG) from None
