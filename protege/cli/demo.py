"""``protege demo``: fit a teacher, serve it, have it label an augmented set, train students on
growing shares of it, print the table."""

from __future__ import annotations

import argparse
from pathlib import Path

from protege.study.settings import DEMO_QUERIES


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="fit a teacher, serve it, label an augmented set of a generated catalog, train students on it",
    )
    parser.add_argument("--out", type=Path, default=Path("demo-run"), help="folder for everything it writes")
    parser.add_argument("--queries", type=int, default=DEMO_QUERIES, help="queries in the generated catalog")
    parser.add_argument("--teacher-base", help="the teacher's backbone (default: packaged all-MiniLM-L6-v2)")
    parser.add_argument(
        "--student-base",
        help="the students' backbone (default: the teacher's cross-encoder, its first layers and head)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from protege.study import volume_results
    from protege.study.demo import run_demo

    results = run_demo(args.out, args.queries, args.teacher_base, args.student_base)
    print()
    print(volume_results.table(results))
    print(f"\nvolume curve: {results['plot']}")
    print(f"student: {results['student']} (loads with sentence_transformers.CrossEncoder)")
    return 0
