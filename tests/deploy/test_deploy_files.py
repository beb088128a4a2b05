"""The deployment files: Dockerfile and k8s/ are linted and validated offline, then checked.

No Docker engine or cluster is needed: hadolint lints the Dockerfile, kubernetes-validate checks
every manifest against the bundled Kubernetes schemas (strict: unknown fields fail), and the
parsed YAML is checked for the properties the service relies on. The CronJobs' script is run
for real against a local HTTP server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
DOCKERFILE = ROOT / "Dockerfile"
SECRET_NAME = "onefile-sync"
UID = 10001
EXPECTED_CMD = [
    "uvicorn",
    "app.main:app",
    "--host",
    "0.0.0.0",  # noqa: S104 - the container listens on all its interfaces
    "--port",
    "8000",
    "--timeout-graceful-shutdown",
    "25",
    "--no-access-log",
]


def tool(name: str) -> str:
    """The venv's copy of a tool (beside this interpreter), else one on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed (pip install -c constraints.txt -e '.[dev]')"
    return found


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603


def resource_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


# Custom resources: kubernetes-validate has no schema for them (it only warns and passes), so
# tests/deploy/test_monitoring.py checks their structure and promtool their content.
CUSTOM_RESOURCE_FILES = {"prometheusrule.yaml"}


def core_resource_files() -> list[Path]:
    return [p for p in resource_files() if p.name not in CUSTOM_RESOURCE_FILES]


def load_all() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in resource_files():
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        d
        for d in load_all()
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


# The two CronJobs that POST /sync (docs/service.md): the body each sends.
NIGHTLY, INCREMENTAL = "onefile-sync-daily", "onefile-sync-incremental"
CRONJOB_BODIES = {NIGHTLY: {"full": True}, INCREMENTAL: {"full": False}}
POD_TEMPLATES = ["deployment", NIGHTLY, INCREMENTAL]


def pod_template(name: str) -> dict[str, Any]:
    if name == "deployment":
        return dict(one("Deployment")["spec"]["template"])
    return dict(one("CronJob", name)["spec"]["jobTemplate"]["spec"]["template"])


def pod_specs() -> dict[str, dict[str, Any]]:
    return {name: pod_template(name)["spec"] for name in POD_TEMPLATES}


def pod_labels() -> dict[str, dict[str, str]]:
    labels = {name: pod_template(name)["metadata"]["labels"] for name in POD_TEMPLATES}
    # Both CronJobs' pods carry the same labels, so one NetworkPolicy covers both.
    assert labels[NIGHTLY] == labels[INCREMENTAL]
    return labels


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def cronjob_container(name: str) -> dict[str, Any]:
    (container,) = pod_specs()[name]["containers"]
    return dict(container)


def cronjob_script(name: str = NIGHTLY) -> str:
    command = cronjob_container(name)["command"]
    assert command[:2] == ["python", "-c"], command
    return str(command[2])


# ---- Dockerfile ---------------------------------------------------------------------------


def test_hadolint_is_clean() -> None:
    result = run(tool("hadolint"), "--no-color", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_dockerfile_builds_in_one_stage_and_runs_slim_in_another() -> None:
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.MULTILINE | re.IGNORECASE)
    assert len(froms) >= 2, froms
    for image, _ in froms:
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), (
            image
        )
    final = text.split("\nFROM ")[-1]
    assert "COPY --from=builder /opt/venv /opt/venv" in final
    assert re.search(r"pip install --no-cache-dir -c constraints\.txt \.", text)
    for forbidden in ("apt-get", "gcc", "build-essential", "pip install", "COPY . "):
        assert forbidden not in final, f"{forbidden!r} in the final stage"


def test_dockerfile_runtime_settings() -> None:
    text = DOCKERFILE.read_text().replace("\\\n", " ")  # one instruction per line
    assert re.search(rf"^USER {UID}(:{UID})?$", text, re.MULTILINE)
    assert re.search(r"--uid 10001\b", text)
    assert re.search(r"^EXPOSE 8000$", text, re.MULTILINE)
    assert "PYTHONDONTWRITEBYTECODE=1" in text
    assert "PYTHONUNBUFFERED=1" in text
    healthcheck = re.search(r"^HEALTHCHECK .*? CMD (\[.*\])$", text, re.MULTILINE)
    assert healthcheck, "no HEALTHCHECK"
    probe = json.loads(healthcheck.group(1))
    assert probe[:2] == ["python", "-c"] and "urllib" in probe[2] and "/health" in probe[2]
    cmd = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert cmd, "CMD must be in exec form"
    assert json.loads(cmd.group(1)) == EXPECTED_CMD
    assert "ENTRYPOINT" not in text  # the CronJob overrides the command with its own script


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    lines = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".pgdata", ".pytest_cache", ".mypy_cache", "tests"} <= lines


