"""In-process inference under each runtime: pairs/s and what the runtime changes in quality.

    python bench/inference.py [--pairs 1024] [--batch 32] [--fit-pairs 8000] [--minilm DIR] [--student DIR]

Two models, each under torch fp32, ONNX Runtime fp32, ONNX Runtime int8 (dynamic) and OpenVINO
(where ``protege[openvino]`` is installed), exported by ``protege export``'s code: the packaged
all-MiniLM-L6-v2 as a cross-encoder (the usual teacher size) and a 2-layer student of it. Without
``--minilm``/``--student`` both are fitted first on ``--fit-pairs`` teacher-train gold pairs of Home
Depot (one epoch, soft BCE), so that their scores mean something. Speed: the same ``--pairs``
real test pairs, batch ``--batch``, every runtime timed in turn twice (the best of each). Quality:
the yardstick of ``../shared/data/README.md`` on the test buckets (RMSE by a grade map fitted on
the validation pairs, NDCG@10), and each runtime's paired difference from torch's.

Prints one JSON line last: per model and runtime pairs/s, speed-up over torch, RMSE, NDCG@10 and
the paired changes; ``int8_speedup`` and ``int8_rmse_change``/``int8_ndcg_change`` of the MiniLM
(issue 32: at least 2x, at most 0.003 each).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HOMEDEPOT, emit, log

from protege.client.data import Columns
from protege.client.evaluation.scoreboard import Board
from protege.client.export import ExportSpec, export_student
from protege.client.training.config import TrainingConfig
from protege.client.training.trainer import train_cross_encoder
from protege.common.runtimes import load_cross_encoder
from protege.study.split import load_rows, split_rows

COLUMNS = Columns(query="search_term", docs=("product_title",), doc_id="product_uid", label="relevance")
# (name, runtime, export): what each model runs under.
RUNTIMES = [("torch", "torch", None), ("onnx", "onnx", "onnx"), ("onnx-int8", "onnx", "onnx-int8")]
if find_spec("openvino"):
    RUNTIMES.append(("openvino", "openvino", "openvino"))


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=1024, help="test pairs timed")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--fit-pairs", type=int, default=8000, help="gold pairs the two models are fitted on")
    parser.add_argument("--minilm", type=Path, help="a fitted 6-layer cross-encoder (default: fit one)")
    parser.add_argument("--student", type=Path, help="a fitted small student (default: 2 layers of --minilm)")
    parser.add_argument("--data", type=Path, default=HOMEDEPOT)
    return parser.parse_args()


def fitted(split, work: Path, args: argparse.Namespace) -> dict[str, Path]:
    """The two models: as given, or fitted on teacher-train gold (the student from the MiniLM's layers)."""
    queries, documents = split.teacher["query"].to_pylist(), split.teacher["document"].to_pylist()
    targets = split.teacher["label"].to_numpy(zero_copy_only=False)
    minilm = args.minilm
    if minilm is None:
        log(f"fitting MiniLM as a cross-encoder on {len(queries)} gold pairs")
        minilm = work / "minilm"
        train_cross_encoder(queries, documents, targets, TrainingConfig(progress=False), out=minilm)
    student = args.student
    if student is None:
        log("fitting its first 2 layers as a student on the same pairs")
        student = work / "student-2"
        config = TrainingConfig(base=str(minilm), layers=2, learning_rate=1e-4, progress=False)
        train_cross_encoder(queries, documents, targets, config, out=student)
    return {"minilm": minilm, "student-2": student}


def pairs_per_second(model, pairs: list[tuple[str, str]], batch: int) -> float:
    started = time.perf_counter()
    model.predict(pairs, batch_size=batch, show_progress_bar=False)
    return len(pairs) / (time.perf_counter() - started)


def measure(folder: Path, work: Path, split, grades, args: argparse.Namespace) -> dict[str, dict]:
    """One model under every runtime: speed, then the yardstick and the change from torch."""
    models = {}
    for name, runtime, export in RUNTIMES:
        path = (
            folder
            if export is None
            else export_student(folder, work / f"{folder.name}-{name}", ExportSpec.parse(export))
        )
        models[name] = load_cross_encoder(path, runtime)
    validation, test = split.judged("validation", grades), split.judged("test", grades)
    timed = list(zip(test.queries[: args.pairs], test.documents[: args.pairs], strict=True))
    rates: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():
        model.predict(timed[:64], batch_size=args.batch, show_progress_bar=False)  # warm-up
    for _ in range(2):
        for name, model in models.items():
            rates[name].append(pairs_per_second(model, timed, args.batch))
    board = Board(validation, test)
    for name, model in models.items():
        log(f"{folder.name} under {name}: {max(rates[name]):.0f} pairs/s; scoring the yardstick's pairs")
        scores = [
            model.predict(
                list(zip(e.queries, e.documents, strict=True)), batch_size=64, show_progress_bar=False
            )
            for e in (validation, test)
        ]
        board.add_scores(name, *scores)
    results = {}
    for name in models:
        figures = board.figures(name)
        result = {"pairs_per_second": round(max(rates[name]), 1)}
        result["speedup"] = round(max(rates[name]) / max(rates["torch"]), 2)
        result |= {"rmse": round(figures["rmse"], 4), "ndcg@10": round(figures["ndcg@10"], 4)}
        if name != "torch":
            paired = board.paired(name, "torch")
            result["rmse_change"] = _rounded(paired["rmse"])
            result["ndcg_change"] = _rounded(paired["ndcg@10"])
        results[name] = result
    return results


def _rounded(difference: dict) -> dict:
    return {
        "difference": round(difference["difference"], 4),
        "interval95": [round(v, 4) for v in difference["interval95"]],
    }


def main() -> None:
    args = arguments()
    if not args.data.exists():
        sys.exit(f"{args.data} not found (the Home Depot file, ../shared/data/README.md)")
    table, grades, _ = load_rows(
        args.data, COLUMNS, encoding="latin-1", label_range=None, max_rows=None, source=args.data
    )
    # The study's split with a 10,000-pair pool, for about 2,000 validation pairs to fit the grade maps on.
    split = split_rows(table, args.fit_pairs, 10_000, None, 0, args.data)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        results = {
            name: measure(path, work, split, grades, args) for name, path in fitted(split, work, args).items()
        }
    int8 = results["minilm"]["onnx-int8"]
    emit(
        {
            "benchmark": "inference",
            "pairs": args.pairs,
            "batch": args.batch,
            "test_pairs": split.test.num_rows,
            "validation_pairs": split.validation.num_rows,
            "fit_pairs": split.teacher.num_rows if args.minilm is None else None,
            "models": results,
            "int8_speedup": int8["speedup"],
            "int8_rmse_change": int8["rmse_change"]["difference"],
            "int8_ndcg_change": int8["ndcg_change"]["difference"],
        }
    )


if __name__ == "__main__":
    main()
