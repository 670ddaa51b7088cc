"""How a command reaches a teacher: its address, token and TLS files, as a ``TeacherClient``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from pathlib import Path

from protege.client.labelling.teacher_client import TeacherClient

DEFAULT_TEACHER = "localhost:50051"


def add_connection_arguments(parser: argparse.ArgumentParser, target: bool = True) -> None:
    """How to reach a teacher; ``target=False`` when the command declares ``--teacher`` itself."""
    if target:
        parser.add_argument(
            "--teacher", default=DEFAULT_TEACHER, help="host:port, dns:///name:port or a replica list"
        )
    parser.add_argument("--token-file", help="bearer token file")
    parser.add_argument("--tls-ca", help="CA certificate (PEM) to verify the teacher; turns TLS on")
    parser.add_argument("--tls-cert", help="client certificate (PEM) for mTLS")
    parser.add_argument("--tls-key", help="client private key (PEM) for mTLS")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per call")


def connect(args: argparse.Namespace) -> TeacherClient:
    return connector(args)(args.teacher)


def connector(args: argparse.Namespace) -> Callable[[str], TeacherClient]:
    """A picklable function from an address to a client with the command's token and TLS files
    (what a Ray task connects with)."""

    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return partial(
        TeacherClient,
        token_file=args.token_file,
        root_certificates=read(args.tls_ca),
        client_cert=read(args.tls_cert),
        client_key=read(args.tls_key),
        timeout=args.timeout,
    )
