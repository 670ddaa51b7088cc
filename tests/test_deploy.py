"""The Kubernetes manifests and the image agree with the server they run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from protege.proto import SERVICE_NAME

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"


def manifest(name: str) -> dict:
    return yaml.safe_load((K8S / name).read_text())


@pytest.fixture(scope="module")
def container() -> dict:
    return manifest("deployment.yaml")["spec"]["template"]["spec"]["containers"][0]


def test_image_runs_as_non_root_on_the_ports_the_manifests_use(container: dict) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")  # the last USER is who runs
    exposed = {
        int(port)
        for line in re.findall(r"^EXPOSE\s+(.+)$", dockerfile, re.MULTILINE)
        for port in line.split()
    }
    assert {port["containerPort"] for port in container["ports"]} == exposed
    pod = manifest("deployment.yaml")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == users[-1]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_probes_use_native_grpc_health_on_the_served_port(container: dict) -> None:
    grpc_port = next(port["containerPort"] for port in container["ports"] if port["name"] == "grpc")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["grpc"]["port"] == grpc_port
    # Readiness asks for the teacher service itself, which the server marks SERVING only once
    # its model is loaded and NOT_SERVING while it drains.
    assert container["readinessProbe"]["grpc"]["service"] == SERVICE_NAME
    assert container["resources"]["requests"]["nvidia.com/gpu"]
    grace = float(container["args"][container["args"].index("--grace") + 1])
    assert manifest("deployment.yaml")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace


def test_headless_service_and_autoscaler_select_the_deployment() -> None:
    deployment, service, hpa = (manifest(name) for name in ("deployment.yaml", "service.yaml", "hpa.yaml"))
    assert service["spec"]["clusterIP"] == "None"  # DNS lists every replica: client-side balancing
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
