"""``protege demo``: the whole loop on a generated catalog, in a few minutes on a laptop CPU.

Writes a synthetic relevance file (``protege.client.synthetic``), then runs
``protege experiment`` on it at demo size: fits a teacher on gold grades, serves it over real
gRPC on localhost, distills students, and prints the teacher-vs-student table and where the
report is. Running it again reuses every finished stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .study.settings import DEMO, Models


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="fit a teacher, serve it, distill a student on a generated catalog, write the report"
    )
    parser.add_argument("--out", type=Path, default=Path("demo-run"), help="folder for everything it writes")
    parser.add_argument("--queries", type=int, default=300, help="queries in the generated catalog")
    parser.add_argument("--teacher-base", help="the teacher's backbone (default: packaged all-MiniLM-L6-v2)")
    parser.add_argument(
        "--student-base",
        help="the students' backbone (default: the teacher's cross-encoder, its first layers and head)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from protege.client.readers import Columns
    from protege.client.synthetic import write_catalog

    from .study.results import table
    from .study.run import run_study

    data = args.out / "catalog.csv"
    if not data.exists():
        write_catalog(data, queries=args.queries, products=2 * args.queries)
    results = run_study(
        data,
        Columns(query="search_term", docs=("product_title",), doc_id="product_uid", label="relevance"),
        args.out,
        sizes=DEMO,
        models=Models(teacher_base=args.teacher_base, student_base=args.student_base),
    )
    print()
    print(table(results))
    print(f"\nlearning curves: {results['plot']}")
    student = Path(results["student"])
    print(f"student: {student} (loads with sentence_transformers.CrossEncoder)")
    print(f"distillation report: {student.parent / 'report.html'}")
    return 0
