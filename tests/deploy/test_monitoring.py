"""Alerts and dashboard that load: the PrometheusRule and the Grafana dashboard in k8s/.

- The PrometheusRule's structure is checked against the fields of the Prometheus Operator's
  CRD (kubernetes-validate has no schema for it), and its rules with promtool: `check rules`,
  then `test rules` on the sample series of tests/deploy/prometheus/alerts_test.yaml, which
  show each alert firing on a broken deployment and silent on a healthy one. promtool comes
  from Debian's `prometheus` package (.ci/run installs it); without it these tests fail.
- Every metric named by an alert or a dashboard query is one the service exports, as read
  from a running app's /metrics.
- The dashboard's ConfigMap, as kustomize generates it, validates as a ConfigMap.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import Service
from tests.deploy.test_deploy_files import K8S, run, tool

RULE_FILE = K8S / "prometheusrule.yaml"
DASHBOARD_FILE = K8S / "dashboards" / "onefile-sync.json"
ALERT_TESTS = Path(__file__).parent / "prometheus" / "alerts_test.yaml"

# The fields of monitoring.coreos.com/v1 PrometheusRule (the operator's CRD) that a rule file
# can use; anything else is a typo the cluster would refuse.
DURATION = {
    "type": "string",
    "pattern": r"^(0|(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?)$",
}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
RULE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": STRING_MAP,
                "annotations": STRING_MAP,
            },
            "additionalProperties": False,
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "rules"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": DURATION,
                            "query_offset": DURATION,
                            "limit": {"type": "integer"},
                            "partial_response_strategy": {"type": "string"},
                            "labels": STRING_MAP,
                            "rules": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["expr"],
                                    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                    "properties": {
                                        "alert": {"type": "string"},
                                        "record": {"type": "string"},
                                        "expr": {"type": "string", "minLength": 1},
                                        "for": DURATION,
                                        "keep_firing_for": DURATION,
                                        "labels": STRING_MAP,
                                        "annotations": STRING_MAP,
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is not installed: apt-get install prometheus (see .ci/run)"
    return found


def prometheus_rule() -> dict[str, Any]:
    rule: dict[str, Any] = yaml.safe_load(RULE_FILE.read_text())
    return rule


def alerts() -> dict[str, dict[str, Any]]:
    return {
        r["alert"]: r
        for g in prometheus_rule()["spec"]["groups"]
        for r in g["rules"]
        if "alert" in r
    }


def write_rules(folder: Path) -> Path:
    """The PrometheusRule's groups as the rule file Prometheus itself reads."""
    path = folder / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": prometheus_rule()["spec"]["groups"]}))
    return path


# ---- the PrometheusRule --------------------------------------------------------------------


