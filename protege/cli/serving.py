"""``protege serve`` and ``teacher fit``: a teacher fitted on gold grades, and served."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from protege.common.config_flags import add_flags, comma_list, from_flags
from protege.server.backends.endpoint import EndpointConfig
from protege.server.config import ServeConfig
from protege.teacher_fitting.settings import TeacherFitConfig

from .arguments import add_data_arguments, data_spec, label_range

# Every serve flag's variable: PROTEGE_PORT, PROTEGE_MODEL, … (the Dockerfile sets some).
ENV_PREFIX = "PROTEGE_"


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    _add_serve(subparsers)
    _add_teacher_fit(subparsers)


def _add_serve(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a teacher over gRPC",
        description="Serve a teacher model over gRPC (protege.v1.Teacher) with health, reflection, metrics. "
        f"Each flag may also be set by its {ENV_PREFIX}* variable, as containers set them.",
    )
    add_flags(parser, ServeConfig, env_prefix=ENV_PREFIX)
    endpoint = parser.add_argument_group("openai-compatible backend (--model: the name the endpoint serves)")
    add_flags(endpoint, EndpointConfig, env_prefix=ENV_PREFIX)
    parser.set_defaults(run=run_serve)


def serve_config(args: argparse.Namespace) -> ServeConfig:
    """The ``ServeConfig`` the flags describe (an ``EndpointConfig`` for an openai-compatible backend)."""
    endpoint = None
    if args.backend == "openai-compatible":
        endpoint = from_flags(
            EndpointConfig, args, **({"labels": comma_list(args.labels)} if args.labels else {})
        )
    return from_flags(ServeConfig, args, endpoint=endpoint)


def run_serve(args: argparse.Namespace) -> int:
    from protege.server.app import serve

    serve(serve_config(args))
    return 0


def _add_teacher_fit(subparsers: argparse._SubParsersAction) -> None:
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
    add_data_arguments(fit)
    fit.add_argument("--label-range", type=label_range, help="LOW,HIGH of the gold grades, mapped to 0..1")
    fit.add_argument("--out", required=True, type=Path, help="folder for the teacher")
    add_flags(fit, TeacherFitConfig)
    fit.set_defaults(run=run_teacher_fit)


def run_teacher_fit(args: argparse.Namespace) -> int:
    from protege.client.data.grades import normalise_grades
    from protege.client.training.saving import data_hash
    from protege.client.training.student import training_rows
    from protege.teacher_fitting import fit_teacher

    if args.recipe == "llm-judge" and not args.base:
        raise ValueError("--backend llm-judge needs --base: a causal LM folder, hub id or .gguf file")
    fit = from_flags(TeacherFitConfig, args)
    spec = data_spec(args, gold=True)
    rows = training_rows(spec.path, spec.columns, spec.encoding)
    if not rows.num_rows:
        raise ValueError(f"{args.data} has no graded pairs")
    queries, documents = rows["query"].to_pylist(), rows["document"].to_pylist()
    targets = normalise_grades(rows["label"].to_numpy(zero_copy_only=False), args.label_range)
    provenance = {
        "data": str(args.data),
        "data_hash": data_hash(queries, documents, targets.tolist()),
        "label": spec.columns.label,
        "label_range": args.label_range,
    }
    labels = comma_list(fit.labels)
    fit_teacher(
        fit.recipe,
        queries,
        documents,
        targets,
        args.out,
        fit.training(),
        labels=labels,
        provenance=provenance,
    )
    command = f"protege serve --backend {fit.recipe} --model {args.out}"
    if fit.recipe == "llm-judge" and fit.labels != TeacherFitConfig.labels:
        command += f" --labels {fit.labels}"
    print(json.dumps({"out": str(args.out), "pairs": len(queries), "serve": command}))
    return 0
