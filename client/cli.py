"""Student-side commands: ``protege health``, ``describe`` and ``label``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from google.protobuf import json_format


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--teacher", default="localhost:50051", help="host:port, dns:///name:port or a replica list"
    )
    parser.add_argument("--token-file", help="bearer token file")
    parser.add_argument("--tls-ca", help="CA certificate (PEM) to verify the teacher; turns TLS on")
    parser.add_argument("--tls-cert", help="client certificate (PEM) for mTLS")
    parser.add_argument("--tls-key", help="client private key (PEM) for mTLS")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per call")


def connect(args: argparse.Namespace):
    from .teacher_client import TeacherClient

    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return TeacherClient(
        args.teacher,
        token_file=args.token_file,
        root_certificates=read(args.tls_ca),
        client_cert=read(args.tls_cert),
        client_key=read(args.tls_key),
        timeout=args.timeout,
    )


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data`` and the column mapping shared by every command that reads pairs."""
    parser.add_argument(
        "--data", required=True, type=Path, help="CSV/TSV (any encoding), JSONL or parquet file"
    )
    parser.add_argument("--query-col", default="query", help="column of the query (default: query)")
    parser.add_argument(
        "--doc-col",
        action="append",
        help="column of the document; repeat to join several (e.g. title, description); default: document",
    )
    parser.add_argument("--doc-id-col", help="column of the document id (e.g. product_uid)")
    parser.add_argument("--label-col", help="column of a gold label, kept beside the teacher's")
    parser.add_argument("--id-col", help="column of a unique pair id (default: the row number)")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of a CSV (e.g. latin-1)")


def columns_from_args(args: argparse.Namespace):
    from .readers import Columns

    return Columns(
        query=args.query_col,
        docs=tuple(args.doc_col or ["document"]),
        doc_id=args.doc_id_col,
        label=args.label_col,
        pair_id=args.id_col,
    )


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    health = subparsers.add_parser(
        "health",
        help="check a teacher's health",
        description="Exit 0 when the teacher is SERVING, 1 otherwise.",
    )
    add_connection_arguments(health)
    health.set_defaults(run=run_health)
    describe = subparsers.add_parser("describe", help="print a teacher's Describe answer as JSON")
    add_connection_arguments(describe)
    describe.set_defaults(run=run_describe)
    label = subparsers.add_parser(
        "label",
        help="label a data file with the teacher (resumable)",
        description="Label every (query, document) pair of a file with the teacher, into parquet shards. "
        "Run the same command again to resume: finished shards are kept, none is labelled twice.",
    )
    add_connection_arguments(label)
    add_data_arguments(label)
    label.add_argument(
        "--out", required=True, type=Path, help="folder for the label shards and manifest.json"
    )
    label.add_argument("--shard-size", type=int, default=1000, help="pairs per shard (the unit of resume)")
    label.add_argument("--concurrency", type=int, default=4, help="shards labelled at once (streams)")
    label.add_argument("--batch-size", type=int, default=256, help="pairs per stream message")
    label.add_argument("--window", type=int, default=8, help="unanswered stream messages at most")
    label.add_argument(
        "--retry-seconds",
        type=float,
        default=300,
        help="how long to retry an unreachable teacher before giving up",
    )
    label.add_argument("--no-progress", action="store_true", help="no progress bar")
    label.set_defaults(run=run_label)


def run_health(args: argparse.Namespace) -> int:
    def check(teacher) -> int:
        status = teacher.health()
        print(status)
        return 0 if status == "SERVING" else 1

    return _ask(args, check)


def run_describe(args: argparse.Namespace) -> int:
    def describe(teacher) -> int:
        print(json_format.MessageToJson(teacher.describe(), always_print_fields_with_no_presence=True))
        return 0

    return _ask(args, describe)


def _ask(args: argparse.Namespace, question) -> int:
    """Runs ``question(teacher)``; a refused or failed call prints the error and exits 1."""
    from .teacher_client import TeacherError

    with connect(args) as teacher:
        try:
            return question(teacher)
        except TeacherError as error:
            print(error, file=sys.stderr)
            return 1


def run_label(args: argparse.Namespace) -> int:
    import json
    import logging

    from .jobs import JobError, LabelJob

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    job = LabelJob(
        data=args.data,
        columns=columns_from_args(args),
        out=args.out,
        encoding=args.encoding,
        shard_size=args.shard_size,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        window=args.window,
        retry_seconds=args.retry_seconds,
        progress=not args.no_progress,
    )

    def label(teacher) -> int:
        try:
            summary = job.run(teacher)
        except JobError as error:
            print(f"protege label: {error}", file=sys.stderr)
            return 1
        print(json.dumps({"out": str(args.out), **summary}))
        return 0

    return _ask(args, label)
