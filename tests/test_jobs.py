"""protege label: every pair labelled once, across teacher deaths, restarts and replicas."""

from __future__ import annotations

import errno
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import capture, free_port, health, protege_process, serve_process, wait_for

from protege.cli import main
from protege.client import TeacherClient
from protege.client.data import Columns
from protege.client.labelling.jobs import JobError, LabelJob, finished_shards, read_labels

N = 600


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    rows = [
        {"search": f"cordless drill {i}", "title": f"drill driver kit {i % 37}", "uid": f"u{i % 37}"}
        for i in range(N)
    ]
    path = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


COLUMNS = Columns(query="search", docs=("title",), doc_id="uid")


def job(pairs_file: Path, out: Path, **options) -> LabelJob:
    options = {"shard_size": 50, "concurrency": 2, "batch_size": 20, "progress": False, **options}
    return LabelJob(pairs_file, COLUMNS, out, **options)


def test_labels_every_pair_once_in_order_and_resumes_as_a_no_op(
    start_teacher, cross_encoder_backend, pairs_file: Path, tmp_path: Path
) -> None:
    _, client = start_teacher(cross_encoder_backend)
    summary = job(pairs_file, tmp_path / "out").run(client)
    assert summary["pairs"] == N and summary["shards"] == N // 50 and summary["labelled_now"] == N
    labels = read_labels(tmp_path / "out")
    assert labels["pair_id"].to_pylist() == [str(i) for i in range(N)]
    assert set(labels.column_names) >= {"query", "document", "doc_id", "score", "teacher_version"}
    expected = cross_encoder_backend.score(
        labels["query"].to_pylist()[:5], labels["document"].to_pylist()[:5]
    )
    np.testing.assert_allclose(labels["score"].to_pylist()[:5], expected.scores, atol=1e-6)
    again = job(pairs_file, tmp_path / "out").run(client)
    assert again["labelled_now"] == 0 and again["pairs"] == N


def test_other_settings_in_the_same_out_are_refused(
    start_teacher, cross_encoder_backend, pairs_file: Path, tmp_path: Path
) -> None:
    _, client = start_teacher(cross_encoder_backend)
    job(pairs_file, tmp_path / "out").run(client)
    with pytest.raises(JobError, match="another input or other settings"):
        job(pairs_file, tmp_path / "out", shard_size=60).run(client)
    # The encoding is compared as the file is read: "auto" resumes a job recorded as UTF-8.
    assert job(pairs_file, tmp_path / "out", encoding="auto").run(client)["labelled_now"] == 0
    with pytest.raises(JobError, match="another input or other settings"):
        job(pairs_file, tmp_path / "out", encoding="latin-1").run(client)


def test_shards_of_unrecorded_settings_are_refused(
    start_teacher, cross_encoder_backend, pairs_file: Path, tmp_path: Path
) -> None:
    _, client = start_teacher(cross_encoder_backend)
    job(pairs_file, tmp_path / "out").run(client)
    settings = json.loads((tmp_path / "out" / "settings.json").read_text())
    assert settings["teacher_version"] == cross_encoder_backend.version and settings["shard_size"] == 50
    (tmp_path / "out" / "settings.json").unlink()
    with pytest.raises(JobError, match="label shards of unknown settings"):
        job(pairs_file, tmp_path / "out").run(client)


def test_a_new_teacher_version_is_not_mixed_in(
    start_teacher, cross_encoder_backend, tiny_graded_cross_encoder, pairs_file: Path, tmp_path: Path
) -> None:
    from protege.server.backends import load_backend

    _, client = start_teacher(cross_encoder_backend)
    job(pairs_file, tmp_path / "out").run(client)
    other = load_backend("cross-encoder", str(tiny_graded_cross_encoder), device="cpu")
    _, other_client = start_teacher(other)
    with pytest.raises(JobError, match="labels of two teacher versions are not mixed"):
        job(pairs_file, tmp_path / "out").run(other_client)


