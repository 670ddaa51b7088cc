"""Shared by the benchmarks: pairs to score, a teacher process, and the JSON line."""

from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
HOMEDEPOT = REPO.parent / "shared" / "data" / "homedepot" / "train.csv"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(result: dict) -> None:
    """The benchmark's result: one JSON line, printed last."""
    print(json.dumps(result), flush=True)


def model_or_packaged(model: str | None) -> tuple[str, str]:
    """(path, name for the JSON line): ``model`` as given, else the packaged MiniLM."""
    from protege.client.models import PACKAGED_MINILM, packaged_minilm

    return (model, model) if model else (packaged_minilm(), PACKAGED_MINILM)


def load_pairs(n: int, data: Path | None = None) -> tuple[list[tuple[str, str]], str]:
    """``n`` distinct (query, product title) pairs: real Home Depot pairs when the shared data is
    beside the repository, else variations of the demo's sample pairs. Returns (pairs, source)."""
    path = data or HOMEDEPOT
    if path.exists():
        with path.open(encoding="latin-1", newline="") as file:
            rows = csv.DictReader(file)
            pairs = list(dict.fromkeys((row["search_term"], row["product_title"]) for row in rows))
        if len(pairs) >= n:
            return pairs[:n], str(path.name)
    from protege.client.data.synthetic import generate_catalog

    rows = generate_catalog(products=max(100, n // 4), queries=max(50, n // 5))
    cycle = itertools.islice(itertools.cycle(rows), n)
    pairs = [(f"{row['search_term']} {i}", row["product_title"]) for i, row in enumerate(cycle)]
    return pairs, "synthetic catalog"


class TeacherProcess:
    """``protege serve`` in a subprocess, ready (SERVING) when the ``with`` block starts."""

    def __init__(self, port: int, *args: str) -> None:
        self.target = f"127.0.0.1:{port}"
        command = [
            sys.executable,
            "-m",
            "protege",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *args,
        ]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )

    def __enter__(self) -> TeacherProcess:
        deadline = time.monotonic() + 300
        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"teacher exited with {self.process.returncode}")
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        return self
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("teacher did not become SERVING in 300 s")
                time.sleep(0.2)

    def __exit__(self, *exc_info: object) -> None:
        self.process.terminate()
        self.process.wait(60)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def experiment(description: str, out: str, *flags: str) -> tuple[dict, float]:
    """Parses a study benchmark's options (``--data``, ``--out``, ``--seeds``, ``--quick``, more
    ``protege experiment`` options after ``--``), runs ``protege experiment`` with them and ``flags``
    as a user would (a subprocess), and returns its ``results.json`` and the seconds it took."""
    import argparse

    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=HOMEDEPOT)
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("extra", nargs="*", help="more `protege experiment` options, after --")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"{args.data} not found (the default is the Home Depot file, ../shared/data/README.md)")
    command = [
        sys.executable,
        "-m",
        "protege",
        "experiment",
        "--data",
        str(args.data),
        "--out",
        str(args.out),
    ]
    command += ["--seeds", args.seeds, *flags, *(["--quick"] if args.quick else []), *args.extra]
    log("running: " + " ".join(command))
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return json.loads((args.out / "results.json").read_text()), round(time.perf_counter() - started, 1)


def study_board(results: dict, sizes):
    """A ``Board`` of a finished study's validation and test pairs (``results``: its
    results.json; ``sizes``: its ``Sizes``), split again from its settings."""
    from protege.client.data import Columns
    from protege.client.evaluation.scoreboard import Board
    from protege.study.split import load_rows, split_rows

    settings = results["settings"]
    columns = Columns(**(settings["columns"] | {"docs": tuple(settings["columns"]["docs"])}))
    data, label_range = Path(settings["data"]), tuple(settings["label_range"])
    table, _, _ = load_rows(
        data, columns, encoding="auto", label_range=label_range, max_rows=settings["max_rows"], source=data
    )
    split = split_rows(
        table, sizes.teacher_pairs, sizes.pool_pairs, sizes.test_queries, results["seeds"][0], data
    )
    return Board(split.judged("validation", label_range), split.judged("test", label_range))


def add_kept_scores(board, run: Path) -> None:
    """The study in ``run``'s teacher, zero-shot and mean-grade baseline on ``board``, from the scores
    it kept (nothing is scored again)."""
    baselines = run / "baselines"
    kept_by = {
        "teacher": run / "teacher",
        "zero_shot": baselines / "zero_shot",
        "mean_grade": baselines / "mean_grade",
    }
    for name, kept in kept_by.items():
        board.add(name, kept, lambda evaluation, kept=kept: _not_kept(kept))


def _not_kept(folder: Path) -> None:
    raise SystemExit(f"{folder} holds no scores of this split: is the run a finished volume study?")
