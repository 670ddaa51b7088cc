"""The volume study, from scratch: ``protege experiment --volumes`` on Home Depot.

    python bench/volume.py [--data FILE] [--out runs/volume] [--seeds 0,1,2] [--quick] [-- EXTRA OPTIONS]

It runs the teacher's cross-encoder and the students under OpenVINO (``make test`` installs it;
else ``pip install -e '.[openvino]'``), and trains the students with BCE on the teacher's scores.

The teacher labels an augmented pair set (the pool's queries, their rewrites and queries cut from
product titles, each with its judged products, the catalog's nearest ones and random negatives);
students of the headline shape train on four log-spaced volumes of it (about 4,000 to 100,000
labels; 1,500 to 25,000 with ``--quick``), the other seeds the two smallest again; the first seed's
smallest student selects a quarter of the largest set, beside a random quarter, both trained for as
many steps as the student on all of it. Runs the command a user would (a subprocess; a rerun into
the same ``--out`` reuses every finished stage), then prints one JSON line last: the curve (labels
→ RMSE, Spearman, NDCG@10, coverage of the test queries), the teacher's, zero-shot's, mean grade's
and gold student's figures on the same test pairs, the paired differences, the quarter comparison
and issue 42's goals, each true or false.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import emit, experiment


def main() -> None:
    # OpenVINO runs the teacher's cross-encoder and scores the students (docs/study.md: the time levers);
    # BCE on the teacher's scores beat group-margin-MSE on validation at 4,000, 11,700 and 100,000
    # labels (bench/volume_loss.py; docs/study.md).
    flags = ("--volumes", "--runtime", "openvino", "--loss", "bce")
    results, seconds = experiment(__doc__, "runs/volume", *flags)
    figures = ("rmse", "spearman", "ndcg@10", "runs")
    emit(
        {
            "benchmark": "volume",
            "data": results["data"],
            "seeds": results["seeds"],
            "quick": results["quick"],
            "split_pairs": results["split_pairs"],
            "pair_set": results["pairs"],
            "models": {
                name: {key: values.get(key) for key in figures} | {"rmse_spread": values["spread"]["rmse"]}
                for name, values in results["models"].items()
            },
            "curve": results["curve"],
            "paired": results["paired"],
            "quarter": results["quarter"],
            "speed": results["speed"],
            "student_shape": results["student_shape"],
            **results["goals"],
            "seconds": seconds,
        }
    )


if __name__ == "__main__":
    main()
