"""The Kubernetes manifests and the image agree with the server they run, and would run: each
kustomization renders (``kubectl kustomize``) into objects the Kubernetes schema accepts
(``kubernetes-validate``), and the Dockerfile passes ``hadolint`` (no cluster is reachable here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from conftest import REPO

from protege.cli import build_parser
from protege.server.app import LIVENESS
from protege.v1 import SERVICE_NAME

K8S = REPO / "deploy" / "k8s"
KUSTOMIZATIONS = ("overlays/cpu", "overlays/gpu", "student")
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (for kubectl kustomize) not installed")


def rendered(kustomization: str) -> dict[str, dict]:
    """The objects a kustomization renders, by kind/name."""
    out = subprocess.run([KUBECTL, "kustomize", str(K8S / kustomization)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in yaml.safe_load_all(out.stdout) if o}


def pod(objects: dict[str, dict], name: str) -> dict:
    return objects[name]["spec"]["template"]["spec"]


@needs_kubectl
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_each_kustomization_renders_objects_the_schema_accepts(kustomization: str) -> None:
    version = kubernetes_validate.latest_version()
    for name, found in rendered(kustomization).items():
        kubernetes_validate.validate(found, version, strict=True)
        spec = found.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            # The registry and tag come from the overlay, never the bare name the base uses.
            assert re.fullmatch(r"[\w.-]+/protege:[\w.-]+", container["image"]), (name, container["image"])


def test_the_validator_refuses_a_misspelt_field() -> None:
    broken = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"clusterIp": "None"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


@needs_kubectl
def test_liveness_and_readiness_ask_different_questions() -> None:
    """Liveness asked for "", which an upstream LLM outage turns NOT_SERVING: every replica restarted."""
    container = pod(rendered("overlays/cpu"), "Deployment/protege-teacher")["containers"][0]
    grpc_port = next(port["containerPort"] for port in container["ports"] if port["name"] == "grpc")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["grpc"]["port"] == grpc_port
    assert container["livenessProbe"]["grpc"]["service"] == LIVENESS
    assert container["readinessProbe"]["grpc"]["service"] == SERVICE_NAME


@needs_kubectl
def test_only_the_gpu_overlay_asks_for_a_gpu_and_it_runs_the_cuda_image() -> None:
    for overlay, gpus, tag in (("overlays/cpu", None, "-cpu"), ("overlays/gpu", "1", "-cuda")):
        container = pod(rendered(overlay), "Deployment/protege-teacher")["containers"][0]
        assert container["resources"]["requests"].get("nvidia.com/gpu") == gpus
        assert container["image"].endswith(tag)


@needs_kubectl
def test_the_model_volume_is_created_and_shared_read_only() -> None:
    """The claim was in no manifest (pods Pending), and three replicas mounted it read-only."""
    objects = rendered("overlays/cpu")
    volumes = {v["name"]: v for v in pod(objects, "Deployment/protege-teacher")["volumes"]}
    claim = volumes["model"]["persistentVolumeClaim"]
    assert claim["readOnly"] is True
    assert objects[f"PersistentVolumeClaim/{claim['claimName']}"]["spec"]["accessModes"] == ["ReadOnlyMany"]
    budget = objects["PodDisruptionBudget/protege-teacher"]["spec"]["selector"]["matchLabels"]
    assert (
        budget.items()
        <= objects["Deployment/protege-teacher"]["spec"]["template"]["metadata"]["labels"].items()
    )


@needs_kubectl
def test_the_student_jobs_run_commands_protege_parses_against_the_teachers_service() -> None:
    objects = rendered("student")
    label = pod(objects, "Job/protege-label")["containers"][0]["command"]
    train = pod(objects, "Job/protege-train")["containers"][0]["command"]
    assert label[0] == "protege" and train[0] == "torchrun"
    job = objects["Job/protege-label"]
    env = {
        variable["name"]: variable for variable in pod(objects, "Job/protege-label")["containers"][0]["env"]
    }
    index = env["SHARD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert index == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    # Kubernetes puts the pod's completion index where $(SHARD_INDEX) stands.
    args = build_parser("label").parse_args([word.replace("$(SHARD_INDEX)", "7") for word in label[1:]])
    assert args.teacher == "dns:///protege-teacher:50051"  # the headless Service: every replica
    assert job["spec"]["completionMode"] == "Indexed" and args.shard_index == 7
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == args.shard_count
    at = train.index("protege")
    assert train[at - 1] == "-m" and build_parser("train").parse_args(train[at + 1 :]).out == Path(
        "/data/student"
    )
    teacher = rendered("overlays/cpu")["Service/protege-teacher"]
    assert teacher["spec"]["clusterIP"] == "None"


def test_the_image_takes_its_ports_from_variables_and_runs_as_the_manifests_user() -> None:
    """The ENTRYPOINT's --port beat PROTEGE_PORT, which docs/serving.md promised."""
    dockerfile = (REPO / "Dockerfile").read_text()
    entrypoint = re.search(r"^ENTRYPOINT\s+(\[.*\])$", dockerfile, re.MULTILINE).group(1)
    assert yaml.safe_load(entrypoint) == ["protege", "serve"]
    assert "PROTEGE_PORT=50051" in dockerfile and "PROTEGE_METRICS_PORT=9095" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    spec = yaml.safe_load((K8S / "base" / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    assert str(spec["securityContext"]["runAsUser"]) == users[-1] != "0"
    exposed = {
        int(port)
        for line in re.findall(r"^EXPOSE\s+(.+)$", dockerfile, re.MULTILINE)
        for port in line.split()
    }
    assert {port["containerPort"] for port in spec["containers"][0]["ports"]} == exposed


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    linted = subprocess.run([str(hadolint), str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_headless_service_and_autoscaler_select_the_deployment() -> None:
    def manifest(name: str) -> dict:
        return yaml.safe_load((K8S / "base" / name).read_text())

    deployment, service, hpa = (manifest(name) for name in ("deployment.yaml", "service.yaml", "hpa.yaml"))
    assert service["spec"]["clusterIP"] == "None"  # DNS lists every replica: client-side balancing
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    grace = float(deployment["spec"]["template"]["spec"]["containers"][0]["args"][-1])
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace
