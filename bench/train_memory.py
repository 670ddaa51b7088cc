"""What training costs in memory as the labels grow: peak resident memory of ``protege train`` on
label folders of 100,000 to 1,000,000 teacher labels.

    python bench/train_memory.py [--labels 100000,300000,1000000] [--steps 100]

Each size is a finished label job's folder (shards of 50,000 labels, a manifest), of synthetic
queries with 8 products each, so every label is learned from (group-margin-mse, the default loss).
``protege train`` runs in a subprocess on the tests' tiny random cross-encoder (2 layers, 32 wide:
the model's own memory is small beside the data's) for ``--steps`` optimizer steps, and its
``/proc`` status is read every 50 ms:

* ``anon_mb``: peak anonymous memory (``RssAnon``), what the process holds itself; with the labels
  read, not loaded, it should not grow with them beyond their scores and order (8 bytes each);
* ``file_mb``: peak file-backed pages (``RssFile``): the memory-mapped labels and rows, which the
  kernel drops under pressure and shares between the processes of a torchrun;
* ``anon_bytes_per_label``: the slope of ``anon_mb`` from the smallest size to the largest.

One JSON line last.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import REPO, emit, log

sys.path.insert(0, str(REPO / "tests"))
from tiny_models import make_tiny_bert

from protege.client.labelling.jobs import MANIFEST, finished_shards, write_shard
from protege.common.files import write_json_atomic

SHARD = 50_000
PRODUCTS_PER_QUERY = 8
WORDS = (
    "drill cordless saw blade paint white interior bulb led faucet kitchen hose garden mower bracket".split()
)


def label_folder(folder: Path, labels: int) -> Path:
    """A finished label job's folder of ``labels`` synthetic labels."""
    rng = np.random.default_rng(labels)
    folder.mkdir(parents=True)
    for index, start in enumerate(range(0, labels, SHARD)):
        rows = np.arange(start, min(start + SHARD, labels))
        words = rng.integers(len(WORDS), size=(len(rows), 6))
        queries = [
            f"{WORDS[a]} {WORDS[b]} {row // PRODUCTS_PER_QUERY}"
            for row, (a, b, *_) in zip(rows, words, strict=True)
        ]
        documents = [
            " ".join(WORDS[w] for w in ws) + f" model {row}" for row, ws in zip(rows, words, strict=True)
        ]
        table = pa.table(
            {
                "query": queries,
                "document": documents,
                "score": rng.random(len(rows)),
                "teacher_version": ["synthetic"] * len(rows),
            }
        )
        write_shard(folder, index, table, 0)
    done = finished_shards(folder)
    write_json_atomic(folder / MANIFEST, {"shards": {str(i): done[i] for i in sorted(done)}, "summary": {}})
    return folder


def peak_memory(command: list[str]) -> dict:
    """Peak anonymous and file-backed resident memory of ``command``, in MB, and its seconds."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks = {"RssAnon": 0, "RssFile": 0, "VmRSS": 0}
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text().splitlines()
        except FileNotFoundError:
            break
        for line in status:
            key, _, value = line.partition(":")
            if key in peaks:
                peaks[key] = max(peaks[key], int(value.split()[0]))
        time.sleep(0.05)
    _, errors = process.communicate()
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{errors[-3000:]}")
    return {
        "anon_mb": round(peaks["RssAnon"] / 1024, 1),
        "file_mb": round(peaks["RssFile"] / 1024, 1),
        "rss_mb": round(peaks["VmRSS"] / 1024, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--labels", default="100000,300000,1000000", help="label counts, comma-separated")
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps each run trains")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.labels.split(","))
    batch = 64
    with tempfile.TemporaryDirectory(prefix="protege-train-memory-") as scratch:
        scratch = Path(scratch)
        model = make_tiny_bert(scratch / "tiny-ce")
        os.environ["HF_DATASETS_CACHE"] = str(scratch / "datasets-cache")  # the labels' Arrow copies
        found = {}
        for labels in sizes:
            folder = label_folder(scratch / f"labels-{labels}", labels)
            epochs = args.steps * batch / labels
            command = [sys.executable, "-m", "protege", "train", "--data", str(folder)]
            command += ["--out", str(scratch / f"student-{labels}"), "--base", str(model)]
            command += ["--batch-size", str(batch), "--epochs", f"{epochs:.6f}"]
            found[labels] = peak_memory(command)
            log(f"{labels} labels: {found[labels]}")
    smallest, largest = found[sizes[0]], found[sizes[-1]]
    slope = (largest["anon_mb"] - smallest["anon_mb"]) * 2**20 / max(1, sizes[-1] - sizes[0])
    emit(
        {
            "benchmark": "train_memory",
            "steps": args.steps,
            "batch_size": batch,
            "peaks": {str(labels): figures for labels, figures in found.items()},
            "anon_bytes_per_label": round(slope, 1),
        }
    )


if __name__ == "__main__":
    main()
