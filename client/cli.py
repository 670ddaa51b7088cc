"""Student-side commands: ``protege health`` and ``protege describe``."""

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
