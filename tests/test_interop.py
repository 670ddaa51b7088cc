"""Must-hold: a client in another gRPC implementation (grpc-js), written against teacher.proto
alone, gets from `protege serve --backend cross-encoder` (under torch and under ONNX Runtime) the
scores of in-process ``CrossEncoder(path).predict`` (sigmoid), to 1e-4, in request order with the
right ids."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from conftest import REPO, SERVED_RUNTIMES, free_port, health, serve_process, wait_for
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from protege.client import TeacherClient
from protege.client.data.synthetic import generate_catalog

INTEROP = REPO / "tests" / "interop"

# The in-process reference, in a fresh interpreter. A checkpoint without a classification head
# (like this one) gets the head that seed 0 initialises: see server/protege/server/backends/cross_encoder.py.
REFERENCE = """
import json, sys, torch
from sentence_transformers import CrossEncoder
pairs = json.load(open(sys.argv[2]))
torch.manual_seed(0)
scores = CrossEncoder(sys.argv[1]).predict([(p["query"], p["document"]) for p in pairs])
print(json.dumps([float(s) for s in scores]))
"""


@pytest.fixture(scope="module")
def grpc_js() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the grpc-js client")
    if not (INTEROP / "node_modules" / "@grpc" / "grpc-js").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=INTEROP, check=True, timeout=300)
    return INTEROP / "label_client.mjs"


@pytest.mark.slow
@pytest.mark.parametrize("runtime", SERVED_RUNTIMES)
def test_grpc_js_client_gets_in_process_crossencoder_scores(
    grpc_js: Path, minilm_path: Path, tmp_path: Path, runtime: str
) -> None:
    pairs = [
        {
            "id": f"pair-{i:03d}",
            "query": row["search_term"],
            "document": row["product_title"],
        }
        for i, row in enumerate(generate_catalog(products=60, queries=8)[:40])
    ]
    pairs_file = tmp_path / "pairs.json"
    pairs_file.write_text(json.dumps(pairs))
    port = free_port()
    server = serve_process(minilm_path, port, "--runtime", runtime)
    try:
        reference = subprocess.run(
            [sys.executable, "-c", REFERENCE, str(minilm_path), str(pairs_file)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        expected = np.array(json.loads(reference.stdout.strip().splitlines()[-1]))
        with TeacherClient(f"127.0.0.1:{port}", timeout=10) as client:
            wait_for(lambda: health(client) == "SERVING", timeout=180)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert "protege.v1.Teacher" in ProtoReflectionDescriptorDatabase(channel).get_services()
        run = subprocess.run(
            ["node", str(grpc_js), f"127.0.0.1:{port}", str(pairs_file)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout)
    finally:
        server.terminate()
        server.communicate(timeout=60)

    ids = [pair["id"] for pair in pairs]
    assert result["health"] == "SERVING"
    assert result["describe"]["backend"] == "cross-encoder"
    version = result["describe"]["teacher_version"]
    assert [label["id"] for label in result["label"]] == ids
    assert result["label_version"] == version
    np.testing.assert_allclose([label["score"] for label in result["label"]], expected, atol=1e-4)
    streamed = [label for response in result["stream"] for label in response["labels"]]
    assert len(result["stream"]) == 3 and all(r["teacher_version"] == version for r in result["stream"])
    assert [label["id"] for label in streamed] == ids
    np.testing.assert_allclose([label["score"] for label in streamed], expected, atol=1e-4)