def test_the_prometheus_rule_has_the_operators_structure() -> None:
    rule = prometheus_rule()
    jsonschema.validate(rule, RULE_SCHEMA)
    broken = copy.deepcopy(rule)
    broken["spec"]["groups"][0]["rules"][0]["expresion"] = "up"  # the check can fail
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, RULE_SCHEMA)
    for name, alert in alerts().items():
        assert alert["labels"]["severity"] in ("critical", "warning"), name
        assert {"summary", "description", "runbook"} <= set(alert["annotations"]), name
        assert "{{" not in json.dumps(alert["annotations"]), "plain text: see alerts_test.yaml"


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    result = run(promtool(), "check", "rules", str(write_rules(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_every_alert_fires_on_sample_series_and_stays_silent_on_healthy_ones(
    tmp_path: Path,
) -> None:
    write_rules(tmp_path)
    tests = yaml.safe_load(ALERT_TESTS.read_text())
    assert tests["rule_files"] == ["rules.yaml"]
    fired, silent = set(), set()
    for group in tests["tests"]:
        for case in group["alert_rule_test"]:
            name = case["alertname"]
            assert name in alerts(), f"{name} is tested but not defined"
            (fired if case["exp_alerts"] else silent).add(name)
            for expected in case["exp_alerts"]:  # annotations are plain text: as written
                expected["exp_annotations"] = alerts()[name]["annotations"]
    assert fired == set(alerts()), f"never shown firing: {set(alerts()) - fired}"
    assert silent == set(alerts()), f"never shown silent: {set(alerts()) - silent}"
    (tmp_path / "alerts_test.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = run(promtool(), "test", "rules", "alerts_test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


# ---- the dashboard ---------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    board: dict[str, Any] = json.loads(DASHBOARD_FILE.read_text())
    return board


def dashboard_panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_the_dashboard_shows_what_an_operator_needs() -> None:
    board = dashboard()
    assert board["uid"] == "onefile-sync" and board["title"]
    ids = [p["id"] for p in dashboard_panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    queries = [p for p in dashboard_panels() if p["type"] != "row"]
    for panel in queries:
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    titles = " | ".join(p["title"].lower() for p in queries)
    for topic in ("quota use", "quota wait", "calls", "429", "jobs finished", "queue", "leader"):
        assert topic in titles, topic
    named = {name for p in queries for t in p["targets"] for name in metric_names(t["expr"])}
    assert "onefile_sync_last_sync_timestamp_seconds" in named, "freshness"


def test_the_generated_dashboard_configmap_is_valid(tmp_path: Path) -> None:
    """What kustomize's configMapGenerator makes of k8s/kustomization.yaml, validated."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (generator,) = kustomization["configMapGenerator"]
    assert generator["options"]["labels"] == {"grafana_dashboard": "1"}
    assert generator["options"]["disableNameSuffixHash"] is True
    data = {Path(f).name: (K8S / f).read_text() for f in generator["files"]}
    assert data == {DASHBOARD_FILE.name: DASHBOARD_FILE.read_text()}
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": generator["name"], "labels": generator["options"]["labels"]},
        "data": data,
    }
    path = tmp_path / "dashboard-configmap.yaml"
    path.write_text(yaml.safe_dump(configmap))
    result = run(tool("kubernetes-validate"), "--strict", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout and "Couldn't find schema" not in result.stdout
    assert len(path.read_bytes()) < 1_000_000, "a ConfigMap holds at most 1 MiB"


# ---- metric names ----------------------------------------------------------------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSETS = re.compile(r"\boffset\s+-?[0-9a-z$_]+")
_NAMES = re.compile(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions and keywords left out)."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    text = _OFFSETS.sub("", text)
    names = set()
    for match in _NAMES.finditer(text):
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group().lower() not in _KEYWORDS:
            names.add(match.group())
    return names


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (namespace, le) (rate(a_bucket{x="y", z=~"$ns"}'
        "[$__rate_interval]))) > 1e3 and on (namespace) max(b_total offset 1d) > 0 "
        'unless absent(c) or vector(0) or sum(d{s=~"5..|0"}) by (e) / time()'
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c", "d"}


def exported_names(text: str) -> set[str]:
    """Every series name a /metrics page can hold, including families with no sample yet."""
    names = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.MULTILINE))
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        names.add(name)
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        if kind == "counter" and not name.endswith("_total"):
            names.add(f"{name}_total")
    return names


async def test_every_metric_the_alerts_and_the_dashboard_name_is_exported(
    service: Service,
) -> None:
    exported = exported_names((await service.api.get("/metrics")).text)
    assert "onefile_quota_wait_seconds_bucket" in exported  # histograms included
    used: dict[str, set[str]] = {}
    for name, alert in alerts().items():
        used[f"alert {name}"] = metric_names(alert["expr"])
    for panel in dashboard_panels():
        for target in panel.get("targets", []):
            used[f"panel {panel['title']!r}"] = metric_names(target["expr"])
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            (metric,) = re.findall(r"label_values\((\w+),", variable["definition"])
            used[f"variable {variable['name']}"] = {metric}
    for where, names in used.items():
        assert names, f"{where} names no metric"
        assert names <= exported, f"{where} names {names - exported}, not exported"
