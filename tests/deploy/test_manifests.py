"""Deployment artefacts: the Kubernetes manifests build and validate, the protos pass `buf lint`, and
every service has a Dockerfile that runs its own console script.

The tools (buf, kustomize, kubeconform and the Kubernetes JSON schemas) live in .local/bin and
.local/share, installed by tools/k8s-tools.sh. A missing tool fails the test with that instruction;
nothing here is skipped.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".local" / "bin"
SCHEMAS = ROOT / ".local" / "share" / "kubernetes-json-schema"
K8S = ROOT / "deploy" / "k8s"
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").is_file())
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
# Custom resources kubeconform has no schema for; only the overlays that use them may skip them.
CRD_KINDS = {"ScaledObject", "TriggerAuthentication", "ScaledJob", "PodMonitor"}
INSTALL_HINT = "run tools/k8s-tools.sh (installs buf, kustomize, kubeconform and the schemas into .local/)"


def tool(name: str) -> str:
    path = BIN / name
    if not (path.is_file() and path.stat().st_mode & 0o111):
        pytest.fail(f"{path} is missing: {INSTALL_HINT}", pytrace=False)
    return str(path)


def schema_location() -> tuple[str, str]:
    dirs = sorted(SCHEMAS.glob("v*-local-strict"))
    if not dirs or not (dirs[0] / "_definitions.json").is_file():
        pytest.fail(f"no Kubernetes JSON schemas under {SCHEMAS}: {INSTALL_HINT}", pytrace=False)
    return str(dirs[0]), dirs[0].name.removeprefix("v").removesuffix("-local-strict")


def run(argv: list[str], *, cwd: Path = ROOT, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120)


def kustomize_build(target: Path) -> str:
    result = run([tool("kustomize"), "build", str(target)])
    assert result.returncode == 0, f"kustomize build {target.relative_to(ROOT)} failed:\n{result.stderr}"
    return result.stdout


def kubeconform(manifests: str, *, ignore_missing_schemas: bool) -> dict[str, Any]:
    schema_dir, version = schema_location()
    argv = [
        tool("kubeconform"),
        "-strict",
        "-summary",
        "-output",
        "json",
        "-kubernetes-version",
        version,
        "-schema-location",
        f"{schema_dir}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
    ]
    if ignore_missing_schemas:
        argv.append("-ignore-missing-schemas")
    result = run(argv, stdin=manifests)
    assert result.returncode == 0, f"kubeconform failed:\n{result.stdout}\n{result.stderr}"
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def docs(manifests: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(manifests) if d]


@pytest.mark.parametrize("target", ["base", *(f"overlays/{o}" for o in OVERLAYS)])
def test_kustomize_builds_and_validates(target: str) -> None:
    manifests = kustomize_build(K8S / target)
    objects = docs(manifests)
    crds = [o for o in objects if o["kind"] in CRD_KINDS]
    report = kubeconform(manifests, ignore_missing_schemas=bool(crds))
    summary = report["summary"]
    assert summary["invalid"] == 0 and summary["errors"] == 0, report
    # Everything but the custom resources was checked against a schema, not waved through.
    assert summary["skipped"] == len(crds), report
    assert summary["valid"] == len(objects) - len(crds), report


def test_base_runs_every_service_with_probes_and_limits() -> None:
    objects = docs(kustomize_build(K8S / "base"))
    workloads = {o["metadata"]["name"]: o for o in objects if o["kind"] in ("Deployment", "StatefulSet")}
    assert sorted(workloads) == SERVICES
    assert workloads["dialer"]["kind"] == "StatefulSet"
    for name, workload in workloads.items():
        pod = workload["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"].startswith(f"obzvon/{name}:"), container["image"]
        assert {"readinessProbe", "livenessProbe", "resources"} <= container.keys(), name
        assert {"requests", "limits"} <= container["resources"].keys(), name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
    for name in ("scheduler", "reporting"):
        probe = workloads[name]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
        assert "grpc" in probe, f"{name} should be probed with gRPC health"
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for name in SERVICES:
        assert ("PodDisruptionBudget", name) in kinds
        assert ("Service", name) in kinds or name in ("tts", "asr"), name
    assert {("HorizontalPodAutoscaler", "asr"), ("HorizontalPodAutoscaler", "tts")} <= kinds


def test_dialer_ordinal_comes_from_the_pod_name() -> None:
    objects = docs(kustomize_build(K8S / "base"))
    (dialer,) = [o for o in objects if o["kind"] == "StatefulSet"]
    container = dialer["spec"]["template"]["spec"]["containers"][0]
    script = " ".join(container["command"] + container["args"])
    assert 'OBZVON_ORDINAL="${POD_NAME##*-}"' in script and "exec obzvon-dialer serve" in script
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    headless = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == dialer["spec"]["serviceName"]]
    assert headless and headless[0]["spec"]["clusterIP"] == "None"
    # The shell parameter expansion the wrapper relies on.
    out = run(["/bin/sh", "-c", 'POD_NAME=dialer-12; OBZVON_ORDINAL="${POD_NAME##*-}"; echo "$OBZVON_ORDINAL"'])
    assert out.stdout.strip() == "12"


def test_dev_overlay_runs_one_replica_of_each() -> None:
    objects = docs(kustomize_build(K8S / "overlays" / "dev"))
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    assert len(workloads) == len(SERVICES)
    for w in workloads:
        assert w["spec"]["replicas"] == 1, w["metadata"]
        image = w["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.endswith(":dev"), image


def test_buf_lint_passes() -> None:
    result = run([tool("buf"), "lint"], cwd=ROOT / "proto")
    assert result.returncode == 0, f"buf lint (in proto/) reported:\n{result.stdout}{result.stderr}"


ENTRYPOINT = re.compile(r"^ENTRYPOINT\s+(\[.*\])\s*$", re.MULTILINE)


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_dockerfile_running_its_console_script(service: str) -> None:
    dockerfile = ROOT / "services" / service / "Dockerfile"
    assert dockerfile.is_file(), f"{dockerfile.relative_to(ROOT)} is missing"
    text = dockerfile.read_text()
    entrypoints = ENTRYPOINT.findall(text)
    assert entrypoints, f"{dockerfile.relative_to(ROOT)} has no exec-form ENTRYPOINT"
    assert json.loads(entrypoints[-1]) == [f"obzvon-{service}", "serve"]
    # The console script it names is the one the service's distribution declares.
    pyproject = (ROOT / "services" / service / "pyproject.toml").read_text()
    assert re.search(rf'^obzvon-{service}\s*=\s*"', pyproject, re.MULTILINE), pyproject
    base_image = re.compile(r"^(FROM|ARG PYTHON_IMAGE=) ?python:3\.11-slim(-bookworm)?\b", re.MULTILINE)
    assert base_image.search(text), "the base image is python:3.11-slim"
    assert re.search(r"^USER (?!root|0\b)\S+", text, re.MULTILINE), "the image must not run as root"
    assert re.search(r"^RUN PROTOC_PYTHON=\S+ tools/genproto\.sh$", text, re.MULTILINE), (
        "stubs are generated at build time by tools/genproto.sh"
    )


def test_every_workload_in_base_has_a_dockerfile() -> None:
    objects = docs(base_resources_text())
    images = {
        c["image"].split(":")[0]
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet")
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    for image in images:
        service = image.removeprefix("obzvon/")
        assert (ROOT / "services" / service / "Dockerfile").is_file(), f"{image} has no services/{service}/Dockerfile"


def base_resources_text() -> str:
    """The base's resources as written (pure Python: no kustomize needed for this check)."""
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    return "\n---\n".join((K8S / "base" / r).read_text() for r in kustomization["resources"])
