"""The Dockerfile and k8s/ are linted and validated offline (no Docker engine, no cluster)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name) or (BIN / name if (BIN / name).exists() else None)
    if found is None:
        pytest.fail(f"{name} is not installed (pip install -e '.[dev]')")
    return str(found)


def manifests() -> dict[str, list[dict[str, Any]]]:
    return {
        p.name: [d for d in yaml.safe_load_all(p.read_text()) if d]
        for p in sorted(K8S.glob("*.yaml"))
        if p.name != "kustomization.yaml"
    }


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for docs in manifests().values() for d in docs if d["kind"] == kind]


def test_hadolint_is_clean() -> None:
    result = subprocess.run(  # noqa: S603 - a fixed tool on a fixed file
        [tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_uvicorn_as_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("FROM ") >= 2  # multi-stage
    assert "USER 10001" in text
    assert "HEALTHCHECK" in text and "/health" in text
    assert 'CMD ["uvicorn", "app.main:app"' in text
    assert "gcc" not in text and "build-essential" not in text


def test_every_manifest_is_valid_kubernetes() -> None:
    files = [str(K8S / name) for name in manifests()]
    result = subprocess.run(  # noqa: S603 - a fixed tool on the project's own files
        [tool("kubernetes-validate"), "--strict", "--quiet", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kustomization_lists_every_resource_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == set(manifests()) - {"secret.example.yaml"}


def test_deployment_is_hardened_and_probed() -> None:
    (deploy,) = by_kind("Deployment")
    spec = deploy["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 30
    for container in pod["containers"]:
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] == "/health"
        assert container["resources"]["requests"] and container["resources"]["limits"]


def test_every_container_runs_non_root_read_only_without_escalation() -> None:
    pods = [d["spec"]["template"]["spec"] for d in by_kind("Deployment")]
    pods += [c["spec"]["jobTemplate"]["spec"]["template"]["spec"] for c in by_kind("CronJob")]
    assert len(pods) == 2
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]


def test_cronjob_posts_sync_daily_and_takes_409_as_already_running() -> None:
    (cron,) = by_kind("CronJob")
    spec = cron["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["jobTemplate"]["spec"]["backoffLimit"] <= 3
    script = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert "/sync" in script and "(202, 409)" in script
    env = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0]["valueFrom"]["secretKeyRef"]["key"] == "SERVICE_API_TOKEN"


def test_the_secret_template_holds_no_real_values() -> None:
    (secret,) = by_kind("Secret")
    assert set(secret["stringData"]) == {"DATABASE_URL", "ONEFILE_API_TOKEN", "SERVICE_API_TOKEN"}
    assert all("CHANGE-ME" in v for v in secret["stringData"].values())


def test_network_policies_limit_ingress_and_egress() -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in by_kind("NetworkPolicy")}
    api = policies["onefile-sync"]
    assert set(api["policyTypes"]) == {"Ingress", "Egress"}
    ports = {p["port"] for rule in api["egress"] for p in rule["ports"]}
    assert ports == {5432, 443, 53}
