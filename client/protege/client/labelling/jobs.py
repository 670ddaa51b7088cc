"""Labelling jobs: every pair of a large input labelled by the teacher exactly once.

Shard ``i`` is the input's rows ``i * shard_size`` up to the next shard's: a fixed range, whoever
labels it. Each shard is labelled over one ``LabelStream`` and written as
``labels-{i:06d}.parquet`` through a temporary file and a rename; the file is the record that the
shard is done (its rows and skipped rows ride in its metadata). ``out`` is a ``Stage``: its
``settings.json`` holds the input's identity and the teacher version, and a job started again with
the same ``out`` and settings skips the shards whose files exist, so a killed job or teacher loses
at most the shards in flight, and no label is written twice; other settings are refused. A label is
a pure function of teacher version and texts, so a shard labelled twice (a retry) writes the same
file. ``manifest.json`` is written once, by whoever finds every shard done.

Several processes share one job by ``shard_index``/``shard_count``: process ``k`` of ``n`` labels
the ``k``-th of ``n`` contiguous runs of shards (a Kubernetes Indexed Job's completion index).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from protege.client.data import Columns, count_rows, resolve_encoding
from protege.client.data.outputs import ACCEPTED, MANIFEST
from protege.client.data.pairs import read_pair_blocks
from protege.client.labelling.teacher_client import Pair, TeacherClient, TeacherError
from protege.common.files import OutputError, write_json_atomic, write_parquet_atomic
from protege.common.setting_names import SettingError
from protege.common.stage import SETTINGS, Stage

logger = logging.getLogger(__name__)

RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}


class JobError(RuntimeError):
    """A job that cannot go on; shards already written stay valid."""


@dataclass
class LabelJob:
    """One labelling job: every pair of ``data`` labelled once into parquet shards in ``out``;
    the same job run again resumes where it stopped.

    Args:
        data: a CSV, TSV, JSON lines or parquet file (or a folder of them) of pairs.
        columns: which columns hold the query, the document and the pair's id.
        out: the job's folder: ``labels-N.parquet`` shards and ``manifest.json``.
        encoding: the text encoding of a CSV or TSV.
        shard_size, concurrency, batch_size, window, retry_seconds, progress: see their fields
            (``protege label --help`` shows each with its default).

    Example::

        job = LabelJob(Path("pairs.parquet"), Columns(), Path("labels/"), shard_size=1000)
        summary = job.run(TeacherClient("dns:///teacher:50051"))
    """

    data: Path
    columns: Columns
    out: Path
    encoding: str = "utf-8"
    shard_size: int = field(default=1000, metadata={"help": "input rows per shard (the unit of resume)"})
    concurrency: int = field(default=4, metadata={"help": "shards labelled at once (streams)"})
    batch_size: int = field(default=256, metadata={"help": "pairs per stream message"})
    window: int = field(default=8, metadata={"help": "unanswered stream messages at most"})
    retry_seconds: float = field(
        default=300.0, metadata={"help": "how long to retry an unreachable teacher before giving up"}
    )
    progress: bool = field(default=True, metadata={"help": "a progress bar"})
    shard_index: int = field(
        default=0, metadata={"help": "this process labels the index-th of shard-count equal runs of shards"}
    )
    shard_count: int = field(
        default=1, metadata={"help": "processes sharing the job (a Kubernetes Indexed Job's completions)"}
    )

    def __post_init__(self) -> None:
        if self.shard_size < 1 or not 0 <= self.shard_index < self.shard_count:
            raise SettingError(
                "{shard_size} is at least 1 and {shard_index} in [0, {shard_count}), not "
                f"{self.shard_size}, {self.shard_index} and {self.shard_count}",
                "shard_size",
                "shard_index",
                "shard_count",
            )

    def run(self, client: TeacherClient) -> dict:
        """Labels every pair of this process's shards not labelled yet; returns the job summary
        (also in the manifest, once every shard is done)."""
        version = self.prepare(client)
        shards, mine, rows = self.plan()
        done = finished_shards(self.out)
        todo = {index for index in mine if index not in done}
        started, labelled, lock = time.perf_counter(), 0, threading.Lock()
        bar = tqdm(
            total=min(mine.stop * self.shard_size, rows) - mine.start * self.shard_size,
            unit="pair",
            desc="labelling",
            disable=not self.progress,
            smoothing=0.1,
        )
        bar.update(sum(done[index]["rows"] + done[index]["skipped"] for index in mine if index in done))

        def finish(index: int, table: pa.Table, skipped: int) -> None:
            nonlocal labelled
            write_shard(self.out, index, table, skipped)
            with lock:
                labelled += table.num_rows
                bar.update(table.num_rows + skipped)

        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="protege-label") as pool:
            running: set[Future] = set()
            blocks = read_pair_blocks(
                self.data, self.columns, self.shard_size, encoding=self.encoding, blocks=todo
            )
            for index, shard, skipped in blocks:
                while len(running) >= self.concurrency:
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    _raise_first(finished, pool)
                running.add(pool.submit(self.label_shard, client, index, shard, skipped, version, finish))
            _raise_first(wait(running).done, pool)
        bar.close()
        return self.finish(shards, labelled, time.perf_counter() - started)

    def plan(self) -> tuple[int, range, int]:
        """The shards the input makes, this process's (the ``shard_index``-th of ``shard_count``
        contiguous runs of them, so a process reads one stretch of the input) and the input's rows."""
        rows = count_rows(self.data, self.encoding)
        if not rows:
            raise JobError(f"{self.data}: no data rows to label")
        shards = math.ceil(rows / self.shard_size)
        share = math.ceil(shards / self.shard_count)
        return shards, range(self.shard_index * share, min(shards, (self.shard_index + 1) * share)), rows

    def prepare(self, client: TeacherClient) -> str:
        """The teacher's version, once ``out`` is claimed for this input and teacher."""
        version = self._teacher_version(client)  # before ``out`` exists: a teacher down leaves nothing
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            message = f"cannot create {self.out}: {error.strerror}; choose a writable output folder"
            raise OutputError(error.errno, message) from error
        self._claim(version)
        return version

    def finish(self, shards: int, labelled: int, seconds: float) -> dict:
        """The summary of this run; with every shard done, the manifest written (once: a later
        writer writes the same shards)."""
        done = finished_shards(self.out)
        summary = {
            "pairs": sum(shard["rows"] for shard in done.values()),
            "shards": len(done),
            "shards_total": shards,
            "labelled_now": labelled,
            "seconds": round(seconds, 2),
            "pairs_per_s": round(labelled / seconds, 1) if seconds > 0 else None,
            "skipped": sum(shard["skipped"] for shard in done.values()),
        }
        if set(range(shards)) <= done.keys():
            manifest = {"shards": {str(index): done[index] for index in sorted(done)}, "summary": summary}
            write_json_atomic(self.out / MANIFEST, manifest)
        else:
            logger.info(
                "%d of %d shards done in %s; the last to finish writes the manifest",
                len(done),
                shards,
                self.out,
            )
        return summary

    def _teacher_version(self, client: TeacherClient) -> str:
        """The teacher's version, asked again while it is unreachable, for ``retry_seconds``."""
        delay, started = 0.5, time.monotonic()
        while True:
            try:
                return client.describe().teacher_version
            except TeacherError as error:
                if error.code not in RETRYABLE:
                    raise JobError(f"the teacher at {client.target} refused Describe: {error}") from None
                if time.monotonic() - started + delay > self.retry_seconds:
                    raise JobError(
                        f"cannot reach the teacher at {client.target} (tried for "
                        f"{time.monotonic() - started:.0f} s of the {self.retry_seconds:g} s allowed): "
                        f"{error}; nothing was written"
                    ) from None
                logger.warning("teacher %s: %s; asking again in %.1f s", client.target, error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _claim(self, version: str) -> dict:
        """Claims ``out``: a ``Stage`` whose settings are the input, its reading and the teacher
        version (a rerun with others is refused)."""
        identity = {
            "data": str(self.data.resolve()),
            "data_fingerprint": _fingerprint(self.data),
            "columns": self.columns.as_dict(),
            # As the file is read: "auto" resumes a job recorded as "utf-8".
            "encoding": resolve_encoding(self.data, self.encoding),
            "shard_size": self.shard_size,
            "shard": "input rows",  # shard i: rows i * shard_size onwards (pairs, before 2026-12-08)
        }
        stage = Stage(self.out, settings=identity | {"teacher_version": version})
        differ = stage.differing()
        if "teacher_version" in differ:
            recorded = json.loads((self.out / SETTINGS).read_text())["teacher_version"]
            raise JobError(
                f"{self.out} holds labels of teacher version {recorded}, but the teacher now reports "
                f"{version}; labels of two teacher versions are not mixed: use a new output folder"
            )
        if differ:
            raise JobError(
                f"{self.out} holds labels of another input or other settings ({', '.join(differ)}; see "
                f"{self.out / SETTINGS}); use a new output folder, or the same data, columns, encoding and "
                "shard size"
            )
        if not (self.out / SETTINGS).exists() and any(self.out.glob("labels-*.parquet")):
            raise JobError(
                f"{self.out} holds label shards of unknown settings (no {SETTINGS}); use a new output folder"
            )
        stage.claim()  # claims `out` for this input and teacher at once

    def label_shard(
        self,
        client: TeacherClient,
        index: int,
        shard: pa.Table,
        skipped: int,
        version: str,
        finish: Callable[[int, pa.Table, int], None],
    ) -> None:
        """The teacher's labels of ``shard`` (shard ``index``), retried while the teacher is
        unreachable, handed to ``finish``."""
        ids = shard["pair_id"].to_pylist()
        pairs = [
            Pair(*row)
            for row in zip(ids, shard["query"].to_pylist(), shard["document"].to_pylist(), strict=True)
        ]
        delay, last_success, labels = 0.5, time.monotonic(), []
        while pairs:
            try:
                labels = list(client.label_stream(pairs, batch_size=self.batch_size, window=self.window))
                break
            except TeacherError as error:
                if error.code not in RETRYABLE:
                    raise JobError(f"the teacher refused shard {index}: {error}") from None
                if time.monotonic() - last_success > self.retry_seconds:
                    raise JobError(
                        f"the teacher has been unreachable for {self.retry_seconds:.0f} s ({error}); "
                        f"finished shards are kept in {self.out}: run the same command again"
                    ) from None
                logger.warning("shard %d: %s; retrying in %.1f s", index, error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        if [label.id for label in labels] != ids:
            raise JobError(f"shard {index}: the teacher answered other pair ids than were sent")
        mixed = {label.teacher_version for label in labels} - {version}
        if mixed:
            raise JobError(
                f"shard {index}: the teacher version changed from {version} to {', '.join(mixed)} "
                "during the job; labels of two teacher versions are not mixed: use a new output folder"
            )
        table = shard.append_column("score", pa.array([label.score for label in labels], pa.float64()))
        table = table.append_column(
            "class_probabilities",
            pa.array([list(label.class_probabilities) for label in labels], pa.list_(pa.float64())),
        )
        table = table.append_column("teacher_version", pa.array([version] * len(labels), pa.string()))
        finish(index, table, skipped)


def label_table(teacher: TeacherClient, pairs: pa.Table, source: Path, out: Path, **settings) -> pa.Table:
    """The teacher's labels of every pair of ``pairs`` (``pair_id``, ``query``, ``document``,
    ``doc_id``), in their order: ``pairs`` written to ``source`` once, then labelled into ``out`` by a
    resumable ``LabelJob`` with ``settings`` — the one labelling step of distill and the study.

    Example::

        labels = label_table(teacher, pool, Path("run/pool.parquet"), Path("run/pool-labels"))
    """
    if not source.exists():
        source.parent.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(pairs, source)
    LabelJob(source, Columns(pair_id="pair_id", doc_id="doc_id"), out, **settings).run(teacher)
    return read_labels(out)


def read_labels(out: str | Path) -> pa.Table:
    """All labels of a finished job folder, in input order.

    Example::

        table = read_labels("labels/")
        table.to_pandas()[["query", "document", "score"]]
    """
    return pa.concat_tables([pq.read_table(path) for path in label_files(out)])


def label_files(out: str | Path) -> list[Path]:
    """The shard files of a finished job folder, in input order."""
    out = Path(out)
    if not (out / MANIFEST).exists():
        raise JobError(f"{out}: the label job has not finished (no {MANIFEST}); run it again to finish it")
    manifest = json.loads((out / MANIFEST).read_text())
    shards = sorted(manifest["shards"].items(), key=lambda item: int(item[0]))
    return [out / shard["file"] for _, shard in shards]


def pair_files(folder: str | Path) -> list[Path]:
    """The parquet files of a ``protege filter`` folder (its accepted pairs) or of a finished
    ``protege label`` folder (its shards, in input order)."""
    accepted = Path(folder) / ACCEPTED
    return [accepted] if accepted.exists() else label_files(folder)


SHARD_METADATA = b"protege.shard"


def write_shard(out: Path, index: int, table: pa.Table, skipped: int) -> None:
    """Shard ``index``'s labels, with its counts in the file's metadata: the record that it is done."""
    counts = {"index": index, "rows": table.num_rows, "skipped": skipped}
    metadata = (table.schema.metadata or {}) | {SHARD_METADATA: json.dumps(counts).encode()}
    write_parquet_atomic(table.replace_schema_metadata(metadata), shard_path(out, index))


def shard_path(out: Path, index: int) -> Path:
    """Where shard ``index``'s labels are written."""
    return out / f"labels-{index:06d}.parquet"


def finished_shards(out: Path) -> dict[int, dict]:
    """The shards whose files are in ``out``: index → file, rows and rows skipped."""
    done = {}
    for path in out.glob("labels-*.parquet"):
        metadata = pq.read_schema(path).metadata or {}
        if SHARD_METADATA not in metadata:
            raise JobError(f"{path} is no shard of this job (no shard counts in it); use a new output folder")
        counts = json.loads(metadata[SHARD_METADATA])
        done[counts["index"]] = {"file": path.name, "rows": counts["rows"], "skipped": counts["skipped"]}
    return done


def _raise_first(futures: set[Future], pool: ThreadPoolExecutor) -> None:
    for future in futures:
        error = future.exception()
        if error is not None:
            pool.shutdown(wait=True, cancel_futures=True)
            raise error


def _fingerprint(path: Path) -> str:
    """Size plus hashes of the first and last MiB: cheap, and changes when the data does."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as file:
        digest.update(file.read(1 << 20))
        file.seek(max(0, size - (1 << 20)))
        digest.update(file.read(1 << 20))
    return digest.hexdigest()[:32]


__all__ = [
    "JobError",
    "LabelJob",
    "OutputError",
    "finished_shards",
    "read_labels",
    "shard_path",
    "write_shard",
]
