"""Labelling jobs: every pair of a large input labelled by the teacher exactly once.

The input is cut into shards of ``shard_size`` pairs in input order. Each shard is labelled
over one ``LabelStream`` and written as parquet through a temporary file and a rename, then
recorded in ``manifest.json`` (also replaced atomically). ``out`` is a ``Stage``: its
``settings.json`` holds the input's identity and the teacher version, and a job started again with
the same ``out`` and settings skips recorded shards, so a killed job or teacher loses at most the
shards in flight, and no label is written twice; other settings are refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from protege.client.data import Columns, ReadStats, count_rows, read_pairs, resolve_encoding
from protege.client.data.outputs import MANIFEST
from protege.client.labelling.teacher_client import Pair, TeacherClient, TeacherError
from protege.common.files import OutputError, write_json_atomic, write_parquet_atomic
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
    shard_size: int = field(default=1000, metadata={"help": "pairs per shard (the unit of resume)"})
    concurrency: int = field(default=4, metadata={"help": "shards labelled at once (streams)"})
    batch_size: int = field(default=256, metadata={"help": "pairs per stream message"})
    window: int = field(default=8, metadata={"help": "unanswered stream messages at most"})
    retry_seconds: float = field(
        default=300.0, metadata={"help": "how long to retry an unreachable teacher before giving up"}
    )
    progress: bool = field(default=True, metadata={"help": "a progress bar"})

    def run(self, client: TeacherClient) -> dict:
        """Labels every pair not labelled yet; returns the job summary (also in the manifest)."""
        version = self._teacher_version(client)  # before ``out`` exists: a teacher down leaves nothing
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            message = f"cannot create {self.out}: {error.strerror}; choose a writable output folder"
            raise OutputError(error.errno, message) from error
        manifest = self._claim(version)
        done: dict[str, dict] = manifest["shards"]
        total = count_rows(self.data, self.encoding)
        stats = ReadStats()
        started = time.perf_counter()
        labelled = 0
        lock = threading.Lock()
        bar = tqdm(total=total, unit="pair", desc="labelling", disable=not self.progress, smoothing=0.1)
        bar.update(sum(shard["rows"] + shard.get("skipped", 0) for shard in done.values()))

        def finish(index: int, table: pa.Table, skipped: int) -> None:
            nonlocal labelled
            name = f"labels-{index:06d}.parquet"
            write_parquet_atomic(table, self.out / name)
            with lock:
                done[str(index)] = {"file": name, "rows": table.num_rows, "skipped": skipped}
                labelled += table.num_rows
                write_json_atomic(self.out / MANIFEST, manifest)

        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="protege-label") as pool:
            running: set[Future] = set()
            for index, shard, skipped in self._shards(stats):
                if str(index) in done and (self.out / done[str(index)]["file"]).exists():
                    continue
                while len(running) >= self.concurrency:
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    _raise_first(finished, pool)
                running.add(
                    pool.submit(self._label_shard, client, index, shard, skipped, version, finish, bar)
                )
            _raise_first(wait(running).done, pool)
        bar.close()
        elapsed = time.perf_counter() - started
        manifest["summary"] = {
            "pairs": sum(shard["rows"] for shard in done.values()),
            "shards": len(done),
            "labelled_now": labelled,
            "seconds": round(elapsed, 2),
            "pairs_per_s": round(labelled / elapsed, 1) if elapsed > 0 else None,
            "skipped": stats.skipped,
        }
        write_json_atomic(self.out / MANIFEST, manifest)
        return manifest["summary"]

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
        """Claims ``out`` (a ``Stage`` whose settings are the input, its reading and the teacher
        version: a rerun with others is refused) and returns its manifest: the shards done so far."""
        identity = {
            "data": str(self.data.resolve()),
            "data_fingerprint": _fingerprint(self.data),
            "columns": self.columns.as_dict(),
            # As the file is read: "auto" resumes a job recorded as "utf-8".
            "encoding": resolve_encoding(self.data, self.encoding),
            "shard_size": self.shard_size,
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
        manifest = self.out / MANIFEST
        return json.loads(manifest.read_text()) if manifest.exists() else {"shards": {}}

    def _shards(self, stats: ReadStats) -> Iterator[tuple[int, pa.Table, int]]:
        """(index, pairs, rows skipped) per shard of ``shard_size`` pairs, in input order."""
        pending: list[pa.Table] = []
        rows = 0
        index = 0
        skipped_before = 0
        for chunk in read_pairs(self.data, self.columns, encoding=self.encoding, stats=stats):
            pending.append(chunk)
            rows += chunk.num_rows
            while rows >= self.shard_size:
                table = pa.concat_tables(pending)
                skipped = sum(stats.skipped.values()) - skipped_before
                skipped_before += skipped
                yield index, table.slice(0, self.shard_size), skipped
                pending, rows, index = [table.slice(self.shard_size)], rows - self.shard_size, index + 1
        if rows:
            yield index, pa.concat_tables(pending), sum(stats.skipped.values()) - skipped_before

    def _label_shard(
        self,
        client: TeacherClient,
        index: int,
        shard: pa.Table,
        skipped: int,
        version: str,
        finish: Callable[[int, pa.Table, int], None],
        bar: tqdm,
    ) -> None:
        ids = shard["pair_id"].to_pylist()
        pairs = [
            Pair(*row)
            for row in zip(ids, shard["query"].to_pylist(), shard["document"].to_pylist(), strict=True)
        ]
        delay, last_success = 0.5, time.monotonic()
        while True:
            shown = 0
            try:
                labels = []
                for label in client.label_stream(pairs, batch_size=self.batch_size, window=self.window):
                    labels.append(label)
                    if len(labels) - shown >= 32:
                        bar.update(len(labels) - shown)
                        shown = len(labels)
                break
            except TeacherError as error:
                bar.update(-shown)
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
        bar.update(len(labels) - shown + skipped)
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
    """All labels of a job folder, in input order.

    Example::

        table = read_labels("labels/")
        table.to_pandas()[["query", "document", "score"]]
    """
    out = Path(out)
    manifest = json.loads((out / MANIFEST).read_text())
    shards = sorted(manifest["shards"].items(), key=lambda item: int(item[0]))
    return pa.concat_tables([pq.read_table(out / shard["file"]) for _, shard in shards])


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


__all__ = ["JobError", "LabelJob", "OutputError", "read_labels"]
