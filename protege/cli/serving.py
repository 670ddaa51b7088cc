"""``protege serve`` and ``teacher fit``: a teacher fitted on gold grades, and served."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from protege.client.student_training import training_rows
from protege.client.training import data_hash, normalise_grades
from protege.common.config_flags import add_flags, from_flags
from protege.common.runtimes import RUNTIMES
from protege.server.app import ServeConfig, default_cache_path, serve
from protege.server.backends import BACKEND_KINDS
from protege.server.backends.openai_compatible import EndpointConfig
from protege.server.validation import Limits
from protege.teacher_fit import RECIPES, fit_teacher, training_for

from .arguments import add_data_arguments, data_spec, label_range, names


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    _add_serve(subparsers)
    _add_teacher_fit(subparsers)


def _add_serve(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a teacher over gRPC",
        description="Serve a teacher model over gRPC (protege.v1.Teacher) with health, reflection, metrics.",
    )
    # Containers can set the teacher through the environment instead of flags.
    backend, model = os.environ.get("PROTEGE_BACKEND"), os.environ.get("PROTEGE_MODEL")
    parser.add_argument(
        "--backend",
        required=backend is None,
        default=backend,
        choices=BACKEND_KINDS,
        help="kind of teacher model",
    )
    parser.add_argument(
        "--model",
        required=model is None,
        default=model,
        help="local path or hub id of the model (a .gguf file for llm-judge); default: $PROTEGE_MODEL",
    )
    parser.add_argument("--host", default="[::]", help="address to bind (default: all interfaces)")
    parser.add_argument("--port", type=int, default=50051, help="gRPC port (0: any free port)")
    parser.add_argument("--metrics-port", type=int, default=9095, help="Prometheus /metrics port (0: off)")
    parser.add_argument("--max-batch", type=int, default=32, help="largest model batch, in pairs")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="longest wait for a batch to fill")
    parser.add_argument("--max-queue", type=int, default=16384, help="pairs queued before RESOURCE_EXHAUSTED")
    parser.add_argument(
        "--max-pairs", type=int, default=Limits.max_pairs_per_request, help="pairs per request"
    )
    parser.add_argument(
        "--max-text-chars", type=int, default=Limits.max_text_chars, help="longest query/document"
    )
    parser.add_argument("--max-message-mb", type=float, default=16, help="largest gRPC message, in MiB")
    parser.add_argument(
        "--stream-window", type=int, default=8, help="requests of one stream worked on at once"
    )
    _add_security(parser)
    parser.add_argument("--cache", help="SQLite label cache ('none': memory only; default ~/.cache/protege)")
    parser.add_argument(
        "--cache-memory-items",
        type=int,
        default=ServeConfig.memory_cache_items,
        help="labels the memory LRU holds in front of the SQLite cache (default 200,000)",
    )
    parser.add_argument("--grace", type=float, default=30.0, help="seconds to drain calls on SIGTERM")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, … (default: cuda when present)")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on GPU), float32, bfloat16 or float16")
    parser.add_argument("--max-length", type=int, help="token limit per pair (default: the model's)")
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="torch",
        help="cross-encoder: run it with torch, ONNX Runtime or OpenVINO (an exported folder, or a torch "
        "checkpoint exported once on start); pip install 'protege[onnx]' or 'protege[openvino]'",
    )
    parser.add_argument(
        "--labels",
        help="llm-judge and openai-compatible: answer labels, least relevant first "
        "(default: no,yes and 0,1,2,3)",
    )
    parser.add_argument("--teacher-id", help="name reported by Describe (default: backend:model)")
    add_flags(
        parser.add_argument_group("openai-compatible backend (--model: the name it serves)"), EndpointConfig
    )
    parser.set_defaults(run=run_serve)


def _add_security(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token-file", help="require 'authorization: Bearer <token>'; one token per line")
    parser.add_argument("--tls-cert", help="server certificate (PEM); turns TLS on")
    parser.add_argument("--tls-key", help="server private key (PEM)")
    parser.add_argument("--tls-client-ca", help="CA that client certificates must chain to (mTLS)")
    parser.add_argument("--no-reflection", action="store_true", help="do not serve gRPC server reflection")


def backend_options(args: argparse.Namespace) -> dict[str, object]:
    """What ``load_backend`` takes besides the kind and the model, from the flags."""
    labels = {"labels": names(args.labels)} if args.labels else {}
    if args.backend == "openai-compatible":
        if args.max_length is not None or args.runtime != "torch":
            raise ValueError(
                "--max-length and --runtime are for models served in the process, not an endpoint"
            )
        return {"config": from_flags(EndpointConfig, args, **labels)}
    options: dict[str, object] = {"device": args.device, "dtype": args.dtype}
    if args.max_length is not None:
        options["max_length"] = args.max_length
    if args.backend == "llm-judge":
        options |= labels
    if args.runtime != "torch":
        if args.backend != "cross-encoder":
            raise ValueError(f"--runtime {args.runtime} is for --backend cross-encoder, not {args.backend}")
        options["runtime"] = args.runtime
    return options


def run_serve(args: argparse.Namespace) -> int:
    options = backend_options(args)
    limits = Limits(
        max_pairs_per_request=args.max_pairs,
        max_text_chars=args.max_text_chars,
        max_message_bytes=int(args.max_message_mb * 1024 * 1024),
    )
    serve(
        ServeConfig(
            backend=args.backend,
            model=args.model,
            host=args.host,
            port=args.port,
            metrics_port=args.metrics_port,
            max_batch=args.max_batch,
            max_wait_ms=args.max_wait_ms,
            max_queue=args.max_queue,
            stream_window=args.stream_window,
            limits=limits,
            token_file=args.token_file,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_client_ca=args.tls_client_ca,
            reflection=not args.no_reflection,
            cache=None if args.cache == "none" else (args.cache or str(default_cache_path())),
            grace_s=args.grace,
            memory_cache_items=args.cache_memory_items,
            teacher_id=args.teacher_id,
            backend_options=options,
        )
    )
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
    fit.add_argument("--backend", choices=RECIPES, default="cross-encoder")
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
    fit.set_defaults(run=run_teacher_fit)


def run_teacher_fit(args: argparse.Namespace) -> int:
    if args.backend == "llm-judge" and not args.base:
        raise ValueError("--backend llm-judge needs --base: a causal LM folder, hub id or .gguf file")
    spec = data_spec(args, gold=True)
    rows = training_rows(spec.path, spec.columns, spec.encoding)
    if not rows.num_rows:
        raise ValueError(f"{args.data} has no graded pairs")
    queries, documents = rows["query"].to_pylist(), rows["document"].to_pylist()
    targets = normalise_grades(rows["label"].to_numpy(zero_copy_only=False), args.label_range)
    config = training_for(
        args.backend,
        base=args.base,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_length=args.max_length,
        seed=args.seed,
    )
    provenance = {
        "data": str(args.data),
        "data_hash": data_hash(queries, documents, targets.tolist()),
        "label": spec.columns.label,
        "label_range": args.label_range,
    }
    fit_teacher(
        args.backend,
        queries,
        documents,
        targets,
        args.out,
        config,
        labels=names(args.labels),
        provenance=provenance,
    )
    command = f"protege serve --backend {args.backend} --model {args.out}"
    if args.backend == "llm-judge" and args.labels != "no,yes":
        command += f" --labels {args.labels}"
    print(json.dumps({"out": str(args.out), "pairs": len(queries), "serve": command}))
    return 0
