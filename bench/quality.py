"""The distillation study, from scratch: ``protege experiment`` on Home Depot, three seeds.

    python bench/quality.py [--data FILE] [--out runs/quality] [--seeds 0,1,2] [--quick] [-- EXTRA OPTIONS]

Runs ``protege experiment --runtime openvino`` as a user would (a subprocess; a rerun into the
same ``--out`` reuses finished stages): OpenVINO runs the teacher's cross-encoder and scores the
students (``make test`` installs it; else ``pip install -e '.[openvino]'``), level with torch in
quality (docs/study.md). No column options: the query, product, product id
and grade columns and the encoding are read from the file, so the same command runs on any
relevance file (``--data``; columns as flags after ``--`` where a file's names are not the usual
ones). Then prints one JSON line last: each model's test RMSE, Spearman and NDCG@10 beside the
baselines (the mean grade, a random order, the zero-shot bi-encoder), the paired differences,
the learning curves, the labels each selection needs to reach the unfiltered plateau, the pairs/s
of teacher and student, and issue 30's goals, each true or false.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import emit, experiment


def main() -> None:
    results, seconds = experiment(__doc__, "runs/quality", "--runtime", "openvino")
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
            "seconds": seconds,
        }
    )


if __name__ == "__main__":
    main()
