"""The loss lever at volume: a finished volume study's student retrained on the same teacher labels
with other losses, judged on validation (where a choice is made) and on test.

    python bench/volume_loss.py --run runs/volume [--volume 11700] [--losses bce,mse] [--seed 0]

Reads the study's settings (data, columns, sizes, student shape), rebuilds its split, and takes its
labelled pair set and its student of ``--volume`` for ``--seed`` (trained with the study's loss).
Trains one student per other loss on the same rows, for the same epochs, into RUN/loss-lever/, and
prints one JSON line last: per loss, validation Spearman, NDCG@10 and RMSE (its grade map fitted on
those same pairs: in-sample, alike for every loss), test RMSE and NDCG@10, and on test, paired,
each loss minus the study's loss, the teacher and zero-shot (their scores as the study kept them).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq

from protege.client.evaluation.metrics import GradeMap, yardstick
from protege.client.evaluation.scoreboard import Board
from protege.study.settings import Sizes
from protege.study.students import Shape, study_student
from protege.study.volume import volume_rows, with_labels

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import add_kept_scores, emit, log, study_board


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--run", type=Path, required=True, help="a finished `protege experiment --volumes` folder"
    )
    parser.add_argument("--volume", type=int, default=11_700)
    parser.add_argument("--losses", default="bce,mse")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    results = json.loads((args.run / "results.json").read_text())
    sizes = Sizes(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in results["settings"]["sizes"].items()}
    )
    board = study_board(results, sizes)
    folder = args.run / "volume"
    rows = volume_rows(with_labels(pq.read_table(folder / "pairs.parquet"), folder), args.volume, args.seed)
    shape = Shape(**results["student_shape"])
    students = {shape.loss: folder / f"seed-{args.seed}" / f"volume-{args.volume}"}
    for loss in args.losses.split(","):
        path = args.run / "loss-lever" / f"seed-{args.seed}-volume-{args.volume}-{loss}"
        log(f"training a {loss} student on {rows.num_rows} labels into {path}")
        epochs = sizes.student_epochs(args.volume)
        study_student(path, rows, rows["score"].to_numpy(), replace(shape, loss=loss), args.seed, epochs)
        students[loss] = path
    figures = {loss: judged(board, loss, path, shape) for loss, path in students.items()}
    add_kept_scores(board, args.run)
    paired = {
        f"{loss} - {other}": board.paired(loss, other)
        for loss in students
        for other in (shape.loss, "teacher", "zero_shot")
        if loss != other
    }
    emit(
        {
            "benchmark": "volume_loss",
            "run": str(args.run),
            "volume": args.volume,
            "labels": rows.num_rows,
            "seed": args.seed,
            "study_loss": shape.loss,
            "losses": figures,
            "paired": paired,
        }
    )


def judged(board: Board, name: str, path: Path, shape: Shape) -> dict:
    """A student's validation figures (where a loss is chosen) and test figures."""
    board.add(name, path, shape.scorer(path))
    validation, scores = board.evaluations["validation"], board.runs[name][0]["validation"]
    chosen_by = yardstick(validation.queries, validation.gold, scores, GradeMap(scores, validation.gold))
    test = board.figures(name)
    return {
        "validation": {key: chosen_by[key] for key in ("spearman", "ndcg@10", "rmse")},
        "test": {key: test[key] for key in ("rmse", "spearman", "ndcg@10")},
    }


if __name__ == "__main__":
    main()
