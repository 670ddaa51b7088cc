"""``protege serve``: run a teacher service."""

from __future__ import annotations

import argparse
import logging
import os

from .backends import BACKEND_KINDS
from .validation import Limits


def add_parser(subparsers: argparse._SubParsersAction) -> None:
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
    parser.add_argument("--token-file", help="require 'authorization: Bearer <token>'; one token per line")
    parser.add_argument("--tls-cert", help="server certificate (PEM); turns TLS on")
    parser.add_argument("--tls-key", help="server private key (PEM)")
    parser.add_argument("--tls-client-ca", help="CA that client certificates must chain to (mTLS)")
    parser.add_argument("--no-reflection", action="store_true", help="do not serve gRPC server reflection")
    parser.add_argument("--cache", help="SQLite label cache ('none': memory only; default ~/.cache/protege)")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds to drain calls on SIGTERM")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, … (default: cuda when present)")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on GPU), float32, bfloat16 or float16")
    parser.add_argument("--max-length", type=int, help="token limit per pair (default: the model's)")
    parser.add_argument("--labels", default="no,yes", help="llm-judge: answer labels, least relevant first")
    parser.add_argument("--teacher-id", help="name reported by Describe (default: backend:model)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .app import ServeConfig, default_cache_path, serve

    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    options: dict[str, object] = {"device": args.device, "dtype": args.dtype}
    if args.max_length is not None:
        options["max_length"] = args.max_length
    if args.backend == "llm-judge":
        options["labels"] = tuple(label.strip() for label in args.labels.split(",") if label.strip())
    cache = None if args.cache == "none" else (args.cache or str(default_cache_path()))
    config = ServeConfig(
        backend=args.backend,
        model=args.model,
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        stream_window=args.stream_window,
        limits=Limits(
            max_pairs_per_request=args.max_pairs,
            max_text_chars=args.max_text_chars,
            max_message_bytes=int(args.max_message_mb * 1024 * 1024),
        ),
        token_file=args.token_file,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        reflection=not args.no_reflection,
        cache=cache,
        grace_s=args.grace,
        teacher_id=args.teacher_id,
        backend_options=options,
    )
    serve(config)
    return 0
