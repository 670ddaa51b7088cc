"""The README's results table, from scratch: ``protege experiment`` on Home Depot, three seeds.

    python bench/quality.py [--data FILE] [--out runs/quality] [--seeds 0,1,2] [--quick] [-- EXTRA OPTIONS]

Runs exactly the command the README shows (a subprocess, as a user would; a rerun into the
same ``--out`` reuses finished stages), with no column options: the query, product, product id
and grade columns and the encoding are read from the file, so the same command runs on any
relevance file (``--data``). Then prints one JSON line last: test NDCG@10 of the teacher, a
random order and each student (mean over seeds and half their range), the teacher labels each
student used, and whether issue 6's two claims hold on these numbers:
``filtered_beats_teacher`` and ``filtered_beats_unfiltered`` (≥ +0.01 with the same labels, or
≥ with at most half of them).
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


def claims(results: dict) -> dict:
    ndcg, labels = results["ndcg@10"], results["teacher_labels"]
    filtered, unfiltered = ndcg["student_filtered"], ndcg["student_unfiltered"]
    same_labels = labels["student_filtered"] >= labels["student_unfiltered"]
    half_labels = 2 * labels["student_filtered"] <= labels["student_unfiltered"]
    return {
        "filtered_beats_teacher": filtered > ndcg["teacher"],
        "filtered_beats_unfiltered": bool(
            (same_labels and filtered >= unfiltered + 0.01) or (half_labels and filtered >= unfiltered)
        ),
    }


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
        sys.executable, "-m", "protege", "experiment", "--data", str(args.data),
        "--out", str(args.out), "--seeds", args.seeds, *(["--quick"] if args.quick else []), *args.extra,
    ]  # fmt: skip
    log("running: " + " ".join(command))
    started = time.perf_counter()
    subprocess.run(command, check=True)
    results = json.loads((args.out / "results.json").read_text())
    emit(
        {
            "seeds": results["seeds"],
            "quick": results["quick"],
            "test_queries": results["test_queries_scored"],
            "ndcg@10": results["ndcg@10"],
            "ndcg@10_spread": results["ndcg@10_spread"],
            "paired_test_ndcg@10": results.get("paired_test_ndcg@10", {}),
            "validation_ndcg@10": results["validation_ndcg@10"],
            "teacher_labels": results["teacher_labels"],
            **claims(results),
            "seconds": round(time.perf_counter() - started, 1),
        }
    )


if __name__ == "__main__":
    main()
