"""Health while loading, draining on shutdown, and the `protege serve` process itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import numpy as np
import pytest
from conftest import SERVED_RUNTIMES, free_port, health, protege_process, serve_process, wait_for
from sentence_transformers import CrossEncoder
from stand_ins import SlowBackend

from protege.client import Pair, TeacherClient, TeacherError
from protege.server import app
from protege.server.app import BackgroundTeacher
from protege.server.config import ServeConfig


def test_not_serving_until_the_model_is_loaded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    loaded = threading.Event()

    def slow_load(kind: str, model: str, **options: object) -> SlowBackend:
        loaded.wait(30)
        return SlowBackend()

    monkeypatch.setattr(app, "load_backend", slow_load)
    teacher = BackgroundTeacher(
        ServeConfig("cross-encoder", "slow", host="127.0.0.1", port=free_port(), metrics_port=0, cache=None)
    )
    starting = threading.Thread(target=teacher.start)
    starting.start()
    with TeacherClient(f"127.0.0.1:{teacher.server.config.port}", timeout=5) as client:
        wait_for(lambda: health(client) == "NOT_SERVING")
        with pytest.raises(TeacherError) as raised:
            client.label([Pair("1", "q", "d")])
        assert raised.value.code == grpc.StatusCode.UNAVAILABLE and "still loading" in raised.value.details
        loaded.set()
        starting.join(30)
        assert client.health() == "SERVING"
        assert client.label([Pair("1", "q", "d")])[0].score == 0.5
    teacher.stop()


def test_shutdown_drains_calls_in_progress(tmp_path: Path) -> None:
    backend = SlowBackend(delay=0.2)
    config = ServeConfig(
        "cross-encoder", "slow", host="127.0.0.1", port=0, metrics_port=0, cache=None, max_batch=4
    )
    teacher = BackgroundTeacher(config, backend).start()
    target = f"127.0.0.1:{teacher.port}"
    streamed: list[str] = []
    stream_client = TeacherClient(target, timeout=60)
    pairs = [Pair(str(i), f"q{i}", "d") for i in range(20)]
    streaming = threading.Thread(
        target=lambda: streamed.extend(x.id for x in stream_client.label_stream(pairs, batch_size=4))
    )
    streaming.start()
    wait_for(lambda: teacher.server.tracker.inflight == 1)
    stopping = threading.Thread(target=teacher.stop)
    stopping.start()
    with TeacherClient(target, timeout=5) as client:
        wait_for(lambda: health(client) == "NOT_SERVING", timeout=5)
        with pytest.raises(TeacherError) as raised:
            client.label([Pair("late", "q", "d")])
        assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    streaming.join(30)
    stopping.join(30)
    assert streamed == [pair.id for pair in pairs]
    stream_client.close()


@pytest.mark.parametrize("runtime", SERVED_RUNTIMES)
def test_serve_process_drains_on_sigterm(tiny_cross_encoder: Path, tmp_path: Path, runtime: str) -> None:
    port = free_port()
    # Room to drain 3,000 pairs even on a loaded 2-core machine; the default 30 s was seen too short.
    flags = [
        "--runtime",
        runtime,
        "--cache",
        str(tmp_path / "c.sqlite"),
        "--max-batch",
        "2",
        "--grace",
        "300",
    ]
    server = serve_process(tiny_cross_encoder, port, *flags)
    try:
        with TeacherClient(f"127.0.0.1:{port}", timeout=60) as client:
            wait_for(lambda: health(client) == "SERVING", timeout=120)
            check = subprocess.run(
                [sys.executable, "-m", "protege", "health", "--teacher", f"127.0.0.1:{port}"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert check.returncode == 0 and check.stdout.strip() == "SERVING"
            pairs = [Pair(str(i), f"cordless drill {i}", "drill driver kit " * 20) for i in range(3000)]
            labels = client.label_stream(pairs, batch_size=100, window=2)
            first = next(labels)
            server.send_signal(signal.SIGTERM)
            rest = list(labels)
        assert [first.id, *(label.id for label in rest)] == [pair.id for pair in pairs]
        output, _ = server.communicate(timeout=120)
        assert server.returncode == 0, output
        assert "draining 1 call(s)" in output and "stopped" in output
    finally:
        server.kill()


def test_serve_reports_a_model_that_does_not_load(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    server = protege_process(
        "serve", "--backend", "cross-encoder", "--model", str(missing), "--port", "0", "--metrics-port", "0"
    )
    output, _ = server.communicate(timeout=120)
    assert server.returncode == 2
    assert str(missing) in output.splitlines()[-1]


def test_health_command_fails_when_nothing_listens() -> None:
    check = subprocess.run(
        [sys.executable, "-m", "protege", "health", "--teacher", f"127.0.0.1:{free_port()}", "--timeout=2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 1 and "UNAVAILABLE" in check.stderr


def test_health_loads_no_model_library() -> None:
    # A container's health probe has a few seconds: `protege health` must not wait on torch.
    code = (
        "import sys; from protege.cli import main; "
        f"code = main(['health', '--teacher', '127.0.0.1:{free_port()}', '--timeout=1']); "
        "print(sorted({'torch', 'transformers', 'sentence_transformers', 'pyarrow'} & set(sys.modules)))"
    )
    check = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "[]", check.stderr


def test_the_cli_keeps_grpc_quiet_when_a_process_forks_beside_a_call() -> None:
    # A study exports students (which forks) while its teacher is served in process: gRPC's core
    # logged a line per fork ("skipping fork() handlers"), hundreds a run.
    code = f"""
