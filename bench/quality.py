"""The README's study, from scratch: ``protege experiment`` on Home Depot, three seeds.

    python bench/quality.py [--data FILE] [--out runs/quality] [--seeds 0,1,2] [--quick] [-- EXTRA OPTIONS]

Runs exactly the command the README shows (a subprocess, as a user would; a rerun into the
same ``--out`` reuses finished stages), with no column options: the query, product, product id
and grade columns and the encoding are read from the file, so the same command runs on any
relevance file (``--data``; columns as flags after ``--`` where a file's names are not the usual
ones). Then prints one JSON line last: each model's test RMSE, Spearman and NDCG@10 beside the
baselines (the mean grade, a random order, the zero-shot bi-encoder), the paired differences,
the learning curves, the labels each selection needs to reach the unfiltered plateau, the pairs/s
of teacher and student, and issue 30's goals, each true or false.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import HOMEDEPOT, emit, log


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=HOMEDEPOT)
    parser.add_argument("--out", type=Path, default=Path("runs/quality"))
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
        "--seeds",
        args.seeds,
        *(["--quick"] if args.quick else []),
        *args.extra,
    ]
    log("running: " + " ".join(command))
    started = time.perf_counter()
    subprocess.run(command, check=True)
    results = json.loads((args.out / "results.json").read_text())
    figures = ("rmse", "spearman", "ndcg@10", "teacher_labels", "pairs_per_second")
    emit(
        {
            "data": results["data"],
            "seeds": results["seeds"],
            "quick": results["quick"],
            "split_pairs": results["split_pairs"],
            "test_queries": results["test_queries_scored"],
            "models": {
                name: {key: values.get(key) for key in figures} | {"rmse_spread": values["spread"]["rmse"]}
                for name, values in results["models"].items()
            },
            "paired": results["paired"],
            "curve": [
                {key: point[key] for key in ("arm", "selection", "labels", "rmse", "rmse_spread", "ndcg@10")}
                for point in results["curve"]
            ],
            "labels_to_plateau": results["labels_to_plateau"],
            "speed": results["speed"],
            "student_shape": results["student_shape"],
            **results["goals"],
            "seconds": round(time.perf_counter() - started, 1),
        }
    )


if __name__ == "__main__":
    main()
