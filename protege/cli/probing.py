"""``protege health`` and ``describe``: a running teacher asked how it is and what it is. They load
no model library, so a container's health probe answers within its timeout."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from google.protobuf import json_format

from protege.client.labelling.teacher_client import TeacherClient, TeacherError

from .connection import add_connection_arguments, connect


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
    def check(teacher: TeacherClient) -> int:
        status = teacher.health()
        print(status)
        return 0 if status == "SERVING" else 1

    return ask(args, check)


def run_describe(args: argparse.Namespace) -> int:
    def describe(teacher: TeacherClient) -> int:
        print(json_format.MessageToJson(teacher.describe(), always_print_fields_with_no_presence=True))
        return 0

    return ask(args, describe)


def ask(args: argparse.Namespace, question: Callable[[TeacherClient], int]) -> int:
    """Runs ``question(teacher)``; a refused or failed call prints the error and exits 1."""
    with connect(args) as teacher:
        try:
            return question(teacher)
        except TeacherError as error:
            print(error, file=sys.stderr)
            return 1
