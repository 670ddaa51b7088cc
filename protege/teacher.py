"""``protege teacher fit``: fine-tune a teacher on gold grades (soft targets in 0..1), the
first step of the distillation; ``protege serve`` then serves the folder it writes."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger("protege")

# Per backend: (batch size, tokens per pair) when not given.
BACKEND_DEFAULTS = {"cross-encoder": (32, 128), "ensemble": (32, 128), "llm-judge": (16, 256)}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from protege.client.student_cli import add_training_data_arguments

    teacher = subparsers.add_parser("teacher", help="teacher commands: fit")
    commands = teacher.add_subparsers(dest="teacher_command", required=True, metavar="COMMAND")
    fit = commands.add_parser(
        "fit",
        help="fine-tune a teacher on gold grades",
        description="Fine-tunes a cross-encoder (soft BCE on the grade), an ensemble (a cross-encoder and "
        "a bi-encoder fitted on four fifths of the gold queries and the zero-shot bi-encoder, blended on the "
        "last fifth) or a causal LM as an llm-judge (its answer labels' expected grade matches the grade) on "
        "gold grades mapped to 0..1, and writes a folder that `protege serve --backend BACKEND --model OUT` "
        "serves.",
    )
    add_training_data_arguments(fit, "label", "the gold grade (default: label)")
    fit.add_argument("--backend", choices=tuple(BACKEND_DEFAULTS), default="cross-encoder")
    fit.add_argument(
        "--base",
        help="model to start from (cross-encoder and ensemble: a sentence-embedding checkpoint, default the "
        "packaged all-MiniLM-L6-v2; llm-judge: a causal LM folder, hub id or .gguf file, required)",
    )
    fit.add_argument("--labels", default="no,yes", help="llm-judge: answer labels, least relevant first")
    fit.add_argument("--out", required=True, type=Path, help="folder for the teacher")
    fit.add_argument("--epochs", type=float, default=1.0)
    fit.add_argument("--batch-size", type=int, help="pairs per step (default: 32, llm-judge 16)")
    fit.add_argument("--learning-rate", type=float, default=5e-5)
    fit.add_argument("--max-length", type=int, help="tokens per pair (default: 128, llm-judge 256)")
    fit.add_argument("--seed", type=int, default=0)
    fit.set_defaults(run=run_fit)


def run_fit(args: argparse.Namespace) -> int:
    from protege.client.student_cli import training_table
    from protege.client.training import data_hash, normalise_grades

    if args.backend == "llm-judge" and not args.base:
        raise ValueError("--backend llm-judge needs --base: a causal LM folder, hub id or .gguf file")
    table = training_table(args)
    if not table.num_rows:
        raise ValueError(f"{args.data} has no graded pairs")
    queries, documents = table["query"].to_pylist(), table["document"].to_pylist()
    targets = normalise_grades(table["label"].to_numpy(zero_copy_only=False), args.label_range)
    batch_size, max_length = BACKEND_DEFAULTS[args.backend]
    options = {
        "base": args.base,
        "out": args.out,
        "epochs": args.epochs,
        "batch_size": args.batch_size or batch_size,
        "learning_rate": args.learning_rate,
        "max_length": args.max_length or max_length,
        "seed": args.seed,
        "provenance": {
            "data": str(args.data),
            "data_hash": data_hash(queries, documents, targets.tolist()),
            "label": args.label_col,
            "label_range": args.label_range,
        },
    }
    log.info("fitting a %s teacher on %d gold pairs from %s", args.backend, len(queries), args.data)
    if args.backend == "llm-judge":
        from protege.server.judge_training import train_llm_judge

        labels = tuple(label.strip() for label in args.labels.split(",") if label.strip())
        train_llm_judge(queries, documents, targets, labels=labels, **options)
    elif args.backend == "ensemble":
        from protege.ensemble_teacher import fit_ensemble_teacher

        fit_ensemble_teacher(queries, documents, targets, **options)
    else:
        from protege.client.training import train_cross_encoder

        train_cross_encoder(queries, documents, targets, loss="bce", **options)
    serve = f"protege serve --backend {args.backend} --model {args.out}"
    if args.backend == "llm-judge" and args.labels != "no,yes":
        serve += f" --labels {args.labels}"
    print(json.dumps({"out": str(args.out), "pairs": len(queries), "serve": serve}))
    return 0
