"""Labelling on Ray: a ``LabelJob``'s shards spread over Ray tasks, for jobs one process cannot
label fast enough (``pip install 'protege[ray]'``).

Each task labels a fixed list of shards through one teacher replica (task ``w`` of a replica list
``a,b,c`` talks to replica ``w mod 3``, so a retry meets that replica's label cache), reading one
stretch of the input, and writes each shard's file as the local job does. A label is a pure function of
teacher version and texts, and a task skips the shards whose files exist, so Ray's at-least-once
retries of a task whose worker died give exactly one label per pair. The driver claims the job's
folder, waits, and writes the manifest once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from protege.client.data.pairs import read_pair_blocks
from protege.client.labelling.jobs import LabelJob, finished_shards, shard_path, write_shard

if TYPE_CHECKING:
    import pyarrow as pa

    from protege.client.labelling.teacher_client import TeacherClient

logger = logging.getLogger(__name__)

ENGINES = ("local", "ray")
# Labelling waits on the teacher, not the CPU: a task holds a quarter of one, so N workers fit on
# a small node, and tasks never wait for CPUs held by one another (2 on 2 CPUs can deadlock).
TASK_CPUS = 0.25
# A task whose worker died (killed, out of memory, node lost) runs again, skipping finished shards.
TASK_RETRIES = 4


@dataclass(frozen=True)
class EngineConfig:
    """Where a label job runs: in this process (its threads), or on a Ray cluster.

    Example::

        EngineConfig(engine="ray", address="auto", workers=16)
    """

    engine: str = field(
        default="local",
        metadata={"help": "local: this process's threads; ray: Ray tasks (pip install 'protege[ray]')",
                  "choices": ENGINES},
    )  # fmt: skip
    address: str | None = field(
        default=None,
        metadata={"help": "Ray cluster to join (auto: the one this node is in; default: a new one)"},
    )
    workers: int = field(default=4, metadata={"help": "Ray tasks labelling at once (streams to the teacher)"})


def label_on_ray(
    job: LabelJob, teacher: TeacherClient, connect: Callable[[str], TeacherClient], engine: EngineConfig
) -> dict:
    """Labels every pair of ``job`` not labelled yet on Ray; returns the job summary.

    Args:
        job: the job; its folder, input and shard size, as the local engine runs it.
        teacher: the driver's client: its target (an address, or a comma-separated replica list,
            spread over the tasks) is what the tasks call.
        connect: a picklable function from a teacher address to a ``TeacherClient`` (the token and
            TLS files ride in it, e.g. ``functools.partial(TeacherClient, token_file="token")``).
        engine: the cluster's address and the number of tasks.

    Example::

        with TeacherClient("10.0.0.1:50051,10.0.0.2:50051") as teacher:
            summary = label_on_ray(job, teacher, TeacherClient, EngineConfig("ray", workers=8))
    """
    import ray

    # Workers started by `ray start` run elsewhere: they get the folders as absolute paths (which
    # every node must see: shared storage).
    job = replace(job, data=job.data.resolve(), out=job.out.resolve())
    version, target = job.prepare(teacher), teacher.target
    shards, mine, _ = job.plan()
    done = finished_shards(job.out)
    todo = [index for index in mine if index not in done]
    replicas = target.split(",") if "," in target else [target]
    if not ray.is_initialized():
        ray.init(address=engine.address, include_dashboard=False, logging_level=logging.WARNING)
    task = ray.remote(num_cpus=TASK_CPUS, max_retries=TASK_RETRIES)(label_shards)
    started = time.perf_counter()
    workers = max(1, min(engine.workers, len(todo)))
    # Each task a contiguous run of shards: it reads one stretch of the input.
    runs = [run.tolist() for run in np.array_split(np.array(todo, dtype=np.int64), workers) if len(run)]
    running = [
        task.remote(job, connect, replicas[worker % len(replicas)], run, version)
        for worker, run in enumerate(runs)
    ]
    labelled = 0
    with tqdm(
        total=shards, initial=len(done), unit="shard", desc="labelling", disable=not job.progress
    ) as bar:
        try:
            while running:
                finished, running = ray.wait(running, num_returns=len(running), timeout=2.0)
                labelled += sum(ray.get(finished))
                bar.update(len(list(job.out.glob("labels-*.parquet"))) - bar.n)
        except Exception:
            for left in running:  # a task refused (a teacher's refusal): the others stop too
                ray.cancel(left)
            raise
    return job.finish(shards, labelled, time.perf_counter() - started)


def label_shards(
    job: LabelJob, connect: Callable[[str], TeacherClient], target: str, shards: list[int], version: str
) -> int:
    """One Ray task: ``shards`` of ``job`` labelled through the teacher at ``target``, but those
    already written (by this task before a retry); returns the pairs it labelled."""
    todo = {index for index in shards if not shard_path(job.out, index).exists()}
    labelled = 0

    def finish(index: int, table: pa.Table, skipped: int) -> None:
        nonlocal labelled
        write_shard(job.out, index, table, skipped)
        labelled += table.num_rows

    with connect(target) as client:
        blocks = read_pair_blocks(job.data, job.columns, job.shard_size, encoding=job.encoding, blocks=todo)
        for index, shard, skipped in blocks:
            job.label_shard(client, index, shard, skipped, version, finish)
    logger.info("labelled %d pairs of %d shards through %s", labelled, len(todo), target)
    return labelled


__all__ = ["ENGINES", "EngineConfig", "label_on_ray", "label_shards"]