def test_round_robin_spreads_shards_over_replicas(
    start_teacher, cross_encoder_backend, pairs_file: Path, tmp_path: Path
) -> None:
    teachers = [start_teacher(cross_encoder_backend, cache=None)[0] for _ in range(3)]
    target = ",".join(f"127.0.0.1:{teacher.port}" for teacher in teachers)
    with TeacherClient(target) as client:
        job(pairs_file, tmp_path / "out", shard_size=20, concurrency=3).run(client)
    served = [teacher.server.metrics.pairs.labels("model")._value.get() for teacher in teachers]
    assert sum(served) == N
    assert min(served) >= 0.2 * N, served


def test_refusal_is_a_clear_error(
    start_teacher, cross_encoder_backend, pairs_file: Path, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("secret-1\n")
    teacher, _ = start_teacher(cross_encoder_backend, token_file=str(token))
    command = ["label", "--teacher", f"127.0.0.1:{teacher.port}", "--data", str(pairs_file)]
    command += ["--query-col", "search", "--doc-col", "title", "--out", str(tmp_path / "out")]
    run = subprocess.run(
        [sys.executable, "-m", "protege", *command], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 1
    assert "UNAUTHENTICATED" in run.stderr and "secret-1" not in run.stderr + run.stdout


def slow_teacher(model: Path, port: int, cache: Path) -> subprocess.Popen:
    """A deliberately slow teacher (one pair per model batch), so a job lasts long enough to kill."""
    return serve_process(model, port, "--cache", str(cache), "--max-batch", "1")


def many_pairs_and_a_slow_teacher(
    model: Path, tmp_path: Path, pairs: int
) -> tuple[Path, int, subprocess.Popen, TeacherClient]:
    """``pairs`` distinct pairs in a parquet file, a slow teacher serving them, and its client."""
    rows = [{"search": f"drill {i}", "title": f"drill driver kit {i}", "uid": f"u{i}"} for i in range(pairs)]
    pairs_file = tmp_path / "many.parquet"
    pq.write_table(pa.Table.from_pylist(rows), pairs_file)
    port = free_port()
    teacher = slow_teacher(model, port, tmp_path / "t.sqlite")
    return pairs_file, port, teacher, TeacherClient(f"127.0.0.1:{port}", timeout=10)


def test_teacher_killed_mid_job_loses_and_duplicates_nothing(
    tiny_cross_encoder: Path, tmp_path: Path
) -> None:
    pairs_file, port, teacher, client = many_pairs_and_a_slow_teacher(tiny_cross_encoder, tmp_path, 3000)
    try:
        wait_for(lambda: health(client) == "SERVING", timeout=120)
        reference = job(pairs_file, tmp_path / "reference").run(client)
        assert reference["pairs"] == 3000

        # Killed for good: the job gives up with its finished shards kept.
        out = tmp_path / "out"
        failure: list[BaseException] = []
        running = threading.Thread(
            target=lambda: capture(failure, lambda: job(pairs_file, out, retry_seconds=2).run(client))
        )
        running.start()
        wait_for(lambda: out.exists() and len(finished_shards(out)) >= 2, timeout=60)
        teacher.send_signal(signal.SIGKILL)
        teacher.wait(30)
        running.join(60)
        assert (
            failure and isinstance(failure[0], JobError) and "run the same command again" in str(failure[0])
        )
        kept = finished_shards(out)
        assert 2 <= len(kept) < 3000 // 50

        # Killed and back while the job retries: it carries on by itself.
        teacher = slow_teacher(tiny_cross_encoder, port, tmp_path / "t.sqlite")
        wait_for(lambda: health(client) == "SERVING", timeout=120)
        failure.clear()
        running = threading.Thread(target=lambda: capture(failure, lambda: job(pairs_file, out).run(client)))
        running.start()
        wait_for(lambda: len(finished_shards(out)) >= len(kept) + 1, timeout=60)
        teacher.send_signal(signal.SIGKILL)
        teacher.wait(30)
        time.sleep(1)
        teacher = slow_teacher(tiny_cross_encoder, port, tmp_path / "t.sqlite")
        running.join(120)
        assert not failure, failure
    finally:
        client.close()
        teacher.kill()
        teacher.wait(30)

    labels, expected = read_labels(out), read_labels(tmp_path / "reference")
    assert labels.num_rows == 3000
    assert labels["pair_id"].to_pylist() == expected["pair_id"].to_pylist()
    np.testing.assert_allclose(labels["score"].to_numpy(), expected["score"].to_numpy(), atol=1e-6)
    assert not list(out.glob(".*.tmp"))


def test_augment_then_label_keeps_origins(
    start_teacher, cross_encoder_backend, minilm_path, tmp_path: Path
) -> None:
    source = tmp_path / "seeds.csv"
    rows = [
        ("angle bracket", "Simpson Strong-Tie Galvanized Angle Bracket", "100"),
        ("white ceiling paint", "BEHR Flat White Ceiling Paint", "101"),
        ("cordless drill kit", "DEWALT 20-Volt MAX Cordless Drill/Driver Kit", "102"),
        ("deck over", "BEHR DeckOver Wood and Concrete Coating 30°", "103"),
    ]
    source.write_bytes(
        ("term,title,uid\n" + "".join(f'"{q}","{t}",{u}\n' for q, t, u in rows)).encode("latin-1")
    )
    pair_set = tmp_path / "augmented.parquet"
    augment = subprocess.run(
        [
            sys.executable,
            "-m",
            "protege",
            "augment",
            "--data",
            str(source),
            "--encoding",
            "latin-1",
            "--query-col",
            "term",
            "--doc-col",
            "title",
            "--doc-id-col",
            "uid",
            "--out",
            str(pair_set),
            "--strategies",
            "drop,reorder,typo,product",
            "--from-products",
            "2",
            "--top-k",
            "2",
            "--negatives",
            "1",
            "--embedder",
            str(minilm_path),
            "--catalog",
            str(tmp_path / "catalog"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert augment.returncode == 0, augment.stderr
    summary = json.loads(augment.stdout.strip().splitlines()[-1])
    assert summary["queries"]["seed"] == 4 and summary["pairs"] == pq.read_metadata(pair_set).num_rows
    assert (tmp_path / "catalog" / "index.faiss").exists()

    teacher, _ = start_teacher(cross_encoder_backend)
    label = subprocess.run(
        [
            sys.executable,
            "-m",
            "protege",
            "label",
            "--teacher",
            f"127.0.0.1:{teacher.port}",
            "--data",
            str(pair_set),
            "--id-col",
            "pair_id",
            "--doc-id-col",
            "doc_id",
            "--out",
            str(tmp_path / "labels"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert label.returncode == 0, label.stderr
    labels, pairs = read_labels(tmp_path / "labels"), pq.read_table(pair_set)
    assert labels["pair_id"].to_pylist() == pairs["pair_id"].to_pylist()
    for column in ("strategy", "origin_query", "retrieval", "doc_id"):
        assert labels[column].to_pylist() == pairs[column].to_pylist()
    assert {"seed", "product"} <= set(labels["strategy"].to_pylist())


def test_augment_with_teacher_refinements(start_teacher, llm_backend, minilm_path, tmp_path: Path) -> None:
    source = tmp_path / "seeds.jsonl"
    seeds = [
        ("cordless drill", "drill driver kit with battery"),
        ("ceiling paint", "flat white ceiling paint gal"),
    ]
    source.write_text("".join(json.dumps({"query": q, "document": d}) + "\n" for q, d in seeds))
    teacher, _ = start_teacher(llm_backend)
    out = tmp_path / "refined.parquet"
    augment = subprocess.run(
        [
            sys.executable,
            "-m",
            "protege",
            "augment",
            "--data",
            str(source),
            "--out",
            str(out),
            "--strategies",
            "refine",
            "--per-seed",
            "3",
            "--teacher",
            f"127.0.0.1:{teacher.port}",
            "--embedder",
            str(minilm_path),
            "--top-k",
            "1",
            "--negatives",
            "0",
            "--no-seeds",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert augment.returncode == 0, augment.stderr
    rows = pq.read_table(out).to_pylist()
    assert rows and {row["strategy"] for row in rows} == {"refine"}
    assert {row["origin_query"] for row in rows} <= {"cordless drill", "ceiling paint"}
    missing_teacher = subprocess.run(
        [
            sys.executable,
            "-m",
            "protege",
            "augment",
            "--data",
            str(source),
            "--out",
            str(out),
            "--strategies",
            "refine",
            "--embedder",
            str(minilm_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing_teacher.returncode == 2 and "needs --teacher" in missing_teacher.stderr


def test_input_the_teacher_refuses_stops_the_job_naming_the_pair(
    start_teacher, cross_encoder_backend, tmp_path: Path
) -> None:
    from protege.server.validation import Limits

    rows = [{"query": f"q{i}", "document": "short"} for i in range(30)]
    rows[17]["document"] = "long " * 40
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    teacher, _ = start_teacher(cross_encoder_backend, limits=Limits(max_text_chars=100))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "protege",
            "label",
            "--teacher",
            f"127.0.0.1:{teacher.port}",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "labels"),
            "--shard-size",
            "10",
            "--concurrency",
            "1",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "refused shard 1" in run.stderr and "(id '17'): document has 199 characters" in run.stderr
    assert sorted(finished_shards(tmp_path / "labels")) == [0]  # the shard before it is kept
    assert not (tmp_path / "labels" / "manifest.json").exists()  # written once, by a finished job


@pytest.mark.parametrize(
    ("code", "reason"), [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")]
)
def test_disk_full_or_read_only_stops_the_job_clearly_and_loses_nothing(
    code: int,
    reason: str,
    start_teacher,
    cross_encoder_backend,
    pairs_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from protege.client.labelling import jobs

    _, client = start_teacher(cross_encoder_backend)
    real_write, writes = pq.write_table, []

    def fills_up_after_four_shards(table, where, *args, **kwargs):
        writes.append(where)
        if len(writes) > 4:
            Path(where).write_bytes(b"PAR1 half a file")  # the disk filled part-way through
            raise OSError(code, reason)
        return real_write(table, where, *args, **kwargs)

    monkeypatch.setattr(jobs.pq, "write_table", fills_up_after_four_shards)
    out = tmp_path / "out"
    with pytest.raises(jobs.OutputError, match=rf"cannot write .*labels-\d+\.parquet: {reason}") as raised:
        job(pairs_file, out, concurrency=1).run(client)
    assert raised.value.errno == code and "run the same command again" in str(raised.value)
    assert not list(out.glob(".*.tmp"))  # no half-written file left behind
    kept = finished_shards(out)
    assert len(kept) == 4 and all((out / shard["file"]).exists() for shard in kept.values())
    monkeypatch.setattr(jobs.pq, "write_table", real_write)  # space freed, or remounted writable
    summary = job(pairs_file, out, concurrency=1).run(client)
    assert summary["labelled_now"] == N - 4 * 50 and summary["pairs"] == N
    assert read_labels(out)["pair_id"].to_pylist() == [str(i) for i in range(N)]


class ReachableTeacher:
    """A teacher that answers Describe (the job asks before it creates its folder)."""

    target = "stand-in"

    def describe(self) -> SimpleNamespace:
        return SimpleNamespace(teacher_version="stand-in:1")


def test_an_output_folder_that_cannot_be_created_is_named(pairs_file: Path, monkeypatch) -> None:
    from protege.client.labelling import jobs

    def refuse(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(jobs.Path, "mkdir", refuse)
    with pytest.raises(jobs.OutputError, match=r"cannot create /mnt/ro/labels: Read-only file system"):
        job(pairs_file, Path("/mnt/ro/labels")).run(ReachableTeacher())


def test_an_unreachable_teacher_is_asked_again_then_named_and_nothing_is_written(
    pairs_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The first Describe was outside the retry loop, and the job left an empty --out behind."""
    address = f"localhost:{free_port()}"
    started = time.monotonic()
    with TeacherClient(address, timeout=0.5) as client, pytest.raises(JobError) as failed:
        job(pairs_file, tmp_path / "out", retry_seconds=2).run(client)
    assert 1.5 < time.monotonic() - started < 10
    assert f"cannot reach the teacher at {address}" in str(failed.value)
    assert "nothing was written" in str(failed.value) and not (tmp_path / "out").exists()
    argv = ["label", "--teacher", address, "--data", str(pairs_file), "--query-col", "search"]
    argv += ["--doc-col", "title", "--out", str(tmp_path / "cli"), "--retry-seconds", "0", "--timeout", "0.5"]
    assert main(argv) == 1
    assert f"protege label: cannot reach the teacher at {address}" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()


def test_processes_sharing_a_job_by_index_label_each_shard_once(
    start_teacher, cross_encoder_backend, pairs_file: Path, tmp_path: Path
) -> None:
    """Process k of n labels the k-th of n runs of shards; the last to finish writes the manifest."""
    _, client = start_teacher(cross_encoder_backend)
    job(pairs_file, tmp_path / "reference").run(client)
    out = tmp_path / "out"
    first = job(pairs_file, out, shard_index=1, shard_count=3).run(client)
    assert sorted(finished_shards(out)) == [4, 5, 6, 7] and first["shards_total"] == N // 50 == 12
    assert not (out / "manifest.json").exists()
    for index in (2, 0):
        job(pairs_file, out, shard_index=index, shard_count=3).run(client)
    assert read_labels(out).equals(read_labels(tmp_path / "reference"))
    with pytest.raises(ValueError, match=r"shard_index in \[0, shard_count\), not 50, 3 and 3"):
        job(pairs_file, out, shard_index=3, shard_count=3)


def test_an_input_with_no_rows_is_refused_before_anything_is_planned(
    start_teacher, cross_encoder_backend, tmp_path: Path
) -> None:
    _, client = start_teacher(cross_encoder_backend)
    empty = tmp_path / "empty.csv"
    empty.write_text("search,title\n")
    with pytest.raises(JobError, match=r"empty\.csv: no data rows to label"):
        job(empty, tmp_path / "out").run(client)


def test_an_unfinished_job_is_not_read_as_labels(
    start_teacher, cross_encoder_backend, pairs_file: Path, tmp_path: Path
) -> None:
    _, client = start_teacher(cross_encoder_backend)
    job(pairs_file, tmp_path / "out", shard_index=0, shard_count=2).run(client)
    with pytest.raises(JobError, match="the label job has not finished"):
        read_labels(tmp_path / "out")


def test_an_indexed_process_killed_mid_job_and_run_again_loses_and_duplicates_nothing(
    tiny_cross_encoder: Path, tmp_path: Path
) -> None:
    """Two ``protege label --shard-index`` processes, as an Indexed Job's pods; one SIGKILLed
    mid-shard and started again, as the Job controller restarts a pod."""
    pairs_file, port, teacher, client = many_pairs_and_a_slow_teacher(tiny_cross_encoder, tmp_path, 1200)
    out = tmp_path / "out"

    def pod(index: int) -> subprocess.Popen:
        command = ["label", "--teacher", f"127.0.0.1:{port}", "--data", str(pairs_file), "--query-col"]
        command += ["search", "--doc-col", "title", "--doc-id-col", "uid", "--out", str(out)]
        command += ["--shard-size", "50", "--concurrency", "1", "--batch-size", "20", "--no-progress"]
        return protege_process(*command, "--shard-index", str(index), "--shard-count", "2")

    try:
        wait_for(lambda: health(client) == "SERVING", timeout=120)
        reference = job(pairs_file, tmp_path / "reference").run(client)
        pods = [pod(0), pod(1)]
        second = range(12, 24)  # pod 1's shards: the second half
        wait_for(lambda: out.exists() and any(index in second for index in finished_shards(out)), 120)
        pods[1].send_signal(signal.SIGKILL)
        pods[1].wait(30)
        assert len([index for index in finished_shards(out) if index in second]) < len(second)
        pods[1] = pod(1)
        for process in pods:
            assert process.wait(240) == 0, process.stdout.read() if process.stdout else ""
    finally:
        client.close()
        teacher.kill()
        teacher.wait(30)
    assert reference["pairs"] == 1200
    labels, expected = read_labels(out), read_labels(tmp_path / "reference")
    assert labels["pair_id"].to_pylist() == expected["pair_id"].to_pylist() == [str(i) for i in range(1200)]
    np.testing.assert_allclose(labels["score"].to_numpy(), expected["score"].to_numpy(), atol=1e-6)
    assert not list(out.glob(".*.tmp"))
