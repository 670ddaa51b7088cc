"""``protege label --engine ray`` on a local Ray cluster the test starts (about 10 s here): the
labels equal the local job's row for row, with a task's worker SIGKILLed mid-shard on the way."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import capture, free_port, health, serve_process, wait_for

from protege.client import TeacherClient
from protege.client.data import Columns
from protege.client.labelling.jobs import LabelJob, finished_shards, read_labels
from protege.client.labelling.ray_engine import EngineConfig, label_on_ray

ray = pytest.importorskip("ray")


def _task_workers() -> list[int]:
    """The processes running a ``label_shards`` task now (Ray titles them by their task)."""
    listing = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in listing.splitlines() if "ray::label_shards" in line]


def test_ray_labels_equal_the_local_jobs_though_a_worker_dies_mid_shard(
    tiny_cross_encoder: Path, tmp_path: Path
) -> None:
    rows = [{"search": f"drill {i}", "title": f"drill driver kit {i}"} for i in range(1000)]
    data = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(rows), data, row_group_size=200)
    ports = [free_port(), free_port()]
    # One pair a model batch: slow enough that a task is still labelling when it is killed.
    teachers = [serve_process(tiny_cross_encoder, port, "--max-batch", "1") for port in ports]
    target = ",".join(f"127.0.0.1:{port}" for port in ports)
    columns = Columns(query="search", docs=("title",))
    settings = {"shard_size": 50, "batch_size": 10, "progress": False}
    try:
        with TeacherClient(target, timeout=10) as teacher:
            wait_for(lambda: health(teacher) == "SERVING", timeout=120)
            LabelJob(data, columns, tmp_path / "local", concurrency=2, **settings).run(teacher)
            out = tmp_path / "ray"
            job = LabelJob(data, columns, out, **settings)
            ray.init(num_cpus=2, include_dashboard=False)
            failure: list[BaseException] = []
            connect = partial(TeacherClient, timeout=10)
            engine = EngineConfig("ray", workers=2)
            driver = threading.Thread(
                target=lambda: capture(failure, lambda: label_on_ray(job, teacher, connect, engine))
            )
            driver.start()
            wait_for(lambda: out.exists() and len(finished_shards(out)) >= 2 and _task_workers(), 120)
            os.kill(_task_workers()[0], signal.SIGKILL)  # Ray runs its task again, on a new worker
            driver.join(300)
            assert not driver.is_alive() and not failure, failure
    finally:
        ray.shutdown()
        for process in teachers:
            process.kill()
            process.wait(30)
    # Each task has its fixed shards: every label there means the killed task ran again and finished.
    labels, expected = read_labels(out), read_labels(tmp_path / "local")
    assert labels["pair_id"].to_pylist() == expected["pair_id"].to_pylist() == [str(i) for i in range(1000)]
    np.testing.assert_allclose(labels["score"].to_numpy(), expected["score"].to_numpy(), atol=1e-6)
    assert not list(out.glob(".*.tmp"))