def test_the_image_carries_the_service_alone() -> None:
    """app/ and what installs it; never the development tools, never a developer's path."""
    text = DOCKERFILE.read_text()
    sources = [
        src
        for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.MULTILINE)
        for src in line.split()[:-1]
    ]
    assert sorted(sources) == ["app", "constraints.txt", "pyproject.toml"], sources
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert allowed == {"pyproject.toml", "constraints.txt", "app"}, allowed
    assert "devtools" in ignore
    for machine in ("/work/", "/home/", "/Users/", "/root/"):
        assert machine not in text, machine


# ---- k8s: schemas and kustomization ----------------------------------------------------


def test_manifests_validate_strictly() -> None:
    files = core_resource_files()
    assert K8S / "secret.example.yaml" in files
    result = run(tool("kubernetes-validate"), "--strict", *(str(p) for p in files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout + result.stderr
    # A kind without a schema is only a warning there: it would pass unchecked.
    assert "Couldn't find schema" not in result.stdout + result.stderr


def test_kustomization_lists_every_resource_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    expected = {p.name for p in resource_files()} - {"secret.example.yaml"}
    assert listed == expected
    kinds = {d["kind"] for d in load_all()}
    assert {
        "Deployment",
        "Service",
        "ConfigMap",
        "CronJob",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Secret",
        "PrometheusRule",
    } <= kinds
    assert kustomization["labels"], "common labels come from kustomize"


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl (kustomize) not installed")
def test_kustomize_renders_valid_manifests(tmp_path: Path) -> None:
    rendered = run("kubectl", "kustomize", str(K8S))
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    assert "Secret" not in {d["kind"] for d in docs}
    out = tmp_path / "rendered.yaml"
    out.write_text(rendered.stdout)
    result = run(tool("kubernetes-validate"), "--strict", str(out))
    assert result.returncode == 0, result.stdout + result.stderr


# ---- Deployment, Service, PDB --------------------------------------------------------------


def test_deployment_replicas_rollout_and_shutdown() -> None:
    spec = one("Deployment")["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    grace = spec["template"]["spec"]["terminationGracePeriodSeconds"]
    uvicorn_grace = int(EXPECTED_CMD[EXPECTED_CMD.index("--timeout-graceful-shutdown") + 1])
    worker_grace = 10  # PoolConfig.shutdown_grace
    assert grace >= 30
    assert grace > uvicorn_grace + worker_grace


def test_deployment_probes_resources_and_configuration() -> None:
    (container,) = pod_specs()["deployment"]["containers"]
    assert {p["containerPort"] for p in container["ports"]} == {8000}
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = container[kind]
        assert probe["httpGet"] == {"path": "/health", "port": 8000}, kind
        assert probe["timeoutSeconds"] > 2, "/health's own database check takes up to 2 s"
    liveness = container["livenessProbe"]
    readiness = container["readinessProbe"]
    # A database outage takes the pod out of the Service quickly but restarts it only late.
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 120
    assert (
        liveness["periodSeconds"] * liveness["failureThreshold"]
        > readiness["periodSeconds"] * readiness["failureThreshold"]
    )
    resources = container["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    assert {e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e} == {
        "onefile-sync"
    }
    assert {e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e} == {
        SECRET_NAME
    }
    volumes = {v["name"]: v for v in pod_specs()["deployment"]["volumes"]}
    (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]  # noqa: S108
    assert "emptyDir" in volumes[tmp["name"]]


@pytest.mark.parametrize("pod", POD_TEMPLATES)
def test_every_container_is_hardened(pod: str) -> None:
    spec = pod_specs()[pod]
    pod_ctx = spec.get("securityContext", {})
    assert pod_ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault"
    assert spec.get("automountServiceAccountToken") is False
    containers = spec["containers"] + spec.get("initContainers", [])
    for c in containers:
        ctx = c["securityContext"]
        assert ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is True, c["name"]
        assert ctx.get("runAsUser", pod_ctx.get("runAsUser")) == UID, c["name"]
        assert ctx["readOnlyRootFilesystem"] is True, c["name"]
        assert ctx["allowPrivilegeEscalation"] is False, c["name"]
        assert ctx.get("privileged", False) is False, c["name"]
        assert ctx["capabilities"]["drop"] == ["ALL"], c["name"]
        assert not ctx["capabilities"].get("add"), c["name"]
        assert "resources" in c and c["resources"]["limits"], c["name"]


def test_service_and_pdb_select_only_the_api_pods() -> None:
    labels = pod_labels()
    service = one("Service")["spec"]
    assert service["type"] == "ClusterIP"
    assert [(p["port"], p["targetPort"]) for p in service["ports"]] == [(80, 8000)]
    pdb = one("PodDisruptionBudget")["spec"]
    assert pdb["minAvailable"] == 1
    deployment = one("Deployment")["spec"]
    for selector in (service["selector"], pdb["selector"]["matchLabels"]):
        assert selector == deployment["selector"]["matchLabels"]
        assert selects(selector, labels["deployment"])
        assert not selects(selector, labels[NIGHTLY])


# ---- configuration -------------------------------------------------------------------------


def test_configmap_and_secret_keys_are_settings_the_service_reads() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    config = one("ConfigMap")["data"]
    secret = one("Secret")
    assert secret["metadata"]["name"] == SECRET_NAME
    secret_keys = set(secret["stringData"])
    assert secret_keys == {"DATABASE_URL", "ONEFILE_API_TOKEN", "SERVICE_API_TOKEN"}
    assert set(config) <= settings and secret_keys <= settings
    assert not set(config) & secret_keys, "secrets belong in the Secret, not the ConfigMap"
    assert config["ONEFILE_BASE_URL"] == "https://wsapi.onefile.co.uk/api/v2.1/"
    assert {k: config[k] for k in ("ONEFILE_VISIT_TYPE_ID", "ONEFILE_RATE_LIMIT")} == {
        "ONEFILE_VISIT_TYPE_ID": "2",
        "ONEFILE_RATE_LIMIT": "300",
    }
    assert config["ONEFILE_RATE_PERIOD"] == "60" and config["LOG_LEVEL"] == "INFO"
    assert {"ONEFILE_ORGANISATION_ID", "ONEFILE_CLASSROOM_ID"} <= set(config)


def test_secret_template_holds_only_placeholders() -> None:
    text = (K8S / "secret.example.yaml").read_text()
    assert "kubectl create secret generic onefile-sync" in text
    secret = one("Secret")
    assert "data" not in secret, "base64 values would hide what they are"
    for key, value in secret["stringData"].items():
        assert "CHANGE-ME" in value, key
        # No run of random-looking characters, as a real token would have.
        assert not re.search(r"[A-Za-z0-9+/=_]{24,}", value.replace("CHANGE-ME", "")), key
    assert ".invalid" in secret["stringData"]["DATABASE_URL"]


# ---- CronJob -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CRONJOB_BODIES)
def test_cronjob_schedule_and_limits(name: str) -> None:
    cronjob = one("CronJob", name)["spec"]
    assert cronjob["concurrencyPolicy"] == "Forbid"
    assert cronjob["timeZone"] == "Europe/London"
    assert len(cronjob["schedule"].split()) == 5
    assert cronjob["startingDeadlineSeconds"] > 0
    assert cronjob["successfulJobsHistoryLimit"] >= 1 and cronjob["failedJobsHistoryLimit"] >= 1
    job = cronjob["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 2
    assert 0 < job["activeDeadlineSeconds"] <= 3600
    env = {e["name"]: e for e in cronjob_container(name)["env"]}
    assert env["SERVICE_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": SECRET_NAME,
        "key": "SERVICE_API_TOKEN",
    }
    assert env["SYNC_URL"]["value"] == "http://onefile-sync/sync"
    assert json.loads(env["SYNC_BODY"]["value"]) == CRONJOB_BODIES[name]


def _minutes(field: str) -> set[int]:
    """The minutes a cron field names: `*/15`, `5,20,35,50` or a number."""
    if field.startswith("*/"):
        return set(range(0, 60, int(field[2:])))
    return {int(m) for m in field.split(",")}


def test_nightly_full_and_incremental_at_least_every_15_minutes_never_at_once() -> None:
    nightly = one("CronJob", NIGHTLY)["spec"]
    incremental = one("CronJob", INCREMENTAL)["spec"]
    minute, hour, *days = nightly["schedule"].split()
    assert minute.isdigit() and hour.isdigit() and days == ["*", "*", "*"]  # once a night
    inc_minute, *inc_rest = incremental["schedule"].split()
    assert inc_rest == ["*", "*", "*", "*"]  # every hour, every day
    minutes = sorted(_minutes(inc_minute))
    gaps = [b - a for a, b in zip(minutes, [*minutes[1:], minutes[0] + 60], strict=True)]
    assert max(gaps) <= 15, minutes
    # Started in the same minute, the incremental run could take the slot first and the
    # nightly full run would get a 409 and be skipped until the next night.
    assert int(minute) not in minutes
    assert incremental["startingDeadlineSeconds"] < 15 * 60  # a late run yields to the next
    assert incremental["jobTemplate"]["spec"]["activeDeadlineSeconds"] < 15 * 60


def test_both_cronjobs_run_the_same_script() -> None:
    assert cronjob_script(NIGHTLY) == cronjob_script(INCREMENTAL)


class _FakeService(BaseHTTPRequestHandler):
    status = 202
    seen: list[tuple[str, str, str | None]] = []  # noqa: RUF012 - set per test
    bodies: list[Any] = []  # noqa: RUF012 - set per test

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        type(self).seen.append((self.command, self.path, self.headers.get("Authorization")))
        body = (
            {"id": 7, "kind": "sync", "status": "queued"}
            if self.status == 202
            else {"error": "x", "message": "y", "job_id": 7}
        )
        payload = json.dumps(body).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_service() -> Iterator[tuple[str, type[_FakeService]]]:
    handler = type("Handler", (_FakeService,), {"seen": [], "bodies": []})
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/sync", handler
        finally:
            server.shutdown()
            thread.join()


def run_script(url: str, cronjob: str = NIGHTLY) -> subprocess.CompletedProcess[str]:
    """The CronJob's command with the environment its manifest gives it (but the URL)."""
    env = {
        **os.environ,
        **{e["name"]: e["value"] for e in cronjob_container(cronjob)["env"] if "value" in e},
        "SYNC_URL": url,
        "SERVICE_API_TOKEN": "cron-token-0123456789",
    }
    env.pop("http_proxy", None)
    env.pop("HTTP_PROXY", None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1"
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", cronjob_script(cronjob)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("cronjob", CRONJOB_BODIES)
@pytest.mark.parametrize(
    ("status", "exit_code"),
    [(202, 0), (409, 0), (401, 1), (422, 1), (500, 1), (503, 1)],
)
def test_cronjob_script_accepts_202_and_409_only(
    fake_service: tuple[str, type[_FakeService]], cronjob: str, status: int, exit_code: int
) -> None:
    url, handler = fake_service
    handler.status = status
    result = run_script(url, cronjob)
    assert result.returncode == exit_code, result.stdout + result.stderr
    assert handler.seen == [("POST", "/sync", "Bearer cron-token-0123456789")]
    assert handler.bodies == [CRONJOB_BODIES[cronjob]]
    assert "cron-token" not in result.stdout + result.stderr


def test_cronjob_script_fails_when_the_service_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_script(f"http://127.0.0.1:{port}/sync")
    assert result.returncode == 1
    assert "POST /sync failed" in result.stderr


# ---- NetworkPolicy -------------------------------------------------------------------------


def _ports(rules: list[dict[str, Any]]) -> set[tuple[str, int]]:
    return {(p.get("protocol", "TCP"), p["port"]) for r in rules for p in r.get("ports", [])}


def test_network_policies() -> None:
    labels = pod_labels()
    api = one("NetworkPolicy", "onefile-sync-api")["spec"]
    trigger = one("NetworkPolicy", "onefile-sync-trigger")["spec"]
    assert selects(api["podSelector"]["matchLabels"], labels["deployment"])
    for cronjob in CRONJOB_BODIES:
        assert not selects(api["podSelector"]["matchLabels"], labels[cronjob])
        assert selects(trigger["podSelector"]["matchLabels"], labels[cronjob])
    assert not selects(trigger["podSelector"]["matchLabels"], labels["deployment"])
    for policy in (api, trigger):
        assert set(policy["policyTypes"]) == {"Ingress", "Egress"}

    assert _ports(api["ingress"]) == {("TCP", 8000)}
    peers = [peer for rule in api["ingress"] for peer in rule["from"]]
    assert all(peer for peer in peers) and len(peers) == 3
    pod_peers = [p["podSelector"]["matchLabels"] for p in peers if "podSelector" in p]
    assert {"app.kubernetes.io/name": "picsweb"} in pod_peers
    assert any(selects(sel, labels[NIGHTLY]) for sel in pod_peers)
    ns_peers = [p["namespaceSelector"]["matchLabels"] for p in peers if "namespaceSelector" in p]
    assert ns_peers == [{"kubernetes.io/metadata.name": "monitoring"}]
    assert _ports(api["egress"]) == {("TCP", 5432), ("TCP", 443), ("UDP", 53), ("TCP", 53)}

    assert not trigger.get("ingress")
    assert _ports(trigger["egress"]) == {("TCP", 8000), ("UDP", 53), ("TCP", 53)}
    (to_api,) = [r for r in trigger["egress"] if ("TCP", 8000) in _ports([r])]
    assert all(selects(p["podSelector"]["matchLabels"], labels["deployment"]) for p in to_api["to"])