import os, threading
from concurrent import futures
from protege.cli import main

main(["health", "--teacher", "127.0.0.1:{free_port()}", "--timeout=1"])
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

server = grpc.server(futures.ThreadPoolExecutor(2))
health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
port = server.add_insecure_port("127.0.0.1:0")
server.start()
stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{{port}}"))
done = threading.Event()

def call():
    while not done.is_set():
        stub.Check(health_pb2.HealthCheckRequest())

calls = threading.Thread(target=call)
calls.start()
done.wait(0.5)
for _ in range(10):  # a fork while a call is in flight: most of them
    if (child := os.fork()) == 0:
        os._exit(0)
    os.waitpid(child, 0)
done.set()
calls.join()
server.stop(0)
"""
    env = {key: value for key, value in os.environ.items() if key != "GRPC_VERBOSITY"}
    check = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert check.returncode == 0, check.stderr
    assert "UNAVAILABLE" in check.stderr and "fork" not in check.stderr, check.stderr


def test_describe_command_prints_json(start_teacher, served_backend) -> None:
    import json

    teacher, _ = start_teacher(served_backend)
    described = subprocess.run(
        [sys.executable, "-m", "protege", "describe", "--teacher", f"127.0.0.1:{teacher.port}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert described.returncode == 0, described.stderr
    info = json.loads(described.stdout)
    assert info["teacherVersion"] == served_backend.version and info["backend"] == "cross-encoder"


def test_demo_runs_the_whole_loop_and_its_student_loads(tiny_encoder: Path, tmp_path: Path) -> None:
    """``protege demo`` with tiny backbones (the real run uses MiniLM: see the README's timing): the
    volume study's table, its curve and a student that loads."""
    out = tmp_path / "demo"
    command = [
        sys.executable,
        "-m",
        "protege",
        "demo",
        "--out",
        str(out),
        "--queries",
        "60",
        "--teacher-base",
        str(tiny_encoder),
        "--student-base",
        str(tiny_encoder),
    ]
    demo = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    # The table printed is the results written: each model's row carries its test RMSE.
    table = demo.stdout[demo.stdout.index("model ") :].split("\n\n")[0].splitlines()[1:]
    rows = {line.split()[0]: line.split() for line in table}
    for name in ("mean_grade", "zero_shot", "teacher", "student_gold", "quarter_selected", "quarter_random"):
        assert rows[name][1] == f"{results['models'][name]['rmse']:.4f}", name
    # The teacher labelled the augmented set over gRPC; students trained on growing shares of it.
    labels = results["pairs"]["labels"]
    volumes = [point["volume"] for point in results["curve"]]
    assert volumes == sorted(set(volumes)) and len(volumes) >= 3 and volumes[-1] <= labels
    assert {"labels_seed", "labels_product"} <= results["pairs"].keys()
    student = Path(results["student"])
    assert student.name == f"volume-{volumes[-1]}"
    trained = json.loads((student / "provenance.json").read_text())["training_pairs"]
    assert volumes[-2] < trained <= labels
    assert results["quarter"]["kept"] == round(results["quarter"]["from_labels"] / 4)
    assert np.isfinite(
        CrossEncoder(str(student), device="cpu").predict([("cordless drill", "DEWALT drill")])
    ).all()
    assert (out / "volume_curve.png").exists() and "volume curve:" in demo.stdout
    # Run again: every stage is found finished and reused, nothing relabelled or retrained.
    before = (student / "model.safetensors").stat().st_mtime_ns
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "results.json").read_text())["models"] == results["models"]
    assert (student / "model.safetensors").stat().st_mtime_ns == before
