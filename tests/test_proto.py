"""The committed stubs are exactly what the pinned grpcio-tools makes of teacher.proto."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO

from protege.v1 import SERVICE_NAME, teacher_pb2

PROTO_ROOT = REPO / "proto"


def test_committed_stubs_match_regeneration(tmp_path: Path) -> None:
    generate = [sys.executable, REPO / "scripts" / "generate_proto.py", tmp_path]
    made = subprocess.run(generate, capture_output=True, text=True, check=True)
    written = [Path(line) for line in made.stdout.split()]
    assert {path.name for path in written} == {"teacher_pb2.py", "teacher_pb2.pyi", "teacher_pb2_grpc.py"}
    for fresh in written:
        committed = PROTO_ROOT / fresh.relative_to(tmp_path)
        assert committed.exists(), f"{committed} is missing: run `make proto`"
        assert fresh.read_text() == committed.read_text(), f"{committed} is stale: run `make proto`"


def test_contract_names() -> None:
    assert SERVICE_NAME == "protege.v1.Teacher"
    service = teacher_pb2.DESCRIPTOR.services_by_name["Teacher"]
    methods = {method.name: method for method in service.methods}
    assert set(methods) == {"Describe", "Label", "LabelStream", "Refine"}
    stream = methods["LabelStream"]
    assert stream.client_streaming and stream.server_streaming
    assert not methods["Label"].client_streaming and not methods["Label"].server_streaming
    label_fields = set(teacher_pb2.Label.DESCRIPTOR.fields_by_name)
    assert {"id", "score", "class_probabilities", "cached"} <= label_fields
    for response in (teacher_pb2.LabelResponse, teacher_pb2.DescribeResponse, teacher_pb2.RefineResponse):
        assert "teacher_version" in response.DESCRIPTOR.fields_by_name
